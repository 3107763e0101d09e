// Builds (or finds) the kit once for the integration run and hands its folder to the test files.
// Teardown checks that no process this run started from the kit outlived it: each would be a leak
// in some test's teardown. It ends them (by process id) and fails the run. Processes of the kit
// that this run did not start (someone's `vnest up`, another test run) are never touched: a
// process is this run's when it carries the run's VNEST_TEST_RUN mark in its environment (every
// process the tests start inherits it) or descends from this process. Real-node traces (cgroups,
// links, mounts, slot locks) of a slot another live run holds are not this run's either.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { loadKit } from '../src/local/kit.ts';

const runMark = `VNEST_TEST_RUN=${randomUUID()}`;

function kitProcesses(kitDir: string): Array<{ pid: number; args: string }> {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => line.trim().match(/^(\d+)\s+(.*)$/))
    .flatMap((m) => (m && m[2]?.startsWith(`${kitDir}/bin/`) ? [{ pid: Number(m[1]), args: m[2] }] : []));
}

/** Whether process `pid` belongs to this run (see above); false once it is gone. */
function startedByThisRun(pid: number): boolean {
  try {
    if (readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(runMark)) return true;
    for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
      if (p === process.pid) return true;
      // The parent pid is the 4th field of stat, after the parenthesised command name.
      p = Number(readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
    }
  } catch {
    // gone, or not ours to read
  }
  return false;
}

/** What real nodes make outside their folders: cgroups, host-side veths, mounts, slot locks. */
function realNodeTraces(): string[] {
  const cgroups = existsSync('/sys/fs/cgroup')
    ? readdirSync('/sys/fs/cgroup').flatMap((h) => {
      try {
        return readdirSync(`/sys/fs/cgroup/${h}`).filter((d) => d.startsWith('vnest-node-')).map((d) => `cgroup /sys/fs/cgroup/${h}/${d}`);
      } catch {
        return [];
      }
    })
    : [];
  const links = readdirSync('/sys/class/net').filter((l) => /^vnest\d+h$/.test(l)).map((l) => `veth ${l}`);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '')
    .filter((m) => /\/vnest-node-/.test(m)).map((m) => `mount ${m}`);
  const locks = existsSync('/run/vnest/real-nodes') ? readdirSync('/run/vnest/real-nodes').map((f) => `lock /run/vnest/real-nodes/${f}`) : [];
  return [...cgroups, ...links, ...mounts, ...locks];
}

/**
 * Whether a trace belongs to a real node another run holds: its slot's lock file names a live
 * process this run did not start (someone's `vnest up --real-node`, another test run).
 */
function heldByAnotherRun(trace: string): boolean {
  const slot = /vnest-node-(\d+)(?!\w)|vnest(\d+)h|real-nodes\/(\d+)/.exec(trace)?.slice(1).find((g) => g !== undefined) ?? slotOfFolder(trace);
  if (slot === undefined) return false;
  try {
    const pid = Number(readFileSync(`/run/vnest/real-nodes/${slot}`, 'utf8').trim());
    process.kill(pid, 0);
    return !startedByThisRun(pid);
  } catch {
    return false;
  }
}

/**
 * The slot of a mount inside a real node's folder (a temporary `vnest-node-XXXXXX`, named before
 * its slot is known): the node's cleanup script names the slot's state folder.
 */
function slotOfFolder(trace: string): string | undefined {
  const root = /^mount (.*\/vnest-node-[^/]+)/.exec(trace)?.[1];
  if (!root) return undefined;
  for (const script of [`${root}/node/cleanup.sh`, `${root}/cleanup.sh`]) {
    try {
      const slot = /\/run\/vnest-node-(\d+)/.exec(readFileSync(script, 'utf8'))?.[1];
      if (slot !== undefined) return slot;
    } catch {
      // not this layout
    }
  }
  return undefined;
}

export default async function setup(): Promise<() => void> {
  const kit = await loadKit();
  process.env.VNEST_KIT_DIR = kit.dir;
  process.env.VNEST_TEST_RUN = runMark.slice('VNEST_TEST_RUN='.length);
  const before = new Set(kitProcesses(kit.dir).map((p) => p.pid));
  const tracesBefore = new Set(realNodeTraces());
  return () => {
    const traces = realNodeTraces().filter((t) => !tracesBefore.has(t) && !heldByAnotherRun(t));
    if (traces.length > 0) throw new Error(`integration tests left real-node traces behind:\n${traces.join('\n')}`);
    const leaked = kitProcesses(kit.dir).filter((p) => !before.has(p.pid) && startedByThisRun(p.pid));
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
