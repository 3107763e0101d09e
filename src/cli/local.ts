// `vnest up` / `vnest down`: local mode, a host cluster with one tenant and its syncer on this
// machine, left running in the background. `local-daemon` is the background process itself.
import { Command, InvalidArgumentError, Option } from 'commander';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { loadKit } from '../local/kit.ts';
import { daemonLog, defaultStateDir, down, LocalModeRunning, readState, runLocal, up } from '../local/local-mode.ts';
import { OptionsError, resolveSyncerOptions, syncerOptions } from '../syncer/options.ts';
import { validateTenantName } from '../translate/names.ts';
import { CliError, errors } from './host.ts';

// The script this process runs as (bin/vnest.js, src/cli/main.ts, or dist/cli/main.js): the
// daemon runs the same.
const entrypoint = () => process.argv[1] ?? fileURLToPath(new URL(`./main${extname(import.meta.url)}`, import.meta.url));

function tenantName(value: string): string {
  const problem = validateTenantName(value);
  if (problem) throw new InvalidArgumentError(problem);
  return value;
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 50) throw new InvalidArgumentError('must be a whole number from 1 to 50');
  return n;
}

const stateDirOption = () => new Option('--state-dir <dir>', 'where local mode keeps its state, kubeconfigs and log').default(defaultStateDir(), '~/.vnest/local, or $VNEST_LOCAL_DIR');

/** The syncer's isolation-policy options, which `up` passes on to local mode's syncer. */
const policyKeys = ['podSecurity', 'allow', 'allowFields', 'ingressClasses', 'priorityClasses', 'runtimeClasses', 'schedulers', 'tolerations', 'hostLabels', 'hostAnnotations', 'serviceTypes'];
const policySpecs = syncerOptions.filter((o) => policyKeys.includes(o.key));

/** The options `up` and the daemon it starts share. */
const localOptions = (cmd: Command): Command => {
  cmd
    .addOption(stateDirOption())
    .option('--tenant <name>', 'tenant name', tenantName, 'demo')
    .option('--nodes <n>', 'number of simulated host nodes', count, 3)
    .option('--real-node', 'run one real node instead (containerd, runc, kubelet, kube-proxy in a network namespace of its own); every tenant pod runs on it, offline; needs root', false);
  for (const spec of policySpecs) {
    const def = Array.isArray(spec.default) ? spec.default.join(',') || 'none' : String(spec.default);
    cmd.addOption(new Option(spec.flag, `syncer policy: ${spec.help} (default: ${def})`));
  }
  return cmd;
};

type LocalFlags = { stateDir: string; tenant: string; nodes: number; realNode: boolean } & Record<string, unknown>;

/** The policy flags given on the command line. */
const givenPolicy = (opts: LocalFlags): Record<string, string> =>
  Object.fromEntries(policySpecs.filter((s) => typeof opts[s.key] === 'string').map((s) => [s.key, opts[s.key] as string]));

/** The policy flags given, checked by the syncer's own rules (a mistake is a usage error, exit 2). */
function policyFlags(cmd: Command, opts: LocalFlags): Record<string, string> {
  const policy = givenPolicy(opts);
  try {
    resolveSyncerOptions({ tenant: opts.tenant, hostNamespace: `vnest-${opts.tenant}`, virtualKubeconfig: '-', ...policy }, {});
  } catch (err) {
    if (!(err instanceof OptionsError)) throw err;
    cmd.error(`error: ${err.message}`, { exitCode: 2 });
  }
  return policy;
}

/** --nodes counts simulated nodes: with --real-node there are none. */
function checkNodes(cmd: Command, opts: LocalFlags): void {
  if (opts.realNode && cmd.getOptionValueSource('nodes') === 'cli') {
    cmd.error('error: --nodes and --real-node cannot be combined: with --real-node the host has one real node and no simulated ones', { exitCode: 2 });
  }
}

export function upCommand(): Command {
  return localOptions(new Command('up'))
    .description('local mode: start a host cluster, one tenant and its syncer in the background, and print the tenant kubeconfig')
    .action(async (opts: LocalFlags, cmd: Command) => {
      checkNodes(cmd, opts);
      if (opts.realNode && process.getuid?.() !== 0) {
        cmd.error('error: --real-node needs root (it runs containerd, a kubelet and kube-proxy): run "sudo vnest up --real-node"', { exitCode: 2 });
      }
      console.error('vnest: starting local mode (the first run builds the upstream components; that takes a while) ...');
      if (!readState(opts.stateDir)) {
        // Here, not in the background daemon: a first build shows its progress and its failure
        // (no Go, no module proxy) in this terminal, and takes as long as it needs.
        await loadKit(process.env, { showProgress: true }).catch((err: unknown) => { throw errors.kitUnavailable((err as Error).message); });
      }
      const policy = policyFlags(cmd, opts);
      const state = await up({ stateDir: opts.stateDir, tenant: opts.tenant, nodes: opts.nodes, realNode: opts.realNode, policy }, entrypoint(), (line) => console.error(line))
        .catch((err: unknown) => {
          if (err instanceof LocalModeRunning) throw new CliError('LocalModeRunning', 10, err.message);
          throw err;
        });
      if (state.reused) console.log(`local mode was already running and is healthy (since ${state.startedAt})`);
      console.log(`tenant "${state.tenant}" is ready; its pods run in host namespace ${state.hostNamespace}`);
      console.log(`tenant kubeconfig: ${state.tenantKubeconfig}`);
      console.log(`host kubeconfig:   ${state.hostKubeconfig}`);
      console.log(`stop everything with: vnest down`);
      console.log(`export KUBECONFIG=${state.tenantKubeconfig}`);
    });
}

export function downCommand(): Command {
  return new Command('down')
    .description('local mode: stop everything "vnest up" started')
    .addOption(stateDirOption())
    .action(async (opts: { stateDir: string }) => {
      const stopped = await down(opts.stateDir);
      console.log(stopped ? 'local mode stopped' : 'local mode is not running; nothing to stop');
    });
}

export function localDaemonCommand(): Command {
  return localOptions(new Command('local-daemon'))
    .description('the background process of local mode (started by "vnest up")')
    .action(async (opts: LocalFlags) => {
      const logger = pino({ level: process.env.VNEST_LOG_LEVEL ?? 'info' });
      const stop = new AbortController();
      process.once('SIGTERM', () => stop.abort());
      process.once('SIGINT', () => stop.abort());
      logger.info({ log: daemonLog(opts.stateDir) }, 'local mode daemon starting');
      await runLocal({ ...opts, policy: givenPolicy(opts) }, logger, stop.signal);
    });
}
