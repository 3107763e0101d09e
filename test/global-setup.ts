// Builds (or finds) the kit once for the integration run and hands its folder to the test files.
// Teardown checks that no process started from the kit outlived the run: each would be a leak in
// some test's teardown. It ends them (by process id) and fails the run.
import { execFileSync } from 'node:child_process';
import { loadKit } from '../src/local/kit.ts';

function kitProcesses(kitDir: string): Array<{ pid: number; args: string }> {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => line.trim().match(/^(\d+)\s+(.*)$/))
    .flatMap((m) => (m && m[2]?.startsWith(`${kitDir}/bin/`) ? [{ pid: Number(m[1]), args: m[2] }] : []));
}

export default async function setup(): Promise<() => void> {
  const kit = await loadKit();
  process.env.VNEST_KIT_DIR = kit.dir;
  const before = new Set(kitProcesses(kit.dir).map((p) => p.pid));
  return () => {
    const leaked = kitProcesses(kit.dir).filter((p) => !before.has(p.pid));
    for (const p of leaked) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (leaked.length > 0) {
      throw new Error(`integration tests left ${leaked.length} process(es) running:\n${leaked.map((p) => `${p.pid} ${p.args}`).join('\n')}`);
    }
  };
}
