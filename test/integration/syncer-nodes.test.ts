// Nodes and RuntimeClasses against real components: in "all" node sync a tenant sees every host
// node its pods may run on (those the operator's node selector picks, and no other), mirrored with
// the host's taints, cordon and readiness; the host's permitted RuntimeClasses appear read-only in
// the tenant, and a pod's runtime class reaches the host only as a permitted host class. The syncer
// runs with exactly the host rights it declares.
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { hostClusterRoleRules } from '../../src/syncer/resources/index.ts';
import type { RunningSyncer } from '../../src/syncer/run.ts';
import { hostName } from '../../src/translate/names.ts';
import { useEnvironment } from '../helpers.ts';
import { eventually, hostNamespace, TenantBed, type List } from '../tenant-bed.ts';

const tenant = 'nodes';
const ns = 'app';
const pause = 'registry.k8s.io/pause:3.10';
const managed = 'vnest.dev/managed';

type Json = Record<string, any>;
interface NodeJson {
  metadata: { name: string; uid: string; labels: Record<string, string> };
  spec: { taints?: Array<{ key: string; value?: string; effect: string }>; unschedulable?: boolean };
  status: { conditions?: Array<{ type: string; status: string }> };
}
interface EventJson {
  involvedObject: { name: string; kind: string };
  reason: string;
  message: string;
  type: string;
}

const pod = (name: string, spec: Json = {}): Json => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns }, spec: { containers: [{ name: 'c', image: pause }], ...spec },
});
const runtimeClass = (name: string, handler: string, cpu?: string): Json => ({
  apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name }, handler,
  ...(cpu ? { overhead: { podFixed: { cpu, memory: '1Mi' } } } : {}),
});
/** As the e2e framework counts them: schedulable, Ready, and without a NoSchedule or NoExecute taint. */
const untainted = (n: NodeJson) => !n.spec.unschedulable && n.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True'
  && (n.spec.taints ?? []).every((t) => t.effect === 'PreferNoSchedule');

