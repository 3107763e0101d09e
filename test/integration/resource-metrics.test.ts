// `kubectl top` in a tenant, through its front door only, over a host with a real metrics-server
// scraping kwok's emulated kubelet resource metrics: the tenant's own pods under their virtual
// names, the nodes they run on and no others, the tenant's RBAC on pods.metrics.k8s.io, and a
// clear 503 once the host has no metrics API.
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { kubectlOk, runKubectl } from '../../src/local/kubectl.ts';
import type { RunningSyncer } from '../../src/syncer/run.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';
import { eventually, hostNamespace, TenantBed } from '../tenant-bed.ts';

const tenant = 'top';
const usage = (cpu: string, memory: string) => ({ 'kwok.x-k8s.io/usage-cpu': cpu, 'kwok.x-k8s.io/usage-memory': memory });

/** A pod on kwok-node-0 whose emulated usage its annotations set. */
function pod(namespace: string, name: string, labels: Record<string, string>, cpu: string, memory: string) {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels, annotations: usage(cpu, memory) },
    spec: { nodeSelector: { 'kubernetes.io/hostname': 'kwok-node-0' }, containers: [{ name: 'app', image: 'busybox' }] },
  };
}

const millicores = (v: string | undefined) => (v?.endsWith('m') ? Number(v.slice(0, -1)) : Number(v) * 1000);
/** A CPU quantity as metrics-server writes it (nanocores, or canonically shorter) in millicores. */
const cpuMillicores = (v: string | undefined) => {
  const m = /^(\d+)([num]?)$/.exec(v ?? '');
  return m ? Number(m[1]) * ({ n: 1e-6, u: 1e-3, m: 1, '': 1000 }[m[2] ?? ''] ?? 0) : NaN;
};

