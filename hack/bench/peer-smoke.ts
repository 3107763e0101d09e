// Smoke run of the vcluster peer alone: the host bed (3 kwok nodes), vcluster's syncer on a tenant
// control plane from the kit, and the benchmark's workload in small: a ConfigMap, a Service and a
// claim (bound on the host to a PV made for it), then N pods (default 5) that mount the ConfigMap
// and that the Service selects, created in the tenant through vcluster's proxy (--direct: straight
// to the tenant's kube-apiserver). Timed from the first pod create until all are Running in the
// tenant and until their host pods are gone after the delete; then the syncer's CPU and peak RSS
// from /proc and its requests from its metrics, and everything is stopped.
//
// Usage: node hack/bench/peer-smoke.ts [--pods N] [--direct] [--keep]   (--keep: leave the folders)
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeClient, type KubeObject } from '../../src/kube/client.ts';
import { HostCluster } from '../../src/local/host-cluster.ts';
import { kubectlOk } from '../../src/local/kubectl.ts';
import { loadKit } from '../../src/local/kit.ts';
import { PortAllocator } from '../../src/local/ports.ts';
import { waitFor } from '../../src/local/wait.ts';
import { types } from '../../src/syncer/context.ts';
import { buildVcluster, startVclusterPeer, type VclusterPeer } from './peer-vcluster.ts';

const { values } = parseArgs({ options: { pods: { type: 'string', default: '5' }, direct: { type: 'boolean', default: false }, keep: { type: 'boolean', default: false } } });
const pods = Number(values.pods);
if (!Number.isInteger(pods) || pods <= 0) {
  console.error('usage: node hack/bench/peer-smoke.ts [--pods N] [--direct] [--keep]');
  process.exit(2);
}

