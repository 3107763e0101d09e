import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../kube/client.ts';
import { KubeApiError } from '../kube/errors.ts';
import { marks } from '../translate/metadata.ts';
import { hostName } from '../translate/names.ts';
import { classifyMetricsPath, ResourceMetrics, withMetricsGroup, type ResourceMetricsOptions } from './resource-metrics.ts';

const tenant = 't1';
const hostNamespace = 'tenants';

type Pod = KubeObject & { spec: { nodeName?: string; containers: Array<{ name: string }> } };

function vPod(namespace: string, name: string, labels: Record<string, string> = {}): Pod {
  return { metadata: { name, namespace, uid: `uid-${namespace}-${name}`, labels }, spec: { containers: [{ name: 'app' }] } };
}

/** The host copy of `v` as the syncer marks it. */
function hPod(v: Pod, node: string, over: { tenant?: string; uid?: string } = {}): Pod {
  return {
    metadata: {
      name: hostName(v.metadata.name, v.metadata.namespace ?? '', tenant), namespace: hostNamespace,
      labels: { [marks.tenant]: over.tenant ?? tenant },
      annotations: { [marks.objectName]: v.metadata.name, [marks.objectNamespace]: v.metadata.namespace ?? '', [marks.objectUid]: over.uid ?? v.metadata.uid ?? '', [marks.objectKind]: 'Pod' },
    },
    spec: { nodeName: node, containers: [{ name: 'app' }] },
  };
}

function informer(objs: KubeObject[]): ResourceMetricsOptions['hostPods'] {
  const byKey = new Map(objs.map((o) => [`${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`, o]));
  return { get: (k: string) => byKey.get(k), list: () => [...byKey.values()] };
}

const podMetrics = (p: Pod, containers = ['app']) => ({
  kind: 'PodMetrics', apiVersion: 'metrics.k8s.io/v1beta1',
  metadata: { name: p.metadata.name, namespace: p.metadata.namespace, creationTimestamp: '2026-11-23T20:00:00Z', labels: p.metadata.labels },
  timestamp: '2026-11-23T19:59:50Z', window: '10s',
  containers: containers.map((name) => ({ name, usage: { cpu: '250m', memory: '64Mi' } })),
});

const notFound = (path: string, name?: string) => KubeApiError.fromStatus('GET', path, { kind: 'Status', code: 404, reason: 'NotFound', message: 'not found', ...(name ? { details: { name } } : {}) });

/** A client answering from a table of paths; every path asked is recorded. */
function client(answers: Record<string, unknown>): ResourceMetricsOptions['host'] & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    request: <T,>(_method: string, path: string): Promise<T> => {
      asked.push(path);
      const a = answers[path];
      if (a instanceof Error) return Promise.reject(a);
      if (a === undefined) return Promise.reject(notFound(path));
      return Promise.resolve(structuredClone(a) as T);
    },
  };
}

const podsPath = `/apis/metrics.k8s.io/v1beta1/namespaces/${hostNamespace}/pods`;
const listPath = `${podsPath}?labelSelector=${encodeURIComponent(`${marks.tenant}=${tenant}`)}`;

describe('resource metrics paths', () => {
  it('reads the metrics.k8s.io paths kubectl top uses, and nothing else', () => {
    expect(classifyMetricsPath('/apis/metrics.k8s.io')).toEqual({ kind: 'group' });
    expect(classifyMetricsPath('/apis/metrics.k8s.io/v1beta1/')).toEqual({ kind: 'resources' });
    expect(classifyMetricsPath('/apis/metrics.k8s.io/v1beta1/pods')).toEqual({ kind: 'pods' });
    expect(classifyMetricsPath('/apis/metrics.k8s.io/v1beta1/namespaces/web/pods')).toEqual({ kind: 'pods', namespace: 'web' });
    expect(classifyMetricsPath('/apis/metrics.k8s.io/v1beta1/namespaces/web/pods/api-0')).toEqual({ kind: 'pods', namespace: 'web', name: 'api-0' });
    expect(classifyMetricsPath('/apis/metrics.k8s.io/v1beta1/nodes/kwok-node-0')).toEqual({ kind: 'nodes', name: 'kwok-node-0' });
    expect(classifyMetricsPath('/apis/apps/v1')).toBeUndefined();
    expect(classifyMetricsPath('/apis/metrics.k8s.io.evil/v1')).toBeUndefined();
    for (const bad of ['/apis/metrics.k8s.io/v1', '/apis/metrics.k8s.io/v1beta1/namespaces/web/pods/a/b', '/apis/metrics.k8s.io/v1beta1/namespaces/Web/pods', '/apis/metrics.k8s.io/v1beta1/secrets']) {
      expect(classifyMetricsPath(bad)).toMatchObject({ kind: 'unknown' });
    }
  });

  it('adds the group to both discovery forms, in place of one the tenant registered itself', () => {
    const legacy = withMetricsGroup({ kind: 'APIGroupList', groups: [{ name: 'apps' }, { name: 'metrics.k8s.io', versions: [{ groupVersion: 'metrics.k8s.io/v1', version: 'v1' }] }] }) as { groups: Array<{ name: string; preferredVersion?: { version: string } }> };
    expect(legacy.groups.map((g) => g.name)).toEqual(['apps', 'metrics.k8s.io']);
    expect(legacy.groups[1]?.preferredVersion?.version).toBe('v1beta1');
    const aggregated = withMetricsGroup({ kind: 'APIGroupDiscoveryList', items: [{ metadata: { name: 'apps' } }, { metadata: { name: 'metrics.k8s.io' } }] }) as { items: Array<{ metadata: { name: string }; versions?: Array<{ resources: Array<{ resource: string; scope: string }> }> }> };
    expect(aggregated.items.map((g) => g.metadata.name)).toEqual(['apps', 'metrics.k8s.io']);
    expect(aggregated.items[1]?.versions?.[0]?.resources.map((r) => `${r.resource}:${r.scope}`)).toEqual(['nodes:Cluster', 'pods:Namespaced']);
    expect(withMetricsGroup({ kind: 'Status' })).toEqual({ kind: 'Status' });
  });
});

