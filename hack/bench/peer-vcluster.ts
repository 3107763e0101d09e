// vcluster's open-source syncer as the benchmark's peer: its `vcluster start` (built by
// build-vcluster.sh) run as a process here, against a tenant control plane from the kit and the
// test bed's host cluster, syncing into one host namespace.
//
// vcluster's pod normally starts kube-apiserver, kube-controller-manager and a store itself. Its
// config lets all three be switched off (controlPlane.distro.k8s.{apiServer,controllerManager}.enabled,
// an external etcd as backing store) and names the virtual cluster's kubeconfig and CAs
// (experimental.virtualClusterKubeConfig), so here it attaches to a control plane the kit started,
// the same kind vnest's syncer gets. Two things it insists on: its mapping store lives in the
// backing etcd itself, reached over TLS with client certificates (so the tenant's etcd gets a TLS
// listener beside the API server's plain one), and the host objects its chart makes (the
// vc-config-<name> Secret, the <name> Service, whose cluster IP becomes the tenant's `kubernetes`
// Service IP, and the vc-workload-<name> ServiceAccount its host pods run as), created here.
// What it learns from its pod comes from env (POD_NAME, NAMESPACE, VCLUSTER_NAME), the host
// kubeconfig from KUBECONFIG.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { renderKubeconfig } from '../../src/kube/kubeconfig.ts';
import type { ControlPlane } from '../../src/local/control-plane.ts';
import { startVirtualControlPlane, type HostCluster } from '../../src/local/host-cluster.ts';
import type { Kit } from '../../src/local/kit.ts';
import { kubectlOk, runKubectl } from '../../src/local/kubectl.ts';
import type { PortAllocator } from '../../src/local/ports.ts';
import { ProcessGroup } from '../../src/local/process.ts';
import { httpsGet, waitFor } from '../../src/local/wait.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The label vcluster puts on every host object it syncs (value: the vcluster's name). */
export const vclusterManagedByLabel = 'vcluster.loft.sh/managed-by';

export interface VclusterBuild {
  binary: string;
  /** The chart's default values of the same version: the base of the syncer's config. */
  valuesFile: string;
}

/** Finds vcluster's syncer binary, building it first when needed (hack/bench/build-vcluster.sh). */
export async function buildVcluster(env: NodeJS.ProcessEnv = process.env): Promise<VclusterBuild> {
  try {
    const { stdout } = await promisify(execFile)('bash', [join(repoRoot, 'hack', 'bench', 'build-vcluster.sh'), '--print-path'], { env, maxBuffer: 16 << 20 });
    const binary = stdout.trim();
    return { binary, valuesFile: join(dirname(binary), 'values.yaml') };
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`could not build or find vcluster's syncer (hack/bench/build-vcluster.sh): ${stderr.trim().split('\n').slice(-15).join('\n')}`, { cause: err });
  }
}

export interface VclusterPeerOptions {
  kit: Kit;
  ports: PortAllocator;
  host: HostCluster;
  /** The host namespace it syncs into (created when missing). vcluster allows one per namespace. */
  hostNamespace: string;
  /** Folder for its config, log and process bookkeeping (created when missing). */
  dir: string;
  /** The vcluster's name (default `vc`): host names end in `-x-<namespace>-x-<name>`. */
  name?: string;
  /** A tenant control plane started with `etcdTls: true`; by default one is started (and stopped) here. */
  controlPlane?: ControlPlane;
  /** More config, merged over the defaults set here (for example sync settings). */
  values?: Record<string, unknown>;
  /** More environment for the process (for example VCLUSTER_PHYSICAL_CLIENT_QPS). */
  env?: NodeJS.ProcessEnv;
  build?: VclusterBuild;
  startTimeoutMs?: number;
}

/** Requests vcluster's own clients made to one API server, by HTTP method. */
export interface RequestCounts {
  reads: number;
  writes: number;
  byMethod: Record<string, number>;
}

