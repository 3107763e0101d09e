#!/usr/bin/env node
// Entry point of the vnest command. Plain JavaScript that any Node can read, so that an old Node
// gets one clear line (exit 5, a missing tool) instead of a loader error. Then it runs the
// TypeScript source in a checkout (Node 24 strips types), or the compiled dist/ where there is no
// source: the installed npm package and the container image.
const required = 24;
const major = Number(process.versions.node.split('.')[0]);
if (!(major >= required)) {
  console.error(`vnest needs Node ${required} or newer; this is Node ${process.versions.node}. Install Node ${required} LTS and run vnest with it.`);
  process.exit(5);
}

const { existsSync } = await import('node:fs');
const source = new URL('../src/cli/main.ts', import.meta.url);
await import(existsSync(source) ? source.href : new URL('../dist/cli/main.js', import.meta.url).href);
