// The Node version vnest needs, checked before anything else loads: an older Node gets one clear
// line instead of a syntax or loader error from deep inside a dependency.
// bin/vnest.js repeats this check in plain JavaScript, since it must run on any Node.

export const requiredNodeMajor = 24;

/** Why this Node cannot run vnest, or undefined when it can. */
export function nodeVersionProblem(version: string): string | undefined {
  const major = Number(version.replace(/^v/, '').split('.')[0]);
  if (Number.isInteger(major) && major >= requiredNodeMajor) return undefined;
  return `vnest needs Node ${requiredNodeMajor} or newer; this is Node ${version.replace(/^v/, '')}. Install Node ${requiredNodeMajor} LTS and run vnest with it.`;
}

/** Exit code of a missing or too old tool (README, "exit codes"). */
export const toolMissingExitCode = 5;
