// Local mode: a host cluster, one tenant control plane and its syncer on this machine, run by a
// background process that `vnest up` starts and `vnest down` stops. State lives in one folder:
// state.json (daemon pid, readiness, kubeconfig paths), the daemon's log, and work-dir (the
// temporary folder that holds the clusters' data while the daemon runs).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { kubeconfigSecretName } from '../proxy/kubeconfig-export.ts';
import { resolveSyncerOptions } from '../syncer/options.ts';
import { startSyncer, type RunningSyncer } from '../syncer/run.ts';
import type { ControlPlane } from './control-plane.ts';
import { HostCluster, startVirtualControlPlane } from './host-cluster.ts';
import { buildVnestImage, canBuildVnestImage } from './image-build.ts';
import { loadKit, type Kit } from './kit.ts';
import { busyboxImage, type NodeImage } from './node-images.ts';
import { kubectlOk, runKubectl } from './kubectl.ts';
import { PortAllocator } from './ports.ts';
import { isAlive, processesLeftIn, tail } from './process.ts';
import { waitFor } from './wait.ts';

export interface LocalState {
  pid: number;
  ready: boolean;
  tenant: string;
  /** What it was started with; a later `up` asking for something else is refused. */
  options?: { nodes: number; realNode: boolean; policy: Record<string, string> };
  hostNamespace: string;
  tenantKubeconfig: string;
  hostKubeconfig: string;
  startedAt: string;
}

export interface LocalOptions {
  stateDir: string;
  tenant: string;
  nodes: number;
  /** One real node (containerd, runc, kubelet, kube-proxy) instead of simulated ones; needs root. */
  realNode?: boolean;
  /** The syncer's isolation-policy options (`allow`, `podSecurity`, ...), as their flags' values. */
  policy?: Record<string, string>;
  /** More images the real node gets (a harness's test images). */
  realNodeImages?: NodeImage[];
}

/** Why `up` does not start local mode: it already runs, with another tenant or other options. */
export class LocalModeRunning extends Error {}

export const defaultStateDir = () => process.env.VNEST_LOCAL_DIR ?? join(homedir(), '.vnest', 'local');
const stateFile = (dir: string) => join(dir, 'state.json');
export const daemonLog = (dir: string) => join(dir, 'daemon.log');
export const workDirRecord = (dir: string) => join(dir, 'work-dir');


/** The state of a running local mode, or undefined (a stale file of a dead daemon counts as none). */
export function readState(dir: string): LocalState | undefined {
  const state = readStateFile(dir);
  return state && isAlive(state.pid) ? state : undefined;
}

function readStateFile(dir: string): LocalState | undefined {
  if (!existsSync(stateFile(dir))) return undefined;
  try {
    return JSON.parse(readFileSync(stateFile(dir), 'utf8')) as LocalState;
  } catch {
    return undefined;
  }
}

/**
 * What is wrong with a running local mode, or undefined when it is healthy: the host's API and the
 * tenant's (through its front door, as a user reaches it) must both answer.
 */
export async function localModeProblem(state: LocalState, kubectl: string): Promise<string | undefined> {
  if (!state.ready) return 'it never became ready';
  const check = async (what: string, kubeconfig: string) => {
    const res = await runKubectl(kubectl, kubeconfig, ['get', '--raw', '/readyz', '--request-timeout=5s'], { timeoutMs: 10_000 })
      .catch((err: unknown) => ({ code: 1, stdout: '', stderr: (err as Error).message }));
    return res.code === 0 ? undefined : `${what} does not answer (${res.stderr.trim().split('\n').at(-1) ?? `kubectl exited ${res.code}`})`;
  };
  const problems = await Promise.all([check('the host cluster\'s API', state.hostKubeconfig), check('the tenant\'s API', state.tenantKubeconfig)]);
  return problems.filter(Boolean).join('; ') || undefined;
}