describe('kubectl top in a tenant', () => {
  const env = useEnvironment(() => TenantBed.start([tenant], { metricsServer: true }));
  const bed = () => env.current;
  let kubeconfig = '';
  const kubectl = async (...args: string[]) => kubectlOk((await kit()).bin.kubectl, kubeconfig, args);
  const kubectlRun = async (...args: string[]) => runKubectl((await kit()).bin.kubectl, kubeconfig, args);

  let port = 0;
  let syncerFlags: Record<string, unknown> = {};
  let running: RunningSyncer | undefined;
  /** A GET to the front door with the exported kubeconfig's credentials and this Accept header. */
  const doorGet = async (path: string, accept: string): Promise<{ contentType: string; body: string }> => {
    const doc = parse(await readFile(kubeconfig, 'utf8')) as { clusters: Array<{ cluster: Record<string, string> }>; users: Array<{ user: Record<string, string> }> };
    const b64 = (v: string | undefined) => Buffer.from(v ?? '', 'base64').toString();
    return new Promise((resolve, reject) => {
      const req = request({
        host: '127.0.0.1', port, path, headers: { accept },
        ca: b64(doc.clusters[0]?.cluster['certificate-authority-data']), cert: b64(doc.users[0]?.user['client-certificate-data']), key: b64(doc.users[0]?.user['client-key-data']),
      }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ contentType: String(res.headers['content-type']), body }));
      });
      req.on('error', reject);
      req.end();
    });
  };

  beforeAll(async () => {
    port = await ports.next();
    // Only the host rights the chart grants with resourceMetrics.enabled.
    const restricted = await bed().restrictedHostKubeconfig(tenant, { resourceMetrics: true });
    syncerFlags = { hostKubeconfig: restricted, listenPort: port, listenAddress: '127.0.0.1', kubeconfigServer: `https://127.0.0.1:${port}`, hostAnnotations: ['kwok.x-k8s.io/usage-cpu', 'kwok.x-k8s.io/usage-memory'] };
    running = await bed().startSyncer(tenant, { ...syncerFlags, resourceMetrics: true });
    const secret = await bed().hostJson<{ data: Record<string, string> }>('-n', hostNamespace, 'get', 'secret', `${tenant}-kubeconfig`);
    kubeconfig = join(bed().host.controlPlane.dir, 'top.kubeconfig');
    await writeFile(kubeconfig, Buffer.from(secret.data.config ?? '', 'base64'));
    await kubectl('create', 'namespace', 'web');
    await kubectl('create', 'namespace', 'jobs');
    const pods = [pod('web', 'api', { app: 'api' }, '250m', '64Mi'), pod('web', 'worker', { app: 'worker' }, '100m', '32Mi'), pod('jobs', 'batch', { app: 'batch' }, '500m', '128Mi')];
    await kubectlOk((await kit()).bin.kubectl, kubeconfig, ['apply', '-f', '-'], { input: pods.map((p) => JSON.stringify(p)).join('\n') });
    // A pod of the host's own in the tenant's namespace, on a node no tenant pod runs on.
    const bystander = { ...pod(hostNamespace, 'bystander', { app: 'api' }, '900m', '512Mi'), spec: { nodeName: 'kwok-node-2', containers: [{ name: 'app', image: 'busybox' }] } };
    await kubectlOk((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['apply', '-f', '-'], { input: JSON.stringify(bystander) });
    // metrics-server needs two scrapes of a pod (10 s apart) for its CPU rate.
    await eventually('metrics of the tenant\'s pods', async () => {
      const out = await kubectlRun('top', 'pod', '-A', '--no-headers');
      return out.code === 0 && out.stdout.trim().split('\n').length === 3 && out.stdout;
    }, 120_000);
  }, 300_000);

  it('lists the tenant\'s pods by their virtual names and namespaces, with their usage', async () => {
    const all = await kubectl('top', 'pod', '-A', '--no-headers');
    const rows = all.trim().split('\n').map((l) => l.trim().split(/\s+/));
    expect(rows.map(([ns, name, , memory]) => [ns, name, memory])).toEqual([['jobs', 'batch', '128Mi'], ['web', 'api', '64Mi'], ['web', 'worker', '32Mi']]);
    // CPU is a rate between two scrapes: a millicore or so either way.
    expect(rows.map((r) => millicores(r[2]))).toEqual([expect.closeTo(500, -1), expect.closeTo(250, -1), expect.closeTo(100, -1)]);
    expect(all).not.toContain('bystander');
    expect(all).not.toContain('-x-');
    const web = await kubectl('top', 'pod', '-n', 'web', '--no-headers');
    expect(web.trim().split('\n').map((l) => l.split(/\s+/)[0])).toEqual(['api', 'worker']);
    expect((await kubectl('top', 'pod', '-n', 'web', '-l', 'app=api', '--no-headers')).trim().split(/\s+/)).toEqual(['api', expect.stringMatching(/^2[45]\dm$/), '64Mi']);
    expect((await kubectl('top', 'pod', 'batch', '-n', 'jobs', '--containers', '--no-headers')).trim().split(/\s+/)).toEqual(['batch', 'app', expect.stringMatching(/^(49\d|50\d)m$/), '128Mi']);
    expect((await kubectl('top', 'pod', '-A', '--field-selector=metadata.name=worker', '--no-headers')).trim().split(/\s+/).slice(0, 2)).toEqual(['web', 'worker']);
    const missing = await kubectlRun('top', 'pod', 'nothing', '-n', 'web');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('pods.metrics.k8s.io "nothing" not found');
  });

  it('shows the nodes the tenant\'s pods run on and no others', async () => {
    await eventually('the virtual node kwok-node-0', async () => (await kubectl('get', 'nodes', '-o', 'name')).includes('node/kwok-node-0'));
    const nodes = await eventually('node metrics', async () => {
      const out = await kubectlRun('top', 'node', '--no-headers');
      return out.code === 0 && out.stdout.trim() !== '' && out.stdout;
    });
    expect(nodes.trim().split('\n').map((l) => l.split(/\s+/)[0])).toEqual(['kwok-node-0']);
    // The host sees its own bystander's node; the tenant does not.
    expect(await bed().hostKubectl('get', '--raw', '/apis/metrics.k8s.io/v1beta1/nodes/kwok-node-2')).toContain('"kwok-node-2"');
    const hidden = await kubectlRun('top', 'node', 'kwok-node-2');
    expect(hidden.stderr).toContain('nodes.metrics.k8s.io "kwok-node-2" not found');
  });

  it('kubectl get podmetrics and nodemetrics print metrics-server\'s columns; kubectl explain knows the kinds', async () => {
    const header = (out: string) => out.split('\n')[0]?.trim().split(/\s+/);
    // The host's metrics-server's own columns, for comparison.
    const hostHeader = header(await bed().hostKubectl('get', 'podmetrics', '-n', hostNamespace));
    expect(hostHeader).toEqual(['NAME', 'CPU', 'MEMORY', 'WINDOW']);
    const web = (await kubectl('get', 'podmetrics', '-n', 'web')).trim().split('\n');
    expect(header(web.join('\n'))).toEqual(hostHeader);
    expect(web.slice(1).map((l) => l.trim().split(/\s+/)).map(([name, cpu, memory, window]) => [name, cpuMillicores(cpu), memory, /^[\d.]+s$/.test(window ?? '')]))
      .toEqual([['api', expect.closeTo(250, -1), '64Mi', true], ['worker', expect.closeTo(100, -1), '32Mi', true]]);
    const all = await kubectl('get', 'podmetrics', '-A', '--no-headers');
    expect(all.trim().split('\n').map((l) => l.trim().split(/\s+/).slice(0, 2))).toEqual([['jobs', 'batch'], ['web', 'api'], ['web', 'worker']]);
    expect((await kubectl('get', 'podmetrics', 'batch', '-n', 'jobs', '--no-headers')).trim().split(/\s+/)[2]).toBe('128Mi');
    expect((await kubectl('get', 'nodemetrics', '--no-headers')).trim().split('\n').map((l) => l.split(/\s+/)[0])).toEqual(['kwok-node-0']);
    // -o json still gets the objects, not a Table.
    expect((JSON.parse(await kubectl('get', 'podmetrics', '-n', 'web', '-o', 'json')) as { items: Array<{ kind: string }> }).items.map((i) => i.kind)).toEqual(['PodMetrics', 'PodMetrics']);
    // The schema is the host's metrics-server's.
    const explain = await kubectl('explain', 'podmetrics.containers');
    expect(explain).toContain('KIND:       PodMetrics');
    expect(explain).toContain('usage');
    expect(await kubectl('explain', 'nodemetrics')).toContain('KIND:       NodeMetrics');
  });

  it('lists the group in discovery, plain and aggregated', async () => {
    expect(await kubectl('api-versions')).toContain('metrics.k8s.io/v1beta1');
    const plain = JSON.parse(await kubectl('get', '--raw', '/apis')) as { kind: string; groups?: Array<{ name: string }> };
    expect(plain.groups?.map((g) => g.name)).toContain('metrics.k8s.io');
    expect(await kubectl('api-resources', '--api-group=metrics.k8s.io', '-o', 'name')).toBe('nodes.metrics.k8s.io\npods.metrics.k8s.io\n');
    // As client-go asks for it (protobuf first, which the front door does not offer for /apis).
    const aggregated = await doorGet('/apis', 'application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json');
    expect(aggregated.contentType).toContain('as=APIGroupDiscoveryList');
    const list = JSON.parse(aggregated.body) as { kind: string; items: Array<{ metadata: { name: string }; versions: Array<{ version: string; resources: Array<{ resource: string }> }> }> };
    expect(list.kind).toBe('APIGroupDiscoveryList');
    const group = list.items.find((g) => g.metadata.name === 'metrics.k8s.io');
    expect(group?.versions.map((v) => `${v.version}:${v.resources.map((r) => r.resource).join(',')}`)).toEqual(['v1beta1:nodes,pods']);
    expect(list.items.filter((g) => g.metadata.name === 'apps')).toHaveLength(1);
  });

  it('authorises by the tenant\'s RBAC on pods.metrics.k8s.io', async () => {
    const refused = await kubectlRun('--as=jane', 'top', 'pod', '-n', 'web');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('User "jane" cannot list resource "pods" in API group "metrics.k8s.io" in the namespace "web"');
    await kubectl('-n', 'web', 'create', 'role', 'top', '--verb=get,list', '--resource=pods.metrics.k8s.io');
    await kubectl('-n', 'web', 'create', 'rolebinding', 'jane-top', '--role=top', '--user=jane');
    const allowed = await eventually('jane\'s RoleBinding in effect', async () => {
      const out = await kubectlRun('--as=jane', 'top', 'pod', '-n', 'web', '--no-headers');
      return out.code === 0 && out.stdout;
    });
    expect(allowed).toContain('api');
    expect((await kubectlRun('--as=jane', 'top', 'pod', '-n', 'jobs')).stderr).toContain('cannot list resource "pods" in API group "metrics.k8s.io" in the namespace "jobs"');
    expect((await kubectlRun('--as=jane', 'top', 'node')).stderr).toContain('cannot list resource "nodes" in API group "metrics.k8s.io" at the cluster scope');
  });

  it('answers 503 with what to do once the host has no metrics API', async () => {
    await bed().hostKubectl('delete', 'apiservice', 'v1beta1.metrics.k8s.io');
    const out = await eventually('a 503 from the front door', async () => {
      const res = await kubectlRun('get', '--raw', '/apis/metrics.k8s.io/v1beta1/namespaces/web/pods');
      return res.code !== 0 && res.stderr.includes('resource metrics are not available') && res.stderr;
    });
    expect(out).toContain('install metrics-server on the host');
    expect((await kubectlRun('top', 'pod', '-n', 'web')).stderr).toContain('resource metrics are not available');
  });

  it('leaves metrics.k8s.io to the tenant\'s control plane when the option is off (the default)', async () => {
    if (running) await bed().stopSyncer(running);
    running = await bed().startSyncer(tenant, syncerFlags);
    const off = await kubectlRun('top', 'pod', '-n', 'web');
    expect(off.code).not.toBe(0);
    expect(off.stderr).toContain('Metrics API not available');
    expect(await kubectl('api-versions')).not.toContain('metrics.k8s.io');
  });
});
