// The vnest command's entry point: checks the Node version first, then loads and runs the program.
// (On a Node that cannot strip types this file never runs; bin/vnest.js is the entry that says so.)
import { nodeVersionProblem, toolMissingExitCode } from './node-version.ts';

const problem = nodeVersionProblem(process.versions.node);
if (problem) {
  console.error(problem);
  process.exit(toolMissingExitCode);
}
const { run } = await import('./program.ts');
process.exitCode = await run(process.argv);