export interface VclusterPeer {
  name: string;
  /** The vcluster syncer process. */
  pid: number;
  /** Every process this peer runs: the syncer, then the tenant control plane's (when it started it). */
  pids(): number[];
  /** The same, named as the benchmark names processes (`syncer`, `tenant etcd`, ...). */
  processes(): Array<[string, number]>;
  /** The tenant's control plane (its admin kubeconfig talks to kube-apiserver directly). */
  controlPlane: ControlPlane;
  /** The tenant's kubeconfig through vcluster's own front door (its proxy), as a tenant user gets it. */
  virtualKubeconfigPath: string;
  /**
   * The tenant's kubeconfig straight to kube-apiserver, bypassing vcluster's proxy (as the
   * benchmark's tenant clients reach vnest's control plane). vcluster then gives a Service created
   * this way the host copy's cluster IP by recreating it, instead of in the proxy.
   */
  directKubeconfigPath: string;
  /**
   * vcluster has no /stats: its requests come from client-go's `rest_client_requests_total`
   * (controller-runtime's metrics endpoint, turned on here), split by API server. Its proxy's
   * forwarding and its etcd client (the mapping store) are not in these counts.
   */
  requestCounts(): Promise<{ host: RequestCounts; virtual: RequestCounts }>;
  /** Its Prometheus metrics (client-go requests, workqueues, and Go's, such as go_memstats_heap_alloc_bytes). */
  metricsUrl: string;
  /** Label selector of the host pods it made. */
  hostPodSelector: string;
  logFile: string;
  /** Log tails of the syncer and the control plane. */
  logTails(lines?: number): string;
  /** Stops the syncer and the control plane it started; host objects stay (the host goes away with the bed). */
  stop(): Promise<void>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `over` merged into `base` (objects key by key, everything else replaced). */
export function mergeValues(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isRecord(b) && isRecord(v) ? mergeValues(b, v) : v;
  }
  return out;
}

/**
 * The settings that make vcluster attach to an existing control plane instead of starting one,
 * and keep it off the network; everything else stays at the chart's defaults.
 */
export function peerValues(a: { cp: ControlPlane; proxyPort: number; metricsPort: number }): Record<string, unknown> {
  const etcd = a.cp.etcdTls;
  if (!etcd) throw new Error(`control plane ${a.cp.name} was started without etcdTls: vcluster's mapping store needs etcd over TLS`);
  const pki = join(a.cp.dir, 'pki');
  return {
    // Used as is instead of detecting the host's range with throw-away Services.
    serviceCIDR: a.cp.serviceCidr,
    controlPlane: {
      distro: { k8s: { enabled: true, apiServer: { enabled: false }, controllerManager: { enabled: false }, scheduler: { enabled: false } } },
      // Nothing is started for an external etcd; vcluster's etcd client (its mapping store) uses it.
      backingStore: { etcd: { external: { enabled: true, endpoint: etcd.endpoint, tls: { caFile: etcd.caFile, certFile: etcd.certFile, keyFile: etcd.keyFile } } } },
      proxy: { bindAddress: '127.0.0.1', port: a.proxyPort },
      // As vnest's syncer runs in the benchmark (--coredns=false): no CoreDNS Deployment in the tenant.
      coredns: { enabled: false },
    },
    experimental: {
      // One metrics endpoint (both managers share controller-runtime's registry): request counts.
      syncSettings: { hostMetricsBindAddress: `127.0.0.1:${a.metricsPort}` },
      // The kit's control plane has one CA for serving, clients and (unused) request headers.
      virtualClusterKubeConfig: {
        kubeConfig: a.cp.kubeconfigPath,
        serverCACert: join(pki, 'ca.crt'), serverCAKey: join(pki, 'ca.key'),
        clientCACert: join(pki, 'ca.crt'), requestHeaderCACert: join(pki, 'ca.crt'),
      },
    },
    telemetry: { enabled: false },
  };
}