const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
async function cpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /s, '').split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
}
async function peakRssMb(pid: number): Promise<number> {
  const kb = Number(/VmHWM:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return Number((kb / 1024).toFixed(1));
}

const diff = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
  Object.fromEntries<number>(Object.entries(a).filter(([m]) => m !== 'GET').map(([m, n]): [string, number] => [m, n - (b[m] ?? 0)]).filter(([, n]) => n !== 0));

async function main(): Promise<void> {
  const t = performance.now();
  const since = () => `${((performance.now() - t) / 1000).toFixed(1)} s`;
  const build = await buildVcluster();
  console.error(`vcluster binary: ${build.binary} (${since()})`);
  const kit = await loadKit();
  const ports = new PortAllocator();
  const host = await HostCluster.start({ kit, ports, nodes: 3, keepDir: values.keep });
  console.error(`host bed up (${since()})`);
  const dir = await mkdtemp(join(tmpdir(), 'vnest-peer-vcluster-'));
  let peer: VclusterPeer | undefined;
  try {
    const tStart = performance.now();
    peer = await startVclusterPeer({ kit, ports, host, hostNamespace: 'vcluster', dir, build });
    console.error(`vcluster peer ready in ${((performance.now() - tStart) / 1000).toFixed(1)} s (probe pod synced and Running); pids ${JSON.stringify(peer.processes())}`);

    const tenantKubeconfig = values.direct ? peer.directKubeconfigPath : peer.virtualKubeconfigPath;
    const client = await KubeClient.fromKubeconfigFile(tenantKubeconfig);
    const hostClient = await KubeClient.fromKubeconfigFile(host.kubeconfigPath);
    await kubectlOk(kit.bin.kubectl, tenantKubeconfig, ['create', 'namespace', 'smoke']);
    await waitFor('the default ServiceAccount of namespace smoke', async () => (await kubectlOk(kit.bin.kubectl, tenantKubeconfig, ['-n', 'smoke', 'get', 'sa', '-o', 'name'])).includes('default'), { timeoutMs: 60_000 });
    // What every 10 pods of the benchmark share (run.ts createGroupObjects), once.
    const pvs = { group: '', version: 'v1', plural: 'persistentvolumes', kind: 'PersistentVolume', namespaced: false };
    await client.create(types.configmaps, 'smoke', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg-0' }, data: { k: 'v' } });
    await client.create(types.services, 'smoke', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc-0' }, spec: { selector: { group: 'g0' }, ports: [{ port: 80 }] } });
    await hostClient.create(pvs, undefined, { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'smoke-pv-0' }, spec: { storageClassName: 'smoke', capacity: { storage: '1Mi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: '/tmp/smoke-pv-0' } } });
    await client.create(types.pvcs, 'smoke', { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'claim-0' }, spec: { storageClassName: 'smoke', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Mi' } } } });
    const requests0 = await peer.requestCounts();
    const cpu0 = await cpuMs(peer.pid);
    const t0 = performance.now();
    for (let i = 0; i < pods; i++) {
      await client.create(types.pods, 'smoke', {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: `pod-${i}`, namespace: 'smoke', labels: { group: 'g0' } },
        spec: {
          containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10', volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }] }],
          volumes: [{ name: 'cfg', configMap: { name: 'cfg-0' } }], terminationGracePeriodSeconds: 0,
        },
      });
    }
    const created = performance.now() - t0;
    type Pod = KubeObject & { status?: { phase?: string } };
    await waitFor(`${pods} pods Running in the tenant`, async () => (await client.list<Pod>(types.pods, 'smoke')).items.filter((p) => p.status?.phase === 'Running').length === pods, { timeoutMs: 120_000, intervalMs: 100, check: () => undefined });
    const running = performance.now() - t0;
    await waitFor('the claim Bound in the tenant', async () => (await client.list<Pod>(types.pvcs, 'smoke')).items.every((c) => c.status?.phase === 'Bound'), { timeoutMs: 120_000, intervalMs: 250 });
    const bound = performance.now() - t0;
    const hostPods = (await hostClient.list<Pod>(types.pods, 'vcluster', { labelSelector: peer.hostPodSelector })).items;
    console.error(`host pods: ${hostPods.map((p) => `${p.metadata.name} (${p.status?.phase})`).join(', ')}`);
    for (const rt of [types.configmaps, types.services, types.pvcs]) {
      const names = (await hostClient.list(rt, 'vcluster', { labelSelector: peer.hostPodSelector })).items.map((o) => o.metadata.name);
      console.error(`host ${rt.plural}: ${names.join(', ')}`);
    }
    await client.request('DELETE', '/api/v1/namespaces/smoke/pods');
    await waitFor('the host pods gone', async () => (await hostClient.list(types.pods, 'vcluster', { labelSelector: peer?.hostPodSelector })).items.length === 0, { timeoutMs: 120_000, intervalMs: 100 });
    const gone = performance.now() - t0;
    const cpu1 = await cpuMs(peer.pid);
    const requests1 = await peer.requestCounts();
    const result = {
      peer: 'vcluster', via: values.direct ? 'kube-apiserver' : 'vcluster proxy', pods, createdMs: Math.round(created), allRunningMs: Math.round(running), claimBoundMs: Math.round(bound), allGoneOnHostMs: Math.round(gone),
      hostPods: hostPods.length, syncerCpuMs: Math.round(cpu1 - cpu0), syncerRssMb: await peakRssMb(peer.pid),
      hostWrites: requests1.host.writes - requests0.host.writes, virtualWrites: requests1.virtual.writes - requests0.virtual.writes,
      hostWritesByMethod: diff(requests1.host.byMethod, requests0.host.byMethod), virtualWritesByMethod: diff(requests1.virtual.byMethod, requests0.virtual.byMethod),
    };
    console.log(JSON.stringify(result));
    client.close();
    hostClient.close();
  } catch (err) {
    if (peer) console.error(peer.logTails(40));
    throw err;
  } finally {
    await peer?.stop();
    await host.stop();
    if (!values.keep) await rm(dir, { recursive: true, force: true });
    else console.error(`kept ${dir} and ${host.controlPlane.dir}`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
