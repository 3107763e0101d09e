// Benchmark: N pods created in a tenant and synced to the host, against the same N pods created
// directly in the host namespace (the baseline), on the local test bed in one run.
//
// Usage: npm run bench -- [--pods N] [--concurrency C] [--workers W] [--token-storage secret|annotation] [--idle-seconds S]
//   [--paced-rate R] [--paced-seconds S] [--restart] [--churn-replicas R] [--churn-seconds S] [--peer vcluster]
//   [--cpu-prof DIR] (the syncer writes a V8 CPU profile into DIR when it stops) [--dist] (run the syncer
//   from the compiled dist/, as the image does; "npm run build" first)
// The workload, in the tenant and in the baseline alike, is N pods plus, per 10 pods, a ConfigMap
// they mount, a Service selecting them and a PVC bound on the host (to a PV made for it), so every
// synced kind is in play.
// Prints a table, then as its last line one JSON object with pods, syncedSeconds, directSeconds,
// ratio, p50Ms, p99Ms (virtual create to virtual Running), directP50Ms, directP99Ms (the same for the
// baseline: host create to host Running), syncerRssMb (peak), syncerCpuMsPerPod (syncer CPU from
// the first create to the last host pod gone after the delete, idle window excluded; of which
// syncerSystemCpuMsPerPod in the kernel), watchFloorCpuMsPerPod (the same span for a process that
// only follows the syncer's two pod caches, watch-floor.ts), watchEventsPerPodBy/watchKbPerPodBy
// (what the syncer's caches received, by side and resource),
// hostWritesPerPod and virtualWritesPerPod (the syncer's, create to Running; writesPerPodBy names
// them), host/virtualDeleteWritesPerPod, hostReadsPerPod (create to deleted), idleWritesPerSecond
// (both sides, everything synced and nothing changing, over --idle-seconds) and idleWritesBy (what
// those writes were), and pacedP50Ms/pacedP99Ms and pacedP50AddedMs/pacedP99AddedMs: pods created
// one by one at R per second for S seconds (default 20 for 30), create to Running, synced and
// the baseline's, and the difference. Memory: the syncer's live heap (after a full collection) with
// the group objects synced and no pod, then with the N pods synced: syncerIdleHeapMb,
// syncerKbPerPod (above idle, per pod) and syncerRssAtPodsMb. With --restart, the syncer is
// stopped with the N pods synced and a new one started: restartSeconds (start to ready with every
// queue drained) and restartHostWrites/restartVirtualWrites (until then; target 0). Churn: a
// Deployment of R replicas (default 500) rolled again and again for S seconds (default 60; 0: no
// churn): the syncer's CPU per second and per pod created, the lag from a virtual pod's creation to
// its host copy and from a host pod's Running to the virtual pod's (p50/p99), and the time to
// converge after the last rollout.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { KubeClient, type KubeObject, type ResourceType } from '../../src/kube/client.ts';
import { Informer } from '../../src/kube/informer.ts';
import { startVirtualControlPlane, HostCluster } from '../../src/local/host-cluster.ts';
import { kubectlOk } from '../../src/local/kubectl.ts';
import { loadKit, type Kit } from '../../src/local/kit.ts';
import { PortAllocator } from '../../src/local/ports.ts';
import { ProcessGroup, type Component } from '../../src/local/process.ts';
import { waitFor } from '../../src/local/wait.ts';
import { types } from '../../src/syncer/context.ts';
import { hostName } from '../../src/translate/names.ts';

const { values } = parseArgs({
  options: {
    pods: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '32' },
    workers: { type: 'string', default: '16' },
    'token-storage': { type: 'string', default: 'secret' },
    'idle-seconds': { type: 'string', default: '20' },
    'paced-rate': { type: 'string', default: '20' },
    'paced-seconds': { type: 'string', default: '30' },
    restart: { type: 'boolean', default: false },
    'churn-replicas': { type: 'string', default: '500' },
    'churn-seconds': { type: 'string', default: '60' },
    peer: { type: 'string' },
    'cpu-prof': { type: 'string' },
    dist: { type: 'boolean', default: false },
  },
});
const churnReplicas = Number(values['churn-replicas']);
const churnSeconds = Number(values['churn-seconds']);
const idleSeconds = Number(values['idle-seconds']);
const pacedRate = Number(values['paced-rate']);
const pacedSeconds = Number(values['paced-seconds']);
const pods = Number(values.pods);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(pods) || pods <= 0 || !Number.isInteger(concurrency) || concurrency <= 0 || !(idleSeconds > 0) || !(pacedRate > 0) || !(pacedSeconds > 0)
  || !Number.isInteger(churnReplicas) || churnReplicas <= 0 || !(churnSeconds >= 0) || (values.peer !== undefined && values.peer !== 'vcluster')) {
  console.error('usage: npm run bench -- [--pods N] [--concurrency C] [--workers W] [--token-storage secret|annotation] [--idle-seconds S] [--paced-rate R] [--paced-seconds S] [--restart] [--churn-replicas R] [--churn-seconds S] [--peer vcluster] [--cpu-prof DIR] [--dist] (positive numbers; --churn-seconds 0 skips the churn)');
  process.exit(2);
}
// The syncer from this checkout's TypeScript source (Node strips the types at every start), or with
// --dist from the compiled dist/ that the image and the npm package run (npm run build first).
const syncerMain = join(import.meta.dirname, '..', '..', ...(values.dist ? ['dist', 'cli', 'main.js'] : ['src', 'cli', 'main.ts']));
if (!existsSync(syncerMain)) {
  console.error(`bench: --dist runs ${syncerMain}, which is not there: run "npm run build" first`);
  process.exit(2);
}

