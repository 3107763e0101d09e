#!/usr/bin/env node
// Entry point of the vnest command: runs the compiled CLI when present (the container image),
// otherwise the TypeScript source directly (Node 24 strips types).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
await import(existsSync(compiled) ? compiled.href : new URL('../src/cli/main.ts', import.meta.url).href);