/** Runs local mode in this process until `signal` aborts; writes state.json once ready. */
export async function runLocal(opts: LocalOptions, logger: Logger, signal: AbortSignal): Promise<void> {
  await mkdir(opts.stateDir, { recursive: true });
  const kit = await loadKit();
  const ports = new PortAllocator();
  const hostNamespace = `vnest-${opts.tenant}`;
  let host: HostCluster | undefined;
  let virtual: ControlPlane | undefined;
  let syncer: RunningSyncer | undefined;
  let portForwardTarget: Server | undefined;
  // The clusters' folders go under one fresh temporary folder, named in the state dir so that the
  // next daemon removes it when this one dies without stopping them (SIGKILL, OOM, a reboot).
  const baseDir = await freshWorkDir(opts.stateDir, logger);
  try {
    logger.info('starting the host cluster and the tenant control plane');
    if (opts.realNode && process.getuid?.() !== 0) {
      throw new Error('--real-node runs containerd, a kubelet and kube-proxy, which need root: run "sudo vnest up --real-node"');
    }
    // The real node also gets the vnest image, so `vnest create` works against it offline.
    const realNodeImages = opts.realNode ? [...await vnestImageIfBuildable(kit, logger), ...opts.realNodeImages ?? []] : [];
    // Simulated pods run nothing: port-forwards to them reach this answer instead of failing.
    if (!opts.realNode) portForwardTarget = await startPortForwardTarget();
    const forwardTo = portForwardTarget ? { portForwardTarget: { address: '127.0.0.1', port: (portForwardTarget.address() as AddressInfo).port } } : {};
    [host, virtual] = await Promise.all([
      HostCluster.start({ kit, ports, baseDir, name: 'local-host', ...(opts.realNode ? { realNodes: 1, nodes: 0, realNodeImages } : { nodes: opts.nodes, ...forwardTo }) }),
      startVirtualControlPlane({ kit, ports, baseDir, name: `local-${opts.tenant}`, egress: true }),
    ]);
    const kc = (path: string, ...args: string[]) => kubectlOk(kit.bin.kubectl, path, args);
    await kc(host.kubeconfigPath, 'create', 'namespace', hostNamespace);
    await kc(host.kubeconfigPath, '-n', hostNamespace, 'create', 'service', 'clusterip', opts.tenant, '--tcp=443:8443');
    await waitFor('the default namespace\'s service account in the tenant', async () => (await kc(virtual!.kubeconfigPath, 'get', 'sa', 'default', '-o', 'name')).trim() !== '', { timeoutMs: 60_000 });
    const tenantKubeconfig = join(opts.stateDir, 'tenant.kubeconfig');
    const hostKubeconfig = join(opts.stateDir, 'host.kubeconfig');
    const controlPlaneKubeconfig = join(opts.stateDir, 'control-plane.kubeconfig');
    await copyFile(virtual.kubeconfigPath, controlPlaneKubeconfig);
    await copyFile(host.kubeconfigPath, hostKubeconfig);
    logger.info('starting the syncer and the tenant API front door');
    const port = await ports.next();
    // With a real node, pods reach the front door through the tenant's Service, as they would a
    // front door pod: it listens on this machine's end of the node's link.
    const address = opts.realNode ? await host.routeServiceHere(hostNamespace, opts.tenant, port) : '127.0.0.1';
    syncer = await startSyncer(resolveSyncerOptions({
      tenant: opts.tenant, hostNamespace, virtualKubeconfig: controlPlaneKubeconfig, hostKubeconfig,
      listenPort: port, listenAddress: address, kubeconfigServer: `https://${address}:${port}`,
      // The front door's certificates from the tenant's CA, which its kube-root-ca.crt publishes.
      tenantCaCert: virtual.caFiles.cert, tenantCaKey: virtual.caFiles.key,
      // The control plane reaches nodes, webhooks and aggregated APIs through the syncer only.
      egressSocket: virtual.egressSocket,
      // The node's busybox has the sh and sed that rewrite /etc/hosts for pods with a subdomain.
      ...(opts.realNode ? { frontDoorIp: address, hostsImage: busyboxImage } : {}),
      ...opts.policy,
    }, {}), logger.child({ component: 'syncer' }));
    // The tenant's kubeconfig is the one the syncer exported: through the front door, like a user's.
    const exported = JSON.parse(await kc(hostKubeconfig, '-n', hostNamespace, 'get', 'secret', kubeconfigSecretName(opts.tenant), '-o', 'json')) as { data: { config: string } };
    await writeFile(tenantKubeconfig, Buffer.from(exported.data.config, 'base64'), { mode: 0o600 });
    const state: LocalState = {
      pid: process.pid, ready: true, tenant: opts.tenant, options: optionsOf(opts),
      hostNamespace, tenantKubeconfig, hostKubeconfig, startedAt: new Date().toISOString(),
    };
    await writeFile(stateFile(opts.stateDir), JSON.stringify(state, null, 2));
    logger.info({ tenantKubeconfig }, 'local mode is up');
    if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  } finally {
    logger.info('stopping local mode');
    await syncer?.stop().catch((err: unknown) => logger.error({ err }, 'stopping the syncer failed'));
    const stopped = await Promise.allSettled([host?.stop(), virtual?.stop()]);
    for (const s of stopped) if (s.status === 'rejected') logger.error({ err: s.reason as Error }, 'stopping a cluster failed');
    portForwardTarget?.close();
    // A cluster that did not stop keeps its folder for the next daemon to remove.
    if (stopped.every((s) => s.status === 'fulfilled') && await removeWorkDir(baseDir, logger)) await rm(workDirRecord(opts.stateDir), { force: true });
    await rm(stateFile(opts.stateDir), { force: true });
  }
}