type Pod = KubeObject & { status?: { phase?: string } };
/** How long a wait for all N of something may take: longer for more pods. */
const waitMs = Math.max(120_000, pods * 60);
const log = pino({ level: 'warn' });
/**
 * Pods in groups of 10 (by the index in the name): group g mounts ConfigMap cfg-g and Service svc-g
 * selects it. Service links are off (enableServiceLinks: false, on both sides): with a Service per
 * 10 pods in one namespace, every pod would carry seven variables per Service (a kubelet's
 * FOO_SERVICE_HOST, ...; the syncer writes the tenant's into the host pod's spec), which measures
 * the namespace's size rather than the sync.
 */
const groups = Math.max(1, Math.floor(pods / 10));
const groupOf = (name: string) => Number(name.split('-').pop()) % groups;
const podManifest = (name: string, namespace: string, withRefs = false): Pod => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, ...(withRefs ? { labels: { group: `g${groupOf(name)}` } } : {}) },
  spec: {
    containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10', ...(withRefs ? { volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }] } : {}) }],
    terminationGracePeriodSeconds: 0,
    enableServiceLinks: false,
    ...(withRefs ? { volumes: [{ name: 'cfg', configMap: { name: `cfg-${groupOf(name)}` } }] } : {}),
  },
});

const persistentVolumes: ResourceType = { group: '', version: 'v1', plural: 'persistentvolumes', kind: 'PersistentVolume', namespaced: false };

type Counters = { reads: number; writes: number; writesBy: Record<string, number>; watchEventsBy: Record<string, number>; watchKbBy: Record<string, number> };
/** V8's young generation as the image sets it (Dockerfile: NODE_OPTIONS), for the syncer and the watch floor. */
const imageV8Flags = ['--max-semi-space-size=4'];
type Stats = { host: Counters; virtual: Counters; memoryMb: { rss: number }; liveHeapKb?: number; controllers: Record<string, { queued: number; inFlight: number }> };

/** CPU time (user + system) of a process so far, in ms (0 once it is gone). */
const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
function cpuMs(pid: number, part: 'all' | 'system' = 'all'): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    return (((part === 'all' ? Number(fields[11]) : 0) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return 0;
  }
}

/** CPU so far of each named process. */
const cpuOf = (procs: Array<[string, number]>): Record<string, number> => Object.fromEntries(procs.map(([n, pid]) => [n, cpuMs(pid)]));
/** Per pod, the CPU each process spent between snapshots (pairs of from, to), largest first. */
function cpuPerPod(spans: Array<[Record<string, number>, Record<string, number>]>): Record<string, number> {
  const total: Record<string, number> = {};
  for (const [from, to] of spans) for (const k of Object.keys(to)) total[k] = (total[k] ?? 0) + (to[k] ?? 0) - (from[k] ?? 0);
  return Object.fromEntries(Object.entries(total).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Number((v / pods).toFixed(2))]));
}

/**
 * Waits until the processes together use less than a fifth of a core over 2 s (at most 5 minutes):
 * after a burst the clusters keep working for a while (garbage collection, controllers catching
 * up), and a paced run started then measures that work, not its own pods.
 */
async function settle(procs: Array<[string, number]>): Promise<void> {
  const t0 = performance.now();
  const total = () => Object.values(cpuOf(procs)).reduce((a, b) => a + b, 0);
  let last = total();
  for (;;) {
    await new Promise((r) => setTimeout(r, 2000));
    const now = total();
    if (now - last < 400 || performance.now() - t0 > 300_000) break;
    last = now;
  }
  console.error(`settled in ${((performance.now() - t0) / 1000).toFixed(1)} s (${((total() - last) / 20).toFixed(0)}% of a core over the last 2 s)`);
}

/**
 * What the pods reference and what selects them, per group: a ConfigMap, a Service, and a claim
 * the host binds to a PV made for it (so host controllers write to the claim, as in a real
 * cluster). `storageClass` keeps the baseline's claims and the tenant's copies apart.
 */