/** Sums `rest_client_requests_total` of one API server (`host:port`) by method, from Prometheus text. */
export function countRequests(metrics: string, server: string): RequestCounts {
  const byMethod: Record<string, number> = {};
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('rest_client_requests_total{')) continue;
    const labels = new Map<string, string>([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m): [string, string] => [m[1] ?? '', m[2] ?? '']));
    const method = labels.get('method');
    if (labels.get('host') !== server || !method) continue;
    byMethod[method] = (byMethod[method] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  const reads = byMethod.GET ?? 0;
  const writes = Object.entries(byMethod).reduce((n, [m, c]) => n + (m === 'GET' ? 0 : c), 0);
  return { reads, writes, byMethod };
}

/**
 * Starts vcluster's syncer and resolves once the tenant API answers through its proxy and a probe
 * pod created in the tenant got a host pod and reached Running in the tenant (the probe is then
 * deleted and gone on both sides). On failure everything started here is stopped.
 */
export async function startVclusterPeer(opts: VclusterPeerOptions): Promise<VclusterPeer> {
  const name = opts.name ?? 'vc';
  const timeoutMs = opts.startTimeoutMs ?? 180_000;
  const build = opts.build ?? (await buildVcluster());
  await mkdir(opts.dir, { recursive: true });
  const ownsControlPlane = !opts.controlPlane;
  const cp = opts.controlPlane ?? (await startVirtualControlPlane({ kit: opts.kit, ports: opts.ports, name, etcdTls: true }));
  const processes = new ProcessGroup(opts.dir);
  const stopAll = async () => {
    await processes.stopAll();
    if (ownsControlPlane) await cp.stop();
  };
  try {
    const [proxyPort, metricsPort] = await Promise.all([opts.ports.next(), opts.ports.next()]);
    const base = parse(await readFile(build.valuesFile, 'utf8')) as Record<string, unknown>;
    const values = mergeValues(mergeValues(base, peerValues({ cp, proxyPort, metricsPort })), opts.values ?? {});
    const configFile = join(opts.dir, 'vcluster.yaml');
    await writeFile(configFile, stringify(values));

    // What its chart would have made in the host namespace.
    const hostKc = opts.host.kubeconfigPath;
    const kubectl = opts.kit.bin.kubectl;
    const ns = await runKubectl(kubectl, hostKc, ['get', 'namespace', opts.hostNamespace, '-o', 'name']);
    if (ns.code !== 0) await kubectlOk(kubectl, hostKc, ['create', 'namespace', opts.hostNamespace]);
    const labels = { app: 'vcluster', release: name };
    const hostObjects = [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: `vc-config-${name}`, namespace: opts.hostNamespace, labels }, type: 'Opaque', stringData: { 'config.yaml': stringify(values) } },
      {
        apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: opts.hostNamespace, labels: { ...labels, 'vcluster.loft.sh/service': 'true' } },
        spec: { type: 'ClusterIP', selector: labels, ports: [{ name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' }] },
      },
      // The service account its host pods run as.
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: `vc-workload-${name}`, namespace: opts.hostNamespace, labels } },
    ];
    await kubectlOk(kubectl, hostKc, ['apply', '-f', '-'], { input: hostObjects.map((o) => JSON.stringify(o)).join('\n') });

    const home = join(opts.dir, 'home');
    const plugins = join(opts.dir, 'plugins');
    await Promise.all([mkdir(home, { recursive: true }), mkdir(plugins, { recursive: true })]);
    const syncer = processes.start({
      name: 'vcluster',
      command: build.binary,
      args: ['start', `--config=${configFile}`],
      cwd: opts.dir,
      // Its pod's downward API, and nothing of this process's own environment beyond PATH.
      env: {
        PATH: process.env.PATH,
        HOME: home,
        KUBECONFIG: hostKc,
        VCLUSTER_NAME: name,
        POD_NAME: `${name}-0`,
        NAMESPACE: opts.hostNamespace,
        POD_IP: '127.0.0.1',
        NODE_NAME: opts.host.nodeNames[0] ?? 'node',
        NODE_IP: '127.0.0.1',
        PLUGIN_FOLDER: plugins,
        ...opts.env,
      },
    });

    const virtualKubeconfigPath = join(opts.dir, 'virtual.kubeconfig');
    const server = `https://127.0.0.1:${proxyPort}`;
    await writeFile(virtualKubeconfigPath, renderKubeconfig({ name: `vcluster-${name}`, server, caPem: cp.ca.certPem, credentials: cp.admin }), { mode: 0o600 });
    const check = () => syncer.assertRunning();
    await waitFor('vcluster proxy /readyz', async () => (await httpsGet(`${server}/readyz`, { caPem: cp.ca.certPem, ...cp.admin })).status === 200, { timeoutMs, intervalMs: 500, check });

    // A probe pod: synced to the host, Running in the tenant, then deleted and gone on both sides.
    const vk = (...args: string[]) => kubectlOk(kubectl, virtualKubeconfigPath, args);
    await waitFor('the default ServiceAccount through vcluster', async () => (await vk('-n', 'default', 'get', 'serviceaccount', 'default', '-o', 'name')).includes('default'), { timeoutMs, intervalMs: 500, check });
    // Its pod syncer waits for the host copy of kube-system/kube-dns (pods get its IP as
    // nameserver). With its CoreDNS Deployment off (as vnest runs without one in the benchmark),
    // the Service alone stands in: a CoreDNS with no pods.
    const kubeDns = {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'vcluster-kube-dns' } },
      spec: { selector: { 'k8s-app': 'vcluster-kube-dns' }, ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 1053 }, { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 1053 }] },
    };
    await kubectlOk(kubectl, virtualKubeconfigPath, ['apply', '-f', '-'], { input: JSON.stringify(kubeDns) });
    const probe = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'vcluster-peer-probe', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }], terminationGracePeriodSeconds: 0 } };
    await kubectlOk(kubectl, virtualKubeconfigPath, ['apply', '-f', '-'], { input: JSON.stringify(probe) });
    const hostPodSelector = `${vclusterManagedByLabel}=${name}`;
    const hostPods = async () => (await kubectlOk(kubectl, hostKc, ['-n', opts.hostNamespace, 'get', 'pods', '-l', hostPodSelector, '-o', 'name'])).trim();
    await waitFor('the probe pod on the host', async () => (await hostPods()) !== '', { timeoutMs, intervalMs: 500, check });
    await waitFor('the probe pod Running in the tenant', async () => (await vk('-n', 'default', 'get', 'pod', probe.metadata.name, '-o', 'jsonpath={.status.phase}')).trim() === 'Running', { timeoutMs, intervalMs: 500, check });
    await vk('-n', 'default', 'delete', 'pod', probe.metadata.name, '--wait=false');
    await waitFor('the probe pod gone from the host', async () => (await hostPods()) === '', { timeoutMs, intervalMs: 500, check });

    const logTails = (lines = 40) => `${processes.logTails(lines)}\n${ownsControlPlane ? cp.logTails(lines) : ''}`;
    const procs = (): Array<[string, number]> => [
      ['syncer', syncer.pid],
      ...(ownsControlPlane ? cp.processes.all.map((c): [string, number] => [`tenant ${c.name}`, c.pid]) : []),
    ];
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const requestCounts = async () => {
      const text = await (await fetch(metricsUrl)).text();
      return { host: countRequests(text, new URL(opts.host.server).host), virtual: countRequests(text, new URL(cp.server).host) };
    };
    return {
      name, pid: syncer.pid, controlPlane: cp, virtualKubeconfigPath, directKubeconfigPath: cp.kubeconfigPath, hostPodSelector, logFile: syncer.logFile,
      processes: procs, requestCounts, metricsUrl,
      pids: () => procs().map(([, pid]) => pid),
      logTails,
      stop: stopAll,
    };
  } catch (err) {
    const logs = `${processes.logTails(40)}\n${ownsControlPlane ? cp.logTails(15) : ''}`;
    await stopAll();
    throw new Error(`vcluster peer '${name}' did not start: ${(err as Error).message}\n${logs}`, { cause: err });
  }
}
