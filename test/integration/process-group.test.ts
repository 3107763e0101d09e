// Processes started for an environment end with it: on stop(), and through the watchdog when the
// starting Node process is killed without a chance to stop them.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAlive, ProcessGroup } from '../../src/local/process.ts';
import { waitFor } from '../../src/local/wait.ts';


describe('process group', () => {
  it('stops a component and the children it spawned', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vnest-pg-'));
    const group = new ProcessGroup(dir);
    try {
      // The shell ignores SIGTERM and leaves a grandchild behind: both must still go.
      const c = group.start({ name: 'stubborn', command: 'sh', args: ['-c', "trap '' TERM; sleep 300 & echo $! > child.pid; wait"] });
      const childPid = await waitFor('grandchild pid', async () => Number((await readFile(join(dir, 'child.pid'), 'utf8')).trim()) || undefined, { timeoutMs: 5000 });
      expect(isAlive(c.pid)).toBe(true);
      await c.stop(500);
      expect(c.running).toBe(false);
      await waitFor('grandchild gone', async () => !isAlive(childPid), { timeoutMs: 5000 });
    } finally {
      await group.stopAll();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('kills components through the watchdog when their parent dies', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vnest-pg-'));
    try {
      const script = `
        import { ProcessGroup } from ${JSON.stringify(new URL('../../src/local/process.ts', import.meta.url).href)};
        const g = new ProcessGroup(${JSON.stringify(dir)});
        const c = g.start({ name: 'sleeper', command: 'sleep', args: ['300'] });
        console.log(c.pid);
        setInterval(() => {}, 1000);`;
      const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      const sleeperPid = await new Promise<number>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
      expect(isAlive(sleeperPid)).toBe(true);
      parent.kill('SIGKILL');
      await waitFor('sleeper gone after its parent was killed', async () => !isAlive(sleeperPid), { timeoutMs: 10_000 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
