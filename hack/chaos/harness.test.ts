import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reportTable, snapshotCode, type ChaosReport } from './harness.ts';
import { noViolations } from './invariants.ts';

const repo = join(import.meta.dirname, '..', '..');

describe('the chaos run\'s copy of the syncer\'s code', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('copies src/ without tests and package.json, links node_modules, and runs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vnest-chaos-code-'));
    dirs.push(dir);
    const entry = snapshotCode(join(dir, 'code'));
    expect(entry).toBe(join(dir, 'code', 'src', 'cli', 'main.ts'));
    expect(readFileSync(join(dir, 'code', 'src', 'syncer', 'syncer.ts'), 'utf8')).toBe(readFileSync(join(repo, 'src', 'syncer', 'syncer.ts'), 'utf8'));
    expect(existsSync(join(dir, 'code', 'src', 'syncer', 'events.test.ts'))).toBe(false);
    expect(readFileSync(join(dir, 'code', 'package.json'), 'utf8')).toBe(readFileSync(join(repo, 'package.json'), 'utf8'));
    expect(lstatSync(join(dir, 'code', 'node_modules')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, 'code', 'node_modules'))).toBe(join(repo, 'node_modules'));
    // The copy is a working syncer: its imports resolve from where it is.
    expect(execFileSync(process.execPath, [entry, 'syncer', '--help'], { encoding: 'utf8' })).toContain('--host-namespace');
  });
});

describe('the chaos report table', () => {
  const report: ChaosReport = {
    seed: 7, rounds: 1, violations: noViolations(), maxConvergeSeconds: 2, convergeSeconds: [2], podsCreated: 10,
    faults: { 'host-quota': 1 }, faultsFailed: {}, workloadActions: 5, workloadFailures: 0, syncerStarts: 1, syncerExits: 0,
    proxyResets: 0, watchesExpired: 0, idleHeapMb: 40, finalHeapMb: 41, seconds: 60,
    perRound: [{ round: 1, faults: ['host-quota at 1.0 s for 5.0 s'], convergeSeconds: 2, converged: true, violations: noViolations(), idleWrites: 0 }],
  };

  it('names the faults the harness could not inject in full, and says nothing of them when there were none', () => {
    expect(reportTable(report)).not.toContain('could not inject');
    expect(reportTable({ ...report, faultsFailed: { 'host-quota': 1, 'host-apiserver-kill': 2 } }))
      .toContain('faults the harness could not inject in full: host-quota 1, host-apiserver-kill 2');
  });
});