describe('syncer: nodes and runtime classes', () => {
  const env = useEnvironment(() => TenantBed.start([tenant]));
  const bed = () => env.current;
  const kubectl = (args: string[]) => bed().kubectlRun(tenant, args);
  /** Creates `obj` in the tenant's cluster, or the host's with `host`. */
  const create = async (obj: Json, host = false) => {
    const res = await bed().kubectlRun(host ? undefined : tenant, ['create', '-f', '-'], JSON.stringify(obj));
    expect(res.code, `${host ? 'the host' : 'the tenant'} API accepts ${obj.kind} ${obj.metadata.name}: ${res.stderr}`).toBe(0);
  };
  const apply = (obj: Json) => create(obj);
  const hostCreate = (obj: Json) => create(obj, true);
  const vNodes = async () => (await bed().virtualJson<List<NodeJson>>(tenant, 'get', 'nodes')).items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const vNode = async (name: string) => (await vNodes()).find((n) => n.metadata.name === name);
  const hostGet = async (...args: string[]): Promise<Json | undefined> => {
    const res = await bed().kubectlRun(undefined, [...args, '-o', 'json']);
    return res.code === 0 ? JSON.parse(res.stdout) as Json : undefined;
  };
  const virtualGet = async (...args: string[]): Promise<Json | undefined> => {
    const res = await kubectl([...args, '-o', 'json']);
    return res.code === 0 ? JSON.parse(res.stdout) as Json : undefined;
  };
  const warning = (name: string, contains: string) =>
    eventually(`a SyncRefused warning on pod ${name} naming ${contains}`, async () => {
      const events = (await bed().virtualJson<List<EventJson>>(tenant, '-n', ns, 'get', 'events')).items;
      return events.find((e) => e.involvedObject.name === name && e.reason === 'SyncRefused' && e.type === 'Warning' && e.message.includes(contains));
    });

  let running: RunningSyncer;
  beforeAll(async () => {
    // Two of the three host nodes are for tenants; one host class is permitted, one is not.
    await bed().hostKubectl('label', 'node', 'kwok-node-0', 'kwok-node-1', 'pool=tenants');
    await hostCreate(runtimeClass('gvisor', 'runsc', '10m'));
    await hostCreate(runtimeClass('kata', 'kata'));
    // A class the tenant made under a permitted name, before the syncer runs: the host's replaces it.
    await apply(runtimeClass('gvisor', 'evil'));
    const restricted = await bed().restrictedHostKubeconfig(tenant, { clusterRules: hostClusterRoleRules('all', [], { runtimeClasses: true }) });
    running = await bed().startSyncer(tenant, { hostKubeconfig: restricted, nodeSync: 'all', nodeSelector: 'pool=tenants', runtimeClasses: 'gvisor' });
    await bed().virtualKubectl(tenant, 'create', 'namespace', ns);
    await eventually('default service account', async () => (await kubectl(['-n', ns, 'get', 'sa', 'default'])).code === 0);
  });

  it('shows every host node the node selector picks before any pod runs, Ready and untainted, and no other node', async () => {
    const nodes = await eventually('two untainted virtual nodes', async () => {
      const items = await vNodes();
      return items.length === 2 && items.every(untainted) ? items : undefined;
    });
    expect(nodes.map((n) => n.metadata.name)).toEqual(['kwok-node-0', 'kwok-node-1']);
    for (const n of nodes) expect(n.metadata.labels).toMatchObject({ pool: 'tenants', type: 'kwok', 'kubernetes.io/hostname': n.metadata.name, [managed]: 'true' });
  });

  it('writes nothing while nothing the tenant sees changes: no Lease, no heartbeat, whatever else a host node reports', async () => {
    const writes = () => ({ ...running.syncer.context.virtual.counters.writesBy, host: running.syncer.context.host.counters.writes });
    const before = writes();
    // A host node update the tenant does not see (its annotations are not mirrored) is looked at.
    await bed().hostKubectl('annotate', 'node', 'kwok-node-0', 'kwok-node-1', 'example.com/touched=1');
    await sleep(5000);
    expect(writes()).toEqual(before);
  });

  it('follows the host node\'s cordon and taints, and puts back a tenant\'s change to them and to its labels', async () => {
    await bed().hostKubectl('cordon', 'kwok-node-1');
    await bed().hostKubectl('taint', 'node', 'kwok-node-1', 'dedicated=db:NoSchedule');
    const cordoned = await eventually('kwok-node-1 cordoned and tainted in the tenant', async () => {
      const n = await vNode('kwok-node-1');
      return n?.spec.unschedulable && n.spec.taints?.some((t) => t.key === 'dedicated') ? n : undefined;
    });
    expect(cordoned.spec.taints).toContainEqual({ key: 'dedicated', value: 'db', effect: 'NoSchedule' });
    await bed().hostKubectl('uncordon', 'kwok-node-1');
    await bed().hostKubectl('taint', 'node', 'kwok-node-1', 'dedicated-');
    await eventually('kwok-node-1 schedulable again in the tenant', async () => {
      const n = await vNode('kwok-node-1');
      return n && untainted(n);
    });

    await bed().virtualKubectl(tenant, 'taint', 'node', 'kwok-node-0', 'evil=yes:NoSchedule');
    await bed().virtualKubectl(tenant, 'label', 'node', 'kwok-node-0', 'evil=yes', 'pool=mine', '--overwrite');
    await bed().virtualKubectl(tenant, 'cordon', 'kwok-node-0');
    const restored = await eventually('kwok-node-0 as the host has it', async () => {
      const n = await vNode('kwok-node-0');
      return n && untainted(n) && !('evil' in n.metadata.labels) && n.metadata.labels.pool === 'tenants' ? n : undefined;
    });
    expect(restored.spec.unschedulable).toBeFalsy();
  });

  it('shows a host node once it matches the node selector, and removes it once it does not', async () => {
    await bed().hostKubectl('label', 'node', 'kwok-node-2', 'pool=tenants');
    await eventually('kwok-node-2 in the tenant', async () => (await vNodes()).length === 3);
    await bed().hostKubectl('label', 'node', 'kwok-node-2', 'pool-');
    await eventually('kwok-node-2 gone from the tenant', async () => (await vNodes()).every((n) => n.metadata.name !== 'kwok-node-2'));
  });

  it('places every pod by the node selector, and refuses a pod asking for other nodes by that label', async () => {
    for (const name of ['p1', 'p2', 'p3']) await apply(pod(name));
    await apply(pod('elsewhere', { nodeSelector: { pool: 'system' } }));
    const placed = await eventually('three host pods on nodes', async () => {
      const items = (await bed().hostJson<List<Json>>('-n', hostNamespace, 'get', 'pods', '-l', `vnest.dev/tenant=${tenant}`)).items;
      return items.length === 3 && items.every((p) => p.spec.nodeName) ? items : undefined;
    });
    for (const p of placed) {
      expect(p.spec.nodeSelector).toEqual({ pool: 'tenants' });
      expect(['kwok-node-0', 'kwok-node-1']).toContain(p.spec.nodeName);
    }
    const e = await warning('elsewhere', 'spec.nodeSelector.pool');
    expect(e.message).toContain('pool=tenants');
    expect(await hostGet('-n', hostNamespace, 'get', 'pod', hostName('elsewhere', ns, tenant))).toBeUndefined();
  });

  it('shows the permitted host RuntimeClasses read-only, replacing a tenant\'s own class of that name, and no other', async () => {
    const copy = await eventually('the host\'s gvisor class in the tenant', async () => {
      const rc = await virtualGet('get', 'runtimeclass', 'gvisor');
      return rc?.handler === 'runsc' ? rc : undefined;
    });
    expect(copy.metadata.labels).toEqual({ [managed]: 'true' });
    expect(copy.overhead).toEqual({ podFixed: { cpu: '10m', memory: '1Mi' } });
    expect(await virtualGet('get', 'runtimeclass', 'kata')).toBeUndefined();

    await bed().virtualKubectl(tenant, 'label', 'runtimeclass', 'gvisor', 'evil=yes');
    await eventually('the tenant\'s label on gvisor removed', async () => {
      const rc = await virtualGet('get', 'runtimeclass', 'gvisor');
      return rc && !('evil' in (rc.metadata.labels ?? {}));
    });
    await bed().virtualKubectl(tenant, 'delete', 'runtimeclass', 'gvisor');
    await eventually('gvisor back in the tenant', async () => {
      const rc = await virtualGet('get', 'runtimeclass', 'gvisor');
      return rc?.handler === 'runsc' && rc.metadata.uid !== copy.metadata.uid;
    });
  });

  it('syncs a pod naming a permitted class with that class; the host gives it the class\'s overhead', async () => {
    await apply(pod('sandboxed', { runtimeClassName: 'gvisor' }));
    const h = await eventually('the host pod of sandboxed on a node', async () => {
      const p = await hostGet('-n', hostNamespace, 'get', 'pod', hostName('sandboxed', ns, tenant));
      return p?.spec.nodeName ? p : undefined;
    });
    expect(h.spec.runtimeClassName).toBe('gvisor');
    expect(h.spec.overhead).toEqual({ cpu: '10m', memory: '1Mi' });
    await eventually('sandboxed bound in the tenant', async () => Boolean((await virtualGet('-n', ns, 'get', 'pod', 'sandboxed'))?.spec.nodeName));
  });

  it('runs a pod naming a class the tenant made with the permitted host class of the same handler, as the RuntimeClass conformance test asks', async () => {
    await apply(runtimeClass('app-preconfigured-handler', 'runsc', '20m'));
    await apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: ns }, data: { MODE: 'sandboxed' } });
    await apply(pod('own-class', { runtimeClassName: 'app-preconfigured-handler', containers: [{ name: 'c', image: pause, envFrom: [{ configMapRef: { name: 'settings' } }] }] }));
    const v = await eventually('own-class scheduled in the tenant', async () => {
      const p = await virtualGet('-n', ns, 'get', 'pod', 'own-class');
      return p?.spec.nodeName ? p : undefined;
    });
    // The tenant's admission set the overhead of the tenant's class; the host's, of the host class.
    expect(v.spec.overhead).toEqual({ cpu: '20m', memory: '1Mi' });
    const h = await hostGet('-n', hostNamespace, 'get', 'pod', hostName('own-class', ns, tenant));
    expect(h?.spec.runtimeClassName).toBe('gvisor');
    expect(h?.spec.overhead).toEqual({ cpu: '10m', memory: '1Mi' });
    expect(await hostGet('get', 'runtimeclass', 'app-preconfigured-handler')).toBeUndefined();
    // What it references reaches the host with it.
    await eventually('the host copy of the ConfigMap it references', () => hostGet('-n', hostNamespace, 'get', 'configmap', hostName('settings', ns, tenant)));
  });

  it('refuses a pod whose class has a handler no permitted host class has, and nothing reaches the host', async () => {
    await apply(runtimeClass('my-kata', 'kata'));
    await apply(pod('kata-pod', { runtimeClassName: 'my-kata' }));
    const e = await warning('kata-pod', 'spec.runtimeClassName');
    expect(e.message).toContain('runtime class my-kata is not permitted on this host (permitted: gvisor)');
    await sleep(1000);
    expect(await hostGet('-n', hostNamespace, 'get', 'pod', hostName('kata-pod', ns, tenant))).toBeUndefined();
    expect(await hostGet('get', 'runtimeclass', 'my-kata')).toBeUndefined();
    // The host's classes are as the operator made them: the tenant's edits stayed in its cluster.
    expect((await hostGet('get', 'runtimeclass', 'gvisor'))?.metadata.labels).toBeUndefined();
  });
});