/** Removes the work folder an earlier daemon of this state dir left, then makes and records a new one. */
export async function freshWorkDir(stateDir: string, logger: Logger, waitMs = 30_000): Promise<string> {
  const earlier = (await readFile(workDirRecord(stateDir), 'utf8').catch(() => '')).trim();
  // Only a folder this code made is removed, whatever the record was edited to say.
  if (earlier && !(isAbsolute(earlier) && /^vnest-up-[A-Za-z0-9]{6}$/.test(basename(earlier)))) {
    logger.warn({ record: workDirRecord(stateDir), dir: earlier }, 'not removing a folder a local mode did not make');
  } else if (earlier) {
    logger.info({ dir: earlier }, 'removing the folder an earlier local mode left');
    await removeWorkDir(earlier, logger, waitMs);
  }
  const dir = await mkdtemp(join(tmpdir(), 'vnest-up-'));
  await writeFile(workDirRecord(stateDir), `${dir}\n`);
  return dir;
}

/**
 * Removes a work folder once the processes its environments started are gone (a dead daemon's
 * watchdogs are ending them, reading the folder), unless something is still mounted under it (a
 * real node's container whose teardown did not run): removing through a mount could reach files
 * outside the folder. Returns whether it removed it.
 */
async function removeWorkDir(dir: string, logger: Logger, waitMs = 30_000): Promise<boolean> {
  const environments = (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
  const left = () => environments.flatMap(processesLeftIn);
  const deadline = Date.now() + waitMs;
  while (left().length > 0 && Date.now() < deadline) await sleep(250);
  if (left().length > 0) {
    logger.warn({ dir, pids: left() }, 'leaving the folder of local mode in place: processes it started still run');
    return false;
  }
  const mountPoints = (await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')).split('\n').map((line) => line.split(' ')[4] ?? '');
  const mounted = mountPoints.filter((m) => m === dir || m.startsWith(`${dir}/`));
  if (mounted.length > 0) {
    logger.warn({ dir, mounted }, 'leaving the folder of local mode in place: something is still mounted under it (unmount it, then remove it)');
    return false;
  }
  await rm(dir, { recursive: true, force: true });
  return true;
}

const optionsOf = (opts: LocalOptions) => ({ nodes: opts.nodes, realNode: opts.realNode ?? false, policy: opts.policy ?? {} });

/**
 * Where kwok sends `kubectl port-forward` to a simulated pod: a loopback HTTP server that says what
 * it is, so a forward opens and an HTTP client gets an answer that explains itself.
 */
function startPortForwardTarget(): Promise<Server> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('vnest local mode: this pod runs on a simulated node, so nothing listens in it; port-forward reached its stand-in. Use "vnest up --real-node" to run containers.\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** The vnest image built from this checkout's Dockerfile, or none (with a warning) where there is no checkout. */
async function vnestImageIfBuildable(kit: Kit, logger: Logger): Promise<NodeImage[]> {
  if (!canBuildVnestImage()) {
    logger.warn('no Dockerfile and sources beside this vnest: the real node has no vnest image, so "vnest create" against it needs one imported');
    return [];
  }
  logger.info('building the vnest image from the Dockerfile (cached after the first time)');
  return [await buildVnestImage({ kit, log: (line) => logger.info(line) })];
}

/**
 * Starts the local-mode daemon in the background and waits until it is ready (or has failed).
 * When local mode already runs with the same tenant and options and is healthy, returns it
 * (`reused`); a dead or unhealthy one is reported through `say` and started again; another tenant
 * or other options throw LocalModeRunning.
 */
export async function up(opts: LocalOptions, entrypoint: string, say: (line: string) => void = () => undefined, timeoutMs = 600_000): Promise<LocalState & { reused?: boolean }> {
  const existing = readState(opts.stateDir);
  if (existing) {
    const stop = `stop it with "vnest down${opts.stateDir === defaultStateDir() ? '' : ` --state-dir ${opts.stateDir}`}" first, or run another with --state-dir`;
    if (existing.tenant !== opts.tenant) throw new LocalModeRunning(`local mode already runs tenant "${existing.tenant}" (state in ${opts.stateDir}); ${stop}`);
    const want = optionsOf(opts);
    if (existing.options && JSON.stringify(existing.options) !== JSON.stringify(want)) {
      throw new LocalModeRunning(`local mode already runs tenant "${existing.tenant}" with other options (${JSON.stringify(existing.options)}, asked for ${JSON.stringify(want)}); ${stop}`);
    }
    const problem = await localModeProblem(existing, (await loadKit()).bin.kubectl);
    if (!problem) return { ...existing, reused: true };
    say(`vnest: local mode (daemon pid ${existing.pid}) is running but unhealthy: ${problem}; restarting it (its log: ${daemonLog(opts.stateDir)})`);
    await down(opts.stateDir);
  } else {
    const stale = readStateFile(opts.stateDir);
    if (stale) say(`vnest: local mode had stopped (its daemon, pid ${stale.pid}, is gone; its log: ${daemonLog(opts.stateDir)}); starting it again`);
  }
  await mkdir(opts.stateDir, { recursive: true });
  await rm(stateFile(opts.stateDir), { force: true });
  const fd = openSync(daemonLog(opts.stateDir), 'a');
  const policyFlags = Object.entries(opts.policy ?? {}).map(([key, value]) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}=${value}`);
  const args = [entrypoint, 'local-daemon', `--state-dir=${opts.stateDir}`, `--tenant=${opts.tenant}`, `--nodes=${opts.nodes}`, ...(opts.realNode ? ['--real-node'] : []), ...policyFlags];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  child.unref();
  const pid = child.pid as number;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = readState(opts.stateDir);
    if (state?.ready) return state;
    if (!isAlive(pid)) throw new Error(`local mode failed to start; the last lines of ${daemonLog(opts.stateDir)}:\n${tail(daemonLog(opts.stateDir), 25)}`);
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGTERM');
      throw new Error(`local mode did not become ready within ${timeoutMs / 1000} s; see ${daemonLog(opts.stateDir)}`);
    }
    await sleep(500);
  }
}

/** Stops the daemon `up` started and waits until it has stopped everything. False if none ran. */
export async function down(stateDir: string, timeoutMs = 60_000): Promise<boolean> {
  const state = readState(stateDir);
  if (!state) return false;
  process.kill(state.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (isAlive(state.pid)) {
    if (Date.now() > deadline) {
      // Its components die with it: each environment's watchdog ends them.
      process.kill(state.pid, 'SIGKILL');
      await sleep(5000);
      break;
    }
    await sleep(250);
  }
  return true;
}