async function createGroupObjects(client: KubeClient, namespace: string, host: KubeClient, storageClass: string): Promise<void> {
  for (let g = 0; g < groups; g++) {
    await client.create(types.configmaps, namespace, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cfg-${g}` }, data: { k: 'v' } });
    await client.create(types.services, namespace, { apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${g}` }, spec: { selector: { group: `g${g}` }, ports: [{ port: 80 }] } });
    await host.create(persistentVolumes, undefined, { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: `${storageClass}-pv-${g}` }, spec: { storageClassName: storageClass, capacity: { storage: '1Mi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: `/tmp/${storageClass}-pv-${g}` } } });
    await client.create(types.pvcs, namespace, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: `claim-${g}` }, spec: { storageClassName: storageClass, accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Mi' } } } });
  }
}

/** Creates N pods with bounded concurrency; resolves with each pod's create time. */
async function createPods(client: KubeClient, namespace: string, prefix: string, withRefs = false): Promise<Map<string, number>> {
  const started = new Map<string, number>();
  let next = 0;
  const worker = async () => {
    while (next < pods) {
      const name = `${prefix}-${next++}`;
      started.set(`${namespace}/${name}`, performance.now());
      await client.create(types.pods, namespace, podManifest(name, namespace, withRefs));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return started;
}

/** Watches pods in `namespace` and resolves when all N are Running, with each one's Running time. */
function runningTimes(client: KubeClient, namespace: string, expected = pods): { informer: Informer<Pod>; done: Promise<Map<string, number>> } {
  const informer = new Informer<Pod>(client, types.pods, { namespace, logger: log, resyncMs: 0 });
  const running = new Map<string, number>();
  const done = new Promise<Map<string, number>>((resolve) => {
    const see = (p: Pod) => {
      const key = `${p.metadata.namespace}/${p.metadata.name}`;
      if (p.status?.phase === 'Running' && !running.has(key)) {
        running.set(key, performance.now());
        if (running.size === expected) resolve(running);
      }
    };
    informer.addHandlers({ onAdd: see, onUpdate: (_, p) => see(p) });
  });
  informer.start();
  return { informer, done };
}

/**
 * Paced: pods created one by one at a steady rate the host can absorb, each timed from create to
 * Running (the burst's latencies measure the backlog instead); then deleted, and gone.
 */
async function paced(client: KubeClient, namespace: string, prefix: string, isGone: () => Promise<boolean>): Promise<number[]> {
  const count = Math.max(1, Math.round(pacedRate * pacedSeconds));
  const watch = runningTimes(client, namespace, count);
  await watch.informer.waitForSync();
  const created = new Map<string, number>();
  const start = performance.now();
  const creating: Array<Promise<unknown>> = [];
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / pacedRate;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    const name = `${prefix}-${i}`;
    created.set(`${namespace}/${name}`, performance.now());
    creating.push(client.create(types.pods, namespace, podManifest(name, namespace, true)));
  }
  await Promise.all(creating);
  const running = await watch.done;
  await watch.informer.stop();
  await deletePods(client, namespace, `the paced pods of ${namespace} gone`, isGone);
  return [...running].map(([k, t]) => t - (created.get(k) ?? t)).sort((a, b) => a - b);
}

/**
 * Deletes every pod of `namespace` with one collection delete, and waits until `isGone`. With
 * thousands of pods the delete takes minutes: the request waits for it (the clients' timeout is
 * long), and it is issued again only once it has answered (or failed) and 30 s have passed, so
 * passes never pile up on the API server.
 */
async function deletePods(client: KubeClient, namespace: string, what: string, isGone: () => Promise<boolean>): Promise<void> {
  let issued = -Infinity;
  let inFlight: Promise<void> | undefined;
  await waitFor(what, async () => {
    if (await isGone()) return true;
    if (!inFlight && performance.now() - issued > 30_000) {
      issued = performance.now();
      inFlight = client.request('DELETE', `/api/v1/namespaces/${namespace}/pods`)
        .then(() => undefined, (err: unknown) => console.error(`bench: ${(err as Error).message}; deleting the pods again`))
        .finally(() => { inFlight = undefined; });
    }
    return false;
  }, { timeoutMs: 1_800_000, intervalMs: 500 });
  await inFlight;
}

/** The benchmark's own clients: no client-side limit, and time for a collection delete of 10,000 pods. */
const benchClient = { qps: 5000, burst: 5000, timeoutMs: 1_800_000 };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** The keys the peer reports, a subset of vnest's (what vcluster's process lets us measure). */
type PeerResult = Record<string, number | string | Record<string, number>>;

/** `go_memstats_heap_alloc_bytes` (Go's allocated heap; not after a forced collection) in KB. */
async function goHeapKb(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith('go_memstats_heap_alloc_bytes '));
  return Number(line?.split(' ')[1] ?? NaN) / 1024;
}

/**
 * The same workload against vcluster's syncer (built by hack/bench/build-vcluster.sh) with its own
 * tenant control plane, syncing into host namespace `peer`: burst, CPU per pod, memory, writes, idle
 * writes and paced latency, against the same baseline.
 */
async function runPeer(kit: Kit, ports: PortAllocator, host: HostCluster, hostClient: KubeClient, baseline: { directSeconds: number; pacedDirect: number[] }): Promise<PeerResult> {
  const { startVclusterPeer } = await import('./peer-vcluster.ts');
  console.error('peer: starting vcluster\'s syncer (building it first if needed) ...');
  const peer = await startVclusterPeer({ kit, ports, host, hostNamespace: 'peer', dir: join(host.controlPlane.dir, 'peer'), name: 'vc' });
  try {
    const client = await KubeClient.fromKubeconfigFile(peer.directKubeconfigPath, benchClient);
    const hostGone = async () => (await hostClient.list(types.pods, 'peer', { labelSelector: peer.hostPodSelector, limit: 1 })).items.length === 0;
    await client.create(types.namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });
    await waitFor('the default service account of the peer\'s bench namespace', async () => (await client.list(types.serviceaccounts, 'bench')).items.length > 0, { timeoutMs: 60_000 });
    await createGroupObjects(client, 'bench', hostClient, 'peer');
    await new Promise((r) => setTimeout(r, 3000));
    const idleHeapKb = await goHeapKb(peer.metricsUrl);
    const procs = [...peer.processes(), ...host.controlPlane.processes.all.map((c): [string, number] => [`host ${c.name}`, c.pid])];
    const synced = runningTimes(client, 'bench');
    await synced.informer.waitForSync();
    const r0 = await peer.requestCounts();
    const all0 = cpuOf(procs);
    const t0 = performance.now();
    const created = await createPods(client, 'bench', 'pod', true);
    const runningAt = await synced.done;
    const syncedSeconds = (performance.now() - t0) / 1000;
    await synced.informer.stop();
    const latencies = [...runningAt].map(([k, t]) => t - (created.get(k) ?? t)).sort((a, b) => a - b);
    await waitFor('the peer\'s claims Bound in its tenant', async () => (await client.list<KubeObject & { status?: { phase?: string } }>(types.pvcs, 'bench')).items.every((c) => c.status?.phase === 'Bound'), { timeoutMs: waitMs, intervalMs: 500 });
    await new Promise((r) => setTimeout(r, 3000));
    const all1 = cpuOf(procs);
    const r1 = await peer.requestCounts();
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const r2 = await peer.requestCounts();
    const podsHeapKb = await goHeapKb(peer.metricsUrl);
    const rssAtPods = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${peer.pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
    const all2 = cpuOf(procs);
    await deletePods(client, 'bench', 'every host pod of the peer gone', hostGone);
    const all3 = cpuOf(procs);
    const r3 = await peer.requestCounts();
    console.error(`peer: ${pods} pods Running in ${syncedSeconds.toFixed(2)} s; paced ...`);
    await settle(procs);
    const pacedSynced = await paced(client, 'bench', 'paced', hostGone);
    const peakKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${peer.pid}/status`, 'utf8'))?.[1] ?? NaN);
    const cpu = cpuPerPod([[all0, all1], [all2, all3]]);
    client.close();
    const pacedMs = (sorted: number[], p: number) => Math.round(percentile(sorted, p));
    return {
      pods,
      syncedSeconds: Number(syncedSeconds.toFixed(2)),
      ratio: Number((syncedSeconds / baseline.directSeconds).toFixed(3)),
      p50Ms: Math.round(percentile(latencies, 50)),
      p99Ms: Math.round(percentile(latencies, 99)),
      syncerRssMb: Number((peakKb / 1024).toFixed(1)),
      syncerRssAtPodsMb: Math.round(rssAtPods),
      // Go's allocated heap (not after a forced collection, unlike vnest's figure).
      syncerIdleHeapMb: Number((idleHeapKb / 1024).toFixed(1)),
      syncerKbPerPod: Number(((podsHeapKb - idleHeapKb) / pods).toFixed(1)),
      syncerCpuMsPerPod: cpu.syncer ?? NaN,
      cpuMsPerPod: cpu,
      // client-go's request counts (its proxy's forwarding and its etcd mapping store not included).
      hostWritesPerPod: Number(((r1.host.writes - r0.host.writes) / pods).toFixed(2)),
      virtualWritesPerPod: Number(((r1.virtual.writes - r0.virtual.writes) / pods).toFixed(2)),
      hostDeleteWritesPerPod: Number(((r3.host.writes - r2.host.writes) / pods).toFixed(2)),
      virtualDeleteWritesPerPod: Number(((r3.virtual.writes - r2.virtual.writes) / pods).toFixed(2)),
      idleWritesPerSecond: Number(((r2.host.writes - r1.host.writes + r2.virtual.writes - r1.virtual.writes) / idleSeconds).toFixed(2)),
      pacedP50Ms: pacedMs(pacedSynced, 50),
      pacedP99Ms: pacedMs(pacedSynced, 99),
      pacedP50AddedMs: pacedMs(pacedSynced, 50) - pacedMs(baseline.pacedDirect, 50),
      pacedP99AddedMs: pacedMs(pacedSynced, 99) - pacedMs(baseline.pacedDirect, 99),
    };
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${peer.logTails(30)}`, { cause: err });
  } finally {
    await peer.stop();
  }
}

