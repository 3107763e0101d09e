// Starts upstream components as child processes in their own process groups, with logs in files,
// and stops them (the whole group) for sure: on stop(), and through a watchdog if this Node process
// dies without stopping them.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ComponentSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** One running component. */
export class Component {
  readonly name: string;
  readonly logFile: string;
  readonly pid: number;
  /** What it was started with (a restart starts the same). */
  readonly spec: ComponentSpec;
  private readonly child: ChildProcess;
  private exitCode: number | null = null;
  private exited: Promise<void>;

  constructor(spec: ComponentSpec, logFile: string, child: ChildProcess) {
    const name = spec.name;
    this.spec = spec;
    this.name = name;
    this.logFile = logFile;
    this.child = child;
    if (child.pid === undefined) throw new Error(`${name} did not start`);
    this.pid = child.pid;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? 128 : 1);
        resolve();
      });
    });
  }

  get running(): boolean {
    return this.exitCode === null;
  }

  /** Throws with the log's tail when the process has exited. */
  assertRunning(): void {
    if (!this.running) {
      throw new Error(`${this.name} exited with code ${this.exitCode}; last log lines:\n${tail(this.logFile, 30)}`);
    }
  }

  /** Ends the process group: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    // Until it has exited, its exit must keep this process alive (children are unref'd so they do
    // not hold a test run open; a stop with nothing else pending would otherwise never finish).
    this.child.ref();
    signalGroup(this.pid, 'SIGTERM');
    const done = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!done) {
      signalGroup(this.pid, 'SIGKILL');
      await this.exited;
    }
    // Children that left the group leader behind still die with the group.
    signalGroup(this.pid, 'SIGKILL');
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/**
 * True while a process with this id exists and has not exited: a killed process whose parent has
 * not reaped it yet (a zombie, state Z in /proc) still answers signal 0 but runs nothing.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // The state is the field after the parenthesised command name.
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return true;
  }
}

/** The last `lines` lines of a file, or a note that it cannot be read. */
export function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch (err) {
    return `(cannot read ${file}: ${(err as Error).message})`;
  }
}

/**
 * Starts components for one environment. A watchdog shell polls this process and kills every
 * group it started when this process is gone, so a crashed or killed test run leaves nothing behind.
 */
export class ProcessGroup {
  private readonly dir: string;
  private readonly groupsFile: string;
  private readonly cleanupFile: string;
  private readonly components: Component[] = [];
  private watchdog: ChildProcess | undefined;

  constructor(dir: string) {
    this.dir = dir;
    this.groupsFile = join(dir, 'process-groups');
    this.cleanupFile = join(dir, 'cleanup-scripts');
    writeFileSync(this.groupsFile, '');
    writeFileSync(this.cleanupFile, '');
  }

  /**
   * Registers a shell script the watchdog runs (with `sh`) after it has ended every group, when
   * this process died without stopping them: for what is not a process (mounts, cgroups, network
   * namespaces). Owners run the same script themselves on a normal stop.
   */
  onCleanup(script: string): void {
    this.ensureWatchdog();
    appendFileSync(this.cleanupFile, `${script}\n`);
  }

  get all(): readonly Component[] {
    return this.components;
  }

  start(spec: ComponentSpec): Component {
    this.ensureWatchdog();
    const logFile = join(this.dir, `${spec.name}.log`);
    const fd = openSync(logFile, 'a');
    try {
      const child = spawn(spec.command, spec.args, {
        cwd: spec.cwd ?? this.dir,
        env: spec.env ?? process.env,
        detached: true,
        stdio: ['ignore', fd, fd],
      });
      const component = new Component(spec, logFile, child);
      child.unref();
      appendFileSync(this.groupsFile, `${component.pid}\n`);
      this.components.push(component);
      return component;
    } finally {
      closeSync(fd);
    }
  }

  /** Stops every component, newest first, then the watchdog. */
  async stopAll(): Promise<void> {
    for (const c of [...this.components].reverse()) await c.stop();
    if (this.watchdog?.pid !== undefined) signalGroup(this.watchdog.pid, 'SIGKILL');
    this.watchdog = undefined;
  }

  /** The tails of every component's log, for a failed test's report. */
  logTails(lines = 40): string {
    return this.components.map((c) => `----- ${c.name} (${c.logFile})\n${tail(c.logFile, lines)}`).join('\n');
  }

  private ensureWatchdog(): void {
    if (this.watchdog) return;
    const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done
for g in $(cat "$0"); do kill -TERM "-$g" 2>/dev/null; done; sleep 3
for g in $(cat "$0"); do kill -KILL "-$g" 2>/dev/null; done
while read -r s; do [ -n "$s" ] && sh "$s" >>"$s.log" 2>&1; done <"$1"`;
    this.watchdog = spawn('sh', ['-c', script, this.groupsFile, this.cleanupFile], { detached: true, stdio: 'ignore' });
    this.watchdog.unref();
    writeFileSync(join(this.dir, 'watchdog-pid'), `${this.watchdog.pid}\n`);
  }
}

/**
 * The processes a ProcessGroup in `dir` started (group leaders) and its watchdog that still run:
 * while the watchdog of a dead owner ends them and runs its cleanup scripts, it reads the folder.
 */
export function processesLeftIn(dir: string): number[] {
  const pids = (file: string) => {
    try {
      return readFileSync(join(dir, file), 'utf8').split('\n').map(Number).filter((n) => Number.isInteger(n) && n > 0);
    } catch {
      return [];
    }
  };
  return [...pids('process-groups'), ...pids('watchdog-pid')].filter(isAlive);
}