describe('resource metrics from the host', () => {
  const web = vPod('web', 'api', { app: 'api' });
  const jobs = vPod('jobs', 'batch', { app: 'batch' });
  const web2 = vPod('web', 'cache', { app: 'cache' });
  const copies = [hPod(web, 'node-a'), hPod(jobs, 'node-b'), hPod(web2, 'node-a', { uid: 'an-old-uid' })];
  // Another tenant's pod in the same namespace, and a host pod claiming to be web/api without the marks' tenant.
  const foreign = { ...hPod(vPod('web', 'api'), 'node-c', { tenant: 'other' }), metadata: { ...hPod(vPod('web', 'api'), 'node-c', { tenant: 'other' }).metadata, name: 'api-x-web-x-other' } };
  const hostList = { kind: 'PodMetricsList', items: [...copies, foreign].map((p) => podMetrics(p, ['app', 'vnest-extra'])) };

  const make = (answers: Record<string, unknown>, virtualNodes: string[] = ['node-a', 'node-b', 'node-c']) => {
    const host = client(answers);
    const virtual = client({ '/api/v1/nodes': { items: virtualNodes.map((n) => ({ metadata: { name: n, labels: { 'kubernetes.io/hostname': n, tier: n === 'node-a' ? 'front' : 'back' } } })) } });
    const metrics = new ResourceMetrics({ tenant, hostNamespace, host, virtual, virtualPods: informer([web, jobs, web2]), hostPods: informer([...copies, foreign]) });
    return { host, virtual, metrics };
  };

  it('lists the PodMetrics of the tenant\'s own host pods under their virtual names, asking the host for its namespace only', async () => {
    const { host, metrics } = make({ [listPath]: hostList });
    const all = await metrics.pods(undefined, undefined) as { kind: string; items: Array<{ metadata: { name: string; namespace?: string; labels?: Record<string, string> }; containers: Array<{ name: string }> }> };
    expect(all.kind).toBe('PodMetricsList');
    // web/cache's host copy carries another UID (a stale copy): not the tenant's pod's metrics.
    expect(all.items.map((m) => `${m.metadata.namespace}/${m.metadata.name}`)).toEqual(['jobs/batch', 'web/api']);
    expect(all.items[1]?.metadata.labels).toEqual({ app: 'api' });
    expect(all.items[1]?.containers.map((c) => c.name)).toEqual(['app']);
    expect(host.asked).toEqual([listPath]);
    const inWeb = await metrics.pods('web', undefined) as typeof all;
    expect(inWeb.items.map((m) => m.metadata.name)).toEqual(['api']);
    const selected = await metrics.pods(undefined, undefined, 'app in (batch)') as typeof all;
    expect(selected.items.map((m) => m.metadata.name)).toEqual(['batch']);
    await expect(metrics.pods(undefined, undefined, 'app in (')).rejects.toMatchObject({ code: 400 });
    const byField = async (selector: string) => ((await metrics.pods(undefined, undefined, undefined, selector)) as typeof all).items.map((m) => `${m.metadata.namespace}/${m.metadata.name}`);
    expect(await byField('metadata.namespace!=web')).toEqual(['jobs/batch']);
    expect(await byField('metadata.namespace==web,metadata.name=api')).toEqual(['web/api']);
    expect(await byField('metadata.name=api-x-web-x-t1')).toEqual([]);
    await expect(metrics.pods(undefined, undefined, undefined, 'spec.nodeName=node-a')).rejects.toMatchObject({ code: 400, message: expect.stringContaining('metadata.name or metadata.namespace') as unknown });
  });

  it('gets one pod\'s metrics by its copy, and says NotFound for a pod it has no copy or metrics of', async () => {
    const { host, metrics } = make({ [`${podsPath}/${hostName('api', 'web', tenant)}`]: podMetrics(copies[0] as Pod) });
    expect(await metrics.pods('web', 'api')).toMatchObject({ kind: 'PodMetrics', metadata: { name: 'api', namespace: 'web' }, containers: [{ name: 'app', usage: { cpu: '250m' } }] });
    await expect(metrics.pods('web', 'cache')).rejects.toMatchObject({ code: 404, message: 'pods.metrics.k8s.io "cache" not found' });
    await expect(metrics.pods('web', 'nothing')).rejects.toMatchObject({ code: 404 });
    expect(host.asked).toEqual([`${podsPath}/${hostName('api', 'web', tenant)}`]);
    const noMetricsYet = make({ [`${podsPath}/${hostName('api', 'web', tenant)}`]: notFound('x', hostName('api', 'web', tenant)) });
    await expect(noMetricsYet.metrics.pods('web', 'api')).rejects.toMatchObject({ code: 404, message: 'pods.metrics.k8s.io "api" not found' });
  });

  it('asks the host for its OpenAPI index entry once, not per tenant request', async () => {
    const entry = { serverRelativeURL: '/openapi/v3/apis/metrics.k8s.io/v1beta1?hash=AB' };
    const { host, metrics } = make({ '/openapi/v3': { paths: { 'apis/metrics.k8s.io/v1beta1': entry, 'apis/apps/v1': {} } } });
    expect(await Promise.all([metrics.openApiEntry(), metrics.openApiEntry()])).toEqual([entry, entry]);
    expect(await metrics.openApiEntry()).toEqual(entry);
    expect(host.asked).toEqual(['/openapi/v3']);
    // A host without the group has no entry (the tenant's index then lists none).
    expect(await make({ '/openapi/v3': { paths: {} } }).metrics.openApiEntry()).toBeUndefined();
    expect(await make({}).metrics.openApiEntry()).toBeUndefined();
  });

  it('answers 503 with what to do when the host has no metrics API or refuses it', async () => {
    const none = make({});
    await expect(none.metrics.pods(undefined, undefined)).rejects.toMatchObject({ code: 503, message: expect.stringContaining('install metrics-server on the host') as unknown });
    await expect(none.metrics.pods('web', 'api')).rejects.toMatchObject({ code: 503 });
    await expect(none.metrics.nodes(undefined)).rejects.toMatchObject({ code: 503 });
    const refused = make({ [listPath]: KubeApiError.fromStatus('GET', listPath, { code: 403, reason: 'Forbidden', message: 'forbidden' }) });
    await expect(refused.metrics.pods(undefined, undefined)).rejects.toMatchObject({ code: 503, message: expect.stringContaining('resourceMetrics.enabled') as unknown });
  });

  it('shows node metrics only of nodes the tenant\'s pods run on, one host request per node', async () => {
    const nodeMetrics = (n: string) => ({ kind: 'NodeMetrics', metadata: { name: n, labels: { 'host-only': 'x' } }, timestamp: 't', window: '10s', usage: { cpu: '2', memory: '1Gi' } });
    const answers = Object.fromEntries(['node-a', 'node-b', 'node-c'].map((n) => [`/apis/metrics.k8s.io/v1beta1/nodes/${n}`, nodeMetrics(n)]));
    const { host, virtual, metrics } = make(answers);
    const list = await metrics.nodes(undefined) as { items: Array<{ metadata: { name: string; labels?: Record<string, string> }; usage: Record<string, string> }> };
    // node-c is a virtual node the tenant made itself, and runs only another tenant's pod.
    expect(list.items.map((n) => n.metadata.name)).toEqual(['node-a', 'node-b']);
    expect(list.items[0]?.metadata.labels).toEqual({ 'kubernetes.io/hostname': 'node-a', tier: 'front' });
    expect(host.asked.sort()).toEqual(['/apis/metrics.k8s.io/v1beta1/nodes/node-a', '/apis/metrics.k8s.io/v1beta1/nodes/node-b']);
    await expect(metrics.nodes('node-c')).rejects.toMatchObject({ code: 404, message: 'nodes.metrics.k8s.io "node-c" not found' });
    expect(host.asked).toHaveLength(2);
    expect(await metrics.nodes('node-b')).toMatchObject({ kind: 'NodeMetrics', metadata: { name: 'node-b' }, usage: { cpu: '2' } });
    // The selector is the tenant API's to read, on the tenant's node labels.
    await metrics.nodes(undefined, 'tier=front').catch(() => undefined);
    expect(virtual.asked.at(-1)).toBe('/api/v1/nodes?labelSelector=tier%3Dfront');
  });

  it('leaves out a node the tenant does not see as a node any more', async () => {
    const { host, metrics } = make({ '/apis/metrics.k8s.io/v1beta1/nodes/node-a': { metadata: { name: 'node-a' }, usage: {} } }, ['node-a']);
    const list = await metrics.nodes(undefined) as { items: Array<{ metadata: { name: string } }> };
    expect(list.items.map((n) => n.metadata.name)).toEqual(['node-a']);
    expect(host.asked).toEqual(['/apis/metrics.k8s.io/v1beta1/nodes/node-a']);
  });
});