const deployments: ResourceType = { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true };
type Deployment = KubeObject & { metadata: { generation?: number }; status?: { observedGeneration?: number; replicas?: number; updatedReplicas?: number; availableReplicas?: number } };

/**
 * Churn: a Deployment of R replicas in the tenant, rolled again and again for S seconds (each
 * rollout starts when the last is done), then left to converge. Measures the syncer's CPU, the lag
 * from a virtual pod's appearance to its host copy's, and from a host pod's Running to its virtual
 * pod's, over the pods created during the window.
 */
async function churn(virtual: KubeClient, host: KubeClient, syncerPid: number, drained: () => Promise<boolean>): Promise<Record<string, number>> {
  console.error(`churn: a Deployment of ${churnReplicas} replicas rolled for ${churnSeconds} s ...`);
  const before = new Set<string>();
  let measuring = false;
  const seen = { virtual: new Map<string, number>(), host: new Map<string, number>(), virtualRunning: new Map<string, number>(), hostRunning: new Map<string, number>() };
  const note = (map: Map<string, number>, key: string) => {
    if (!map.has(key)) map.set(key, performance.now());
  };
  const vInf = new Informer<Pod>(virtual, types.pods, { namespace: 'bench', logger: log, resyncMs: 0 });
  const hInf = new Informer<Pod>(host, types.pods, { namespace: 'tenants', logger: log, resyncMs: 0 });
  const onVirtual = (p: Pod) => {
    const key = hostName(p.metadata.name, 'bench', 'bench');
    if (!measuring) return void before.add(key);
    if (before.has(key)) return;
    note(seen.virtual, key);
    if (p.status?.phase === 'Running') note(seen.virtualRunning, key);
  };
  const onHost = (p: Pod) => {
    if (!measuring || before.has(p.metadata.name)) return;
    note(seen.host, p.metadata.name);
    if (p.status?.phase === 'Running') note(seen.hostRunning, p.metadata.name);
  };
  vInf.addHandlers({ onAdd: onVirtual, onUpdate: (_, p) => onVirtual(p) });
  hInf.addHandlers({ onAdd: onHost, onUpdate: (_, p) => onHost(p) });
  vInf.start();
  hInf.start();
  await Promise.all([vInf.waitForSync(), hInf.waitForSync()]);
  await virtual.create(deployments, 'bench', {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'churn' },
    spec: {
      replicas: churnReplicas, selector: { matchLabels: { app: 'churn' } },
      template: { metadata: { labels: { app: 'churn' } }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }], terminationGracePeriodSeconds: 0 } },
    },
  });
  const rolledOut = async () => {
    const d = await virtual.get<Deployment>(deployments, 'bench', 'churn');
    const s = d.status ?? {};
    return (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 1) && s.replicas === churnReplicas && s.updatedReplicas === churnReplicas && s.availableReplicas === churnReplicas;
  };
  await waitFor('the churn Deployment available', rolledOut, { timeoutMs: 600_000, intervalMs: 500 });
  measuring = true;
  const c0 = cpuMs(syncerPid);
  const start = performance.now();
  const deadline = start + churnSeconds * 1000;
  let rollouts = 0;
  while (performance.now() < deadline) {
    await virtual.patch(deployments, 'bench', 'churn', { spec: { template: { metadata: { annotations: { 'bench/rollout': String(++rollouts) } } } } });
    while (performance.now() < deadline && !(await rolledOut())) await new Promise((r) => setTimeout(r, 250));
  }
  const c1 = cpuMs(syncerPid);
  const converge0 = performance.now();
  await waitFor('the churn converged', async () => (await rolledOut()) && (await drained())
    && vInf.list().filter((p) => !p.metadata.deletionTimestamp).length === churnReplicas
    && hInf.list().filter((p) => !p.metadata.deletionTimestamp && p.metadata.name.endsWith('-x-bench-x-bench')).length === churnReplicas, { timeoutMs: 600_000, intervalMs: 200 });
  const convergeSeconds = (performance.now() - converge0) / 1000;
  const lags = (from: Map<string, number>, to: Map<string, number>) => [...to].filter(([k]) => from.has(k)).map(([k, t]) => t - (from.get(k) ?? t)).sort((a, b) => a - b);
  const createLag = lags(seen.virtual, seen.host);
  const statusLag = lags(seen.hostRunning, seen.virtualRunning);
  await virtual.delete(deployments, 'bench', 'churn', { propagationPolicy: 'Background' });
  await waitFor('the churn pods gone from the host', async () => (await host.list(types.pods, 'tenants', { labelSelector: 'vnest.dev/tenant=bench' })).items.length === 0, { timeoutMs: 600_000, intervalMs: 500 });
  await Promise.all([vInf.stop(), hInf.stop()]);
  const created = seen.virtual.size;
  return {
    churnRollouts: rollouts,
    churnPodsCreated: created,
    churnSyncerCpuMsPerSecond: Number(((c1 - c0) / churnSeconds).toFixed(1)),
    churnSyncerCpuMsPerPod: Number(((c1 - c0) / Math.max(1, created)).toFixed(2)),
    churnCreateLagP50Ms: Math.round(percentile(createLag, 50)),
    churnCreateLagP99Ms: Math.round(percentile(createLag, 99)),
    churnStatusLagP50Ms: Math.round(percentile(statusLag, 50)),
    churnStatusLagP99Ms: Math.round(percentile(statusLag, 99)),
    churnConvergeSeconds: Number(convergeSeconds.toFixed(2)),
  };
}

async function main(): Promise<void> {
  const kit = await loadKit();
  const ports = new PortAllocator();
  console.error(`starting the test bed (host with 3 kwok nodes, tenant control plane) for ${pods} pods ...`);
  const [host, virtual] = await Promise.all([
    HostCluster.start({ kit, ports, nodes: 3, podsPerNode: Math.ceil((Math.max(pods, Math.round(pacedRate * pacedSeconds), Math.ceil(churnReplicas * 1.5)) * 2) / 3) + 10 }),
    startVirtualControlPlane({ kit, ports, name: 'bench' }),
  ]);
  // The syncer runs in its own process group with a watchdog: it goes when this process goes, however it ends.
  let syncers: ProcessGroup | undefined;
  let syncer: Component | undefined;
  try {
    const kc = (path: string, ...args: string[]) => kubectlOk(kit.bin.kubectl, path, args);
    await kc(host.kubeconfigPath, 'create', 'namespace', 'direct');
    await kc(host.kubeconfigPath, 'create', 'namespace', 'tenants');
    await kc(virtual.kubeconfigPath, 'create', 'namespace', 'bench');
    await waitFor('default service accounts', async () => {
      const a = await kc(host.kubeconfigPath, '-n', 'direct', 'get', 'sa', '-o', 'name').catch(() => '');
      const b = await kc(virtual.kubeconfigPath, '-n', 'bench', 'get', 'sa', '-o', 'name').catch(() => '');
      return a.includes('default') && b.includes('default');
    }, { timeoutMs: 60_000 });
    const hostClient = await KubeClient.fromKubeconfigFile(host.kubeconfigPath, benchClient);
    const virtualClient = await KubeClient.fromKubeconfigFile(virtual.kubeconfigPath, benchClient);

    // Baseline: the same pods and objects, straight into a host namespace.
    await createGroupObjects(hostClient, 'direct', hostClient, 'direct');
    const direct = runningTimes(hostClient, 'direct');
    await direct.informer.waitForSync();
    const hostProcs: Array<[string, number]> = host.controlPlane.processes.all.map((c) => [`host ${c.name}`, c.pid]);
    const tenantProcs: Array<[string, number]> = virtual.processes.all.map((c) => [`tenant ${c.name}`, c.pid]);
    const d0 = cpuOf(hostProcs);
    const t0 = performance.now();
    const directCreated = await createPods(hostClient, 'direct', 'direct', true);
    const directRunning = await direct.done;
    const directLatencies = [...directRunning].map(([k, t]) => t - (directCreated.get(k) ?? t)).sort((a, b) => a - b);
    const directSeconds = (performance.now() - t0) / 1000;
    // Deleted too, so both CPU figures cover create -> Running -> delete.
    await deletePods(hostClient, 'direct', 'every baseline pod gone', async () => (await hostClient.list(types.pods, 'direct', { limit: 1 })).items.length === 0);
    const d1 = cpuOf(hostProcs);
    await direct.informer.stop();
    console.error(`direct: ${pods} pods Running in ${directSeconds.toFixed(2)} s`);

    // Synced: a syncer process, pods created in the tenant.
    const healthPort = await ports.next();
    const syncerDir = join(host.controlPlane.dir, 'bench-syncer');
    mkdirSync(syncerDir, { recursive: true });
    syncers = new ProcessGroup(syncerDir);
    const group = syncers;
    const startSyncer = async () => {
      const profile = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [];
      const child = group.start({ name: `syncer-${group.all.length}`, command: process.execPath, args: ['--expose-gc', ...imageV8Flags, ...profile, syncerMain, 'syncer',
        '--tenant=bench', '--host-namespace=tenants', `--virtual-kubeconfig=${virtual.kubeconfigPath}`, `--host-kubeconfig=${host.kubeconfigPath}`,
        '--owner-service=', '--listen-port=0', '--coredns=false', `--workers=${values.workers}`, `--token-storage=${values['token-storage']}`, `--health-port=${healthPort}`, '--log-level=warn'],
        // As the image runs it (Dockerfile): two glibc malloc arenas, not eight per core.
        env: { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' } });
      syncer = child;
      await waitFor('syncer ready', async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok, { timeoutMs: 600_000, intervalMs: 50, check: () => child.assertRunning() });
      return child.pid;
    };
    const readStats = async (gc = false) => (await (await fetch(`http://127.0.0.1:${healthPort}/stats${gc ? '?gc=1' : ''}`)).json()) as Stats;
    /** Every work queue empty and nothing in flight, twice in a row 100 ms apart. */
    const drained = async () => {
      for (let i = 0; i < 2; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100));
        const s = await readStats();
        if (Object.values(s.controllers).some((c) => c.queued > 0 || c.inFlight > 0)) return false;
      }
      return true;
    };
    let syncerPid = await startSyncer();
    // Beside it, the floor: a process that only follows the syncer's two pod caches (watch-floor.ts).
    const floorLog = join(syncerDir, 'watch-floor.log');
    const floorPid = group.start({ name: 'watch-floor', command: process.execPath, args: [...imageV8Flags, join(import.meta.dirname, 'watch-floor.ts'), virtual.kubeconfigPath, host.kubeconfigPath, 'tenants', 'bench'] }).pid;
    await waitFor('the watch floor synced', async () => existsSync(floorLog) && readFileSync(floorLog, 'utf8').includes('synced'), { timeoutMs: 60_000, intervalMs: 100 });
    await createGroupObjects(virtualClient, 'bench', hostClient, 'bench');
    await waitFor('the group objects synced', drained, { timeoutMs: waitMs, intervalMs: 200 });
    const idleHeap = await readStats(true);
    const synced = runningTimes(virtualClient, 'bench');
    await synced.informer.waitForSync();
    const before = await readStats();
    const cpu0 = cpuMs(syncerPid);
    const floor0 = cpuMs(floorPid);
    const sys0 = cpuMs(syncerPid, 'system');
    const all0 = cpuOf([['syncer', syncerPid], ...tenantProcs, ...hostProcs]);
    const t1 = performance.now();
    const created = await createPods(virtualClient, 'bench', 'pod', true);
    const runningAt = await synced.done;
    const syncedSeconds = (performance.now() - t1) / 1000;
    console.error(`synced: ${pods} pods Running in the tenant in ${syncedSeconds.toFixed(2)} s`);
    await synced.informer.stop();
    const latencies = [...runningAt].map(([k, t]) => t - (created.get(k) ?? t)).sort((a, b) => a - b);
    await waitFor('the claims Bound in the tenant', async () => (await virtualClient.list<KubeObject & { status?: { phase?: string } }>(types.pvcs, 'bench')).items.every((c) => c.status?.phase === 'Bound'), { timeoutMs: waitMs, intervalMs: 500 });
    // Settled: let the last status writes land, then nothing may be written while nothing changes.
    await new Promise((r) => setTimeout(r, 3000));
    const cpu1 = cpuMs(syncerPid);
    const floor1 = cpuMs(floorPid);
    const sys1 = cpuMs(syncerPid, 'system');
    const all1 = cpuOf([['syncer', syncerPid], ...tenantProcs, ...hostProcs]);
    const idleStart = await readStats();
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const idleEnd = await readStats();
    const podsHeap = await readStats(true);
    console.error(`memory: live heap ${((idleHeap.liveHeapKb ?? NaN) / 1024).toFixed(1)} MiB idle, ${((podsHeap.liveHeapKb ?? NaN) / 1024).toFixed(1)} MiB with ${pods} pods (${(((podsHeap.liveHeapKb ?? NaN) - (idleHeap.liveHeapKb ?? NaN)) / pods).toFixed(1)} KB per pod), RSS ${podsHeap.memoryMb.rss} MiB, peak ${(Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${syncerPid}/status`, 'utf8'))?.[1] ?? NaN) / 1024).toFixed(0)} MiB`);
    const idleWritesBy: Record<string, number> = {};
    for (const side of ['host', 'virtual'] as const) {
      for (const [k, n] of Object.entries(idleEnd[side].writesBy)) {
        const d = n - (idleStart[side].writesBy[k] ?? 0);
        if (d > 0) idleWritesBy[`${side} ${k}`] = d;
      }
    }
    const idleWrites = idleEnd.host.writes - idleStart.host.writes + idleEnd.virtual.writes - idleStart.virtual.writes;
    // Restart: a new syncer over the N pods must find everything in sync and write nothing.
    let restart: { restartSeconds: number; restartReadySeconds: number; restartHostWrites: number; restartVirtualWrites: number; restartWritesBy: Record<string, number> } | undefined;
    if (values.restart) {
      await syncer?.stop(120_000);
      const r0 = performance.now();
      syncerPid = await startSyncer();
      const ready = (performance.now() - r0) / 1000;
      await waitFor('the restarted syncer drained', drained, { timeoutMs: 600_000, intervalMs: 50 });
      // drained() takes two looks 100 ms apart: the queues were empty at the first.
      const inSync = Math.max(ready, (performance.now() - r0 - 100) / 1000);
      const s = await readStats();
      restart = { restartSeconds: Number(inSync.toFixed(2)), restartReadySeconds: Number(ready.toFixed(2)), restartHostWrites: s.host.writes, restartVirtualWrites: s.virtual.writes,
        restartWritesBy: Object.fromEntries((['host', 'virtual'] as const).flatMap((side) => Object.entries(s[side].writesBy).map(([k, n]) => [`${side} ${k}`, n]))) };
      console.error(`restart: ready in ${ready.toFixed(2)} s, in sync in ${inSync.toFixed(2)} s, ${s.host.writes} host and ${s.virtual.writes} tenant writes`);
    }
    const preDelete = await readStats();
    const cpu2 = cpuMs(syncerPid);
    const floor2 = cpuMs(floorPid);
    const sys2 = cpuMs(syncerPid, 'system');
    const all2 = cpuOf([['syncer', syncerPid], ...tenantProcs, ...hostProcs]);
    // Deleted: the syncer's work until the last host pod is gone.
    await deletePods(virtualClient, 'bench', 'every host pod of the tenant gone', async () => (await hostClient.list(types.pods, 'tenants', { labelSelector: 'vnest.dev/tenant=bench', limit: 1 })).items.length === 0);
    const cpu3 = cpuMs(syncerPid);
    const floor3 = cpuMs(floorPid);
    const sys3 = cpuMs(syncerPid, 'system');
    const all3 = cpuOf([['syncer', syncerPid], ...tenantProcs, ...hostProcs]);
    const stats = await readStats();
    // Paced, after the burst (every pod of it gone): the baseline, then the tenant.
    console.error(`paced: ${pacedRate} pods/s for ${pacedSeconds} s, baseline then tenant ...`);
    const bed: Array<[string, number]> = [['syncer', syncerPid], ...tenantProcs, ...hostProcs];
    await settle(bed);
    const pacedDirect = await paced(hostClient, 'direct', 'paced', async () => (await hostClient.list(types.pods, 'direct', { limit: 1 })).items.length === 0);
    await settle(bed);
    const pacedSynced = await paced(virtualClient, 'bench', 'paced', async () => (await hostClient.list(types.pods, 'tenants', { labelSelector: 'vnest.dev/tenant=bench', limit: 1 })).items.length === 0);
    const pacedMs = (sorted: number[], p: number) => Math.round(percentile(sorted, p));
    const churned = churnSeconds > 0 ? await churn(virtualClient, hostClient, syncerPid, drained) : undefined;
    const peer = values.peer ? await runPeer(kit, ports, host, hostClient, { directSeconds, pacedDirect }) : undefined;
    console.error(`syncer memory at the end (MiB): ${JSON.stringify(stats.memoryMb)}`);
    if (process.env.VNEST_BENCH_STATS) console.error(JSON.stringify(stats, null, 1));
    // The syncer's own requests from the first create to the last host pod gone, idle (and restart) excluded.
    const spanOf = (side: 'host' | 'virtual', field: 'reads' | 'writes') => idleStart[side][field] - before[side][field] + stats[side][field] - preDelete[side][field];
    /** Writes per pod between two snapshots, by side, verb and resource. */
    const perPodBy = (from: Stats, to: Stats) => Object.fromEntries((['host', 'virtual'] as const).flatMap((side) => Object.entries(to[side].writesBy)
      .map(([k, n]) => [`${side} ${k}`, Number(((n - (from[side].writesBy[k] ?? 0)) / pods).toFixed(3))] as const).filter(([, n]) => n > 0)));
    /** Watch events (or their KB) per pod from the first create to the last host pod gone, by side and resource. */
    const watchedPerPod = (field: 'watchEventsBy' | 'watchKbBy') => Object.fromEntries((['host', 'virtual'] as const).flatMap((side) => {
      const d = (from: Stats, to: Stats, k: string) => (to[side][field][k] ?? 0) - (from[side][field][k] ?? 0);
      return Object.keys({ ...idleStart[side][field], ...stats[side][field] }).map((k) => [`${side} ${k}`, Number(((d(before, idleStart, k) + d(preDelete, stats, k)) / pods).toFixed(2))] as const);
    }).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]));
    const status = readFileSync(`/proc/${syncerPid}/status`, 'utf8');
    const peakKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    const result = {
      pods,
      syncedSeconds: Number(syncedSeconds.toFixed(2)),
      directSeconds: Number(directSeconds.toFixed(2)),
      ratio: Number((syncedSeconds / directSeconds).toFixed(3)),
      p50Ms: Math.round(percentile(latencies, 50)),
      p99Ms: Math.round(percentile(latencies, 99)),
      directP50Ms: Math.round(percentile(directLatencies, 50)),
      directP99Ms: Math.round(percentile(directLatencies, 99)),
      syncerRssMb: Number((peakKb / 1024).toFixed(1)),
      syncerRssAtPodsMb: podsHeap.memoryMb.rss,
      syncerIdleHeapMb: Number(((idleHeap.liveHeapKb ?? NaN) / 1024).toFixed(1)),
      syncerKbPerPod: Number((((podsHeap.liveHeapKb ?? NaN) - (idleHeap.liveHeapKb ?? NaN)) / pods).toFixed(1)),
      syncerCpuMsPerPod: Number(((cpu1 - cpu0 + cpu3 - cpu2) / pods).toFixed(2)),
      // What a process that only follows the syncer's two pod caches spends (watch-floor.ts).
      watchFloorCpuMsPerPod: Number(((floor1 - floor0 + floor3 - floor2) / pods).toFixed(2)),
      // Of which in the kernel (sockets: on loopback, sending includes the receiver's TCP work).
      syncerSystemCpuMsPerPod: Number(((sys1 - sys0 + sys3 - sys2) / pods).toFixed(2)),
      // Where the CPU went, per pod, from create to Running to deleted: the synced run (idle
      // excluded) and the baseline.
      cpuMsPerPod: cpuPerPod([[all0, all1], [all2, all3]]),
      directCpuMsPerPod: cpuPerPod([[d0, d1]]),
      // Writes from create to Running (the group objects' copies included), then for the delete.
      hostWritesPerPod: Number(((idleStart.host.writes - before.host.writes) / pods).toFixed(2)),
      virtualWritesPerPod: Number(((idleStart.virtual.writes - before.virtual.writes) / pods).toFixed(2)),
      hostDeleteWritesPerPod: Number(((stats.host.writes - preDelete.host.writes) / pods).toFixed(2)),
      virtualDeleteWritesPerPod: Number(((stats.virtual.writes - preDelete.virtual.writes) / pods).toFixed(2)),
      writesPerPodBy: perPodBy(before, idleStart),
      hostReadsPerPod: Number((spanOf('host', 'reads') / pods).toFixed(3)),
      watchEventsPerPodBy: watchedPerPod('watchEventsBy'),
      watchKbPerPodBy: watchedPerPod('watchKbBy'),
      idleWritesPerSecond: Number((idleWrites / idleSeconds).toFixed(2)),
      idleWritesBy,
      ...restart,
      pacedP50Ms: pacedMs(pacedSynced, 50),
      pacedP99Ms: pacedMs(pacedSynced, 99),
      pacedDirectP50Ms: pacedMs(pacedDirect, 50),
      pacedDirectP99Ms: pacedMs(pacedDirect, 99),
      pacedP50AddedMs: pacedMs(pacedSynced, 50) - pacedMs(pacedDirect, 50),
      pacedP99AddedMs: pacedMs(pacedSynced, 99) - pacedMs(pacedDirect, 99),
      ...churned,
    };
    const cell = (v: unknown) => (v === undefined ? '' : JSON.stringify(v));
    if (peer) {
      console.log(`| metric | vnest | ${values.peer} |\n| --- | --- | --- |`);
      for (const [k, v] of Object.entries(result)) console.log(`| ${k} | ${cell(v)} | ${cell(peer[k])} |`);
    } else {
      console.log('| metric | value |\n| --- | --- |');
      for (const [k, v] of Object.entries(result)) console.log(`| ${k} | ${cell(v)} |`);
    }
    console.log(JSON.stringify({ ...result, ...(peer ? { peer } : {}) }));
    hostClient.close();
    virtualClient.close();
  } finally {
    await syncer?.stop(120_000);
    await syncers?.stopAll();
    await Promise.all([host.stop(), virtual.stop()]);
  }
}

let finished = false;
main().then(() => (finished = true), (err: unknown) => {
  finished = true;
  console.error(err);
  // The test bed is stopped; an informer still retrying its list would keep Node running.
  process.exit(1);
});
// A wait that nothing can end any more (every socket closed) lets Node exit quietly with 0: say so, and fail.
process.on('exit', () => {
  if (!finished) {
    console.error('bench: stopped before finishing (a wait could no longer end)');
    process.exitCode = 1;
  }
});
