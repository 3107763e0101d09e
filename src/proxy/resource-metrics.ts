// The tenant's resource metrics API (metrics.k8s.io, what `kubectl top` reads), served by the front
// door from the host's: PodMetrics of the tenant's own host pods, found and named back by their
// vnest marks, and NodeMetrics of the nodes its pods run on. The host is asked for nothing else:
// pod metrics of the host namespace only, node metrics one node at a time.
import type { KubeClient, KubeObject } from '../kube/client.ts';
import { KubeApiError } from '../kube/errors.ts';
import type { Informer } from '../kube/informer.ts';
import { parseSelector } from '../syncer/custom/selector.ts';
import { marks, ownership, virtualKeyOf } from '../translate/metadata.ts';
import { hostName } from '../translate/names.ts';
import { HttpError } from './http-error.ts';

export const metricsGroup = 'metrics.k8s.io';
export const metricsVersion = 'v1beta1';
const groupVersion = `${metricsGroup}/${metricsVersion}`;
const root = `/apis/${groupVersion}`;

/** The group version's key in the OpenAPI v3 index (`/openapi/v3`), and its document's path below it. */
export const metricsOpenApiPath = `apis/${groupVersion}`;

/** What a metrics.k8s.io path asks for. */
export type MetricsRoute =
  | { kind: 'group' }
  | { kind: 'resources' }
  | { kind: 'pods'; namespace?: string; name?: string }
  | { kind: 'nodes'; name?: string };

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const objectName = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/**
 * The route of a path under /apis/metrics.k8s.io, undefined for any other path, or a message for a
 * metrics path that names nothing the API serves.
 */
export function classifyMetricsPath(path: string): MetricsRoute | { kind: 'unknown'; message: string } | undefined {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  if (trimmed === `/apis/${metricsGroup}`) return { kind: 'group' };
  if (trimmed === root) return { kind: 'resources' };
  if (!trimmed.startsWith(`${root}/`) && !trimmed.startsWith(`/apis/${metricsGroup}/`)) return undefined;
  const s = trimmed.slice(root.length + 1).split('/');
  const unknown = { kind: 'unknown' as const, message: `the server could not find the requested resource (${metricsGroup} serves ${metricsVersion} pods and nodes)` };
  if (!trimmed.startsWith(`${root}/`)) return unknown;
  const named = (n: string | undefined) => n !== undefined && objectName.test(n) && n.length <= 253;
  if (s[0] === 'nodes' && s.length <= 2) return s.length === 1 ? { kind: 'nodes' } : named(s[1]) ? { kind: 'nodes', name: s[1] } : unknown;
  if (s[0] === 'pods' && s.length === 1) return { kind: 'pods' };
  if (s[0] === 'namespaces' && s[2] === 'pods' && s.length <= 4 && dnsLabel.test(s[1] ?? '') && (s[1] ?? '').length <= 63) {
    if (s.length === 3) return { kind: 'pods', namespace: s[1] };
    if (named(s[3])) return { kind: 'pods', namespace: s[1], name: s[3] };
  }
  return unknown;
}

/** The API group as discovery (`/apis`, `/apis/metrics.k8s.io`) shows it. */
export const metricsApiGroup = {
  kind: 'APIGroup', apiVersion: 'v1', name: metricsGroup,
  versions: [{ groupVersion, version: metricsVersion }], preferredVersion: { groupVersion, version: metricsVersion },
};

/** `/apis/metrics.k8s.io/v1beta1`: what the group serves. */
export const metricsResourceList = {
  kind: 'APIResourceList', apiVersion: 'v1', groupVersion,
  resources: [
    { name: 'nodes', singularName: '', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
    { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
  ],
};

/** The group in aggregated discovery (apidiscovery.k8s.io APIGroupDiscovery). */
const metricsGroupDiscovery = {
  metadata: { name: metricsGroup, creationTimestamp: null },
  versions: [{
    version: metricsVersion,
    resources: metricsResourceList.resources.map((r) => ({
      resource: r.name, responseKind: { group: '', version: '', kind: r.kind }, scope: r.namespaced ? 'Namespaced' : 'Cluster', singularResource: '', verbs: r.verbs,
    })),
    freshness: 'Current',
  }],
};

/**
 * Adds metrics.k8s.io to a `/apis` discovery document (APIGroupList, or the aggregated
 * APIGroupDiscoveryList), in place of any group of that name the tenant's control plane serves:
 * requests for it come here, never there. Other documents come back unchanged.
 */
export function withMetricsGroup(doc: unknown): unknown {
  const d = doc as { kind?: string; groups?: unknown[]; items?: unknown[] } | null;
  const named = (g: unknown) => (g as { name?: string; metadata?: { name?: string } } | null)?.name === metricsGroup || (g as { metadata?: { name?: string } } | null)?.metadata?.name === metricsGroup;
  if (d?.kind === 'APIGroupList' && Array.isArray(d.groups)) {
    const { kind: _k, apiVersion: _a, ...group } = metricsApiGroup;
    return { ...d, groups: [...d.groups.filter((g) => !named(g)), group] };
  }
  if (d?.kind === 'APIGroupDiscoveryList' && Array.isArray(d.items)) {
    return { ...d, items: [...d.items.filter((g) => !named(g)), metricsGroupDiscovery] };
  }
  return doc;
}

type Usage = Record<string, string>;
interface PodMetrics extends KubeObject { timestamp?: string; window?: string; containers?: Array<{ name: string; usage: Usage }> }
interface NodeMetrics extends KubeObject { timestamp?: string; window?: string; usage?: Usage }
type Pod = KubeObject & { spec?: { nodeName?: string; containers?: Array<{ name: string }> } };

export interface ResourceMetricsOptions {
  tenant: string;
  hostNamespace: string;
  /** The syncer's client of the host (its metrics API is read with it). */
  host: Pick<KubeClient, 'request'>;
  /** The syncer's client of the tenant's control plane (to list virtual nodes by selector). */
  virtual: Pick<KubeClient, 'request'>;
  virtualPods: Pick<Informer<KubeObject>, 'get' | 'list'>;
  hostPods: Pick<Informer<KubeObject>, 'get' | 'list'>;
}

const notFound = (resource: 'pods' | 'nodes', name: string) => new HttpError(404, 'NotFound', `${resource}.${metricsGroup} "${name}" not found`);

/**
 * A problem of the host's metrics API, for the tenant: it has none (404 on the API itself), the
 * syncer may not read it, or it is down. Each is a 503 saying what is wrong; others pass on.
 */
function hostProblem(err: unknown): unknown {
  if (!(err instanceof KubeApiError)) return err;
  if (err.status === 404 && !err.details?.name) {
    return new HttpError(503, 'ServiceUnavailable', `resource metrics are not available: the host cluster serves no ${metricsGroup} API (install metrics-server on the host)`);
  }
  if (err.status === 403) return new HttpError(503, 'ServiceUnavailable', `resource metrics are not available: the host refuses them to this tenant's syncer (its host RBAC lacks ${metricsGroup} reads; the chart grants them with resourceMetrics.enabled): ${err.message}`);
  if (err.status === 503 || err.status === 502 || err.status === 504) return new HttpError(503, 'ServiceUnavailable', `resource metrics are not available: the host's ${metricsGroup} API does not answer (${err.message})`);
  return err;
}

/** How long the host's OpenAPI index entry for metrics.k8s.io is kept. */
const openApiEntryTtlMs = 30_000;

export class ResourceMetrics {
  private readonly opts: ResourceMetricsOptions;
  private entry: { at: number; value: Promise<unknown> } | undefined;

  constructor(opts: ResourceMetricsOptions) {
    this.opts = opts;
  }

  /** The virtual pod a host pod is the copy of, when it is this tenant's own (by its marks). */
  private virtualPodOf(hPod: KubeObject | undefined): Pod | undefined {
    if (!hPod) return undefined;
    const vKey = virtualKeyOf(hPod, this.opts.tenant);
    const vPod = vKey ? this.opts.virtualPods.get(vKey) : undefined;
    if (!vPod || ownership(hPod, this.opts.tenant, 'Pod', vPod.metadata.uid) !== 'ours') return undefined;
    return vPod;
  }

  /** A host PodMetrics as the tenant sees it: its pod's virtual name, namespace and labels, and only the pod's own containers. */
  private translatePod(m: PodMetrics, vPod: Pod): PodMetrics {
    const own = new Set((vPod.spec?.containers ?? []).map((c) => c.name));
    return {
      kind: 'PodMetrics', apiVersion: groupVersion,
      metadata: {
        name: vPod.metadata.name, namespace: vPod.metadata.namespace,
        ...(m.metadata.creationTimestamp ? { creationTimestamp: m.metadata.creationTimestamp } : {}),
        ...(vPod.metadata.labels ? { labels: { ...vPod.metadata.labels } } : {}),
      },
      ...(m.timestamp ? { timestamp: m.timestamp } : {}),
      ...(m.window ? { window: m.window } : {}),
      containers: (m.containers ?? []).filter((c) => own.has(c.name)).map((c) => ({ name: c.name, usage: { ...c.usage } })),
    };
  }

  private static selector(labelSelector: string | undefined): (labels: Record<string, string>) => boolean {
    if (!labelSelector) return () => true;
    try {
      return parseSelector(labelSelector);
    } catch (err) {
      throw new HttpError(400, 'BadRequest', `unable to parse requirement: ${(err as Error).message}`);
    }
  }

  /**
   * A field selector on `metadata.name` and `metadata.namespace` (=, ==, !=), the fields a metrics
   * list is selected by; any other field is refused.
   */
  private static fieldSelector(fieldSelector: string | undefined): (meta: { name: string; namespace?: string }) => boolean {
    const tests: Array<(meta: { name: string; namespace?: string }) => boolean> = [];
    for (const term of (fieldSelector ?? '').split(',').map((t) => t.trim()).filter(Boolean)) {
      const m = /^(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*([^=!\s]*)$/.exec(term);
      if (!m) throw new HttpError(400, 'BadRequest', `field selector "${term}" is not supported: select by metadata.name or metadata.namespace with =, == or !=`);
      const [, field, op, value] = m as unknown as [string, string, string, string];
      const of = (meta: { name: string; namespace?: string }) => (field === 'metadata.name' ? meta.name : meta.namespace ?? '');
      tests.push(op === '!=' ? (meta) => of(meta) !== value : (meta) => of(meta) === value);
    }
    return (meta) => tests.every((t) => t(meta));
  }

  /** PodMetrics of one virtual pod, or the list in a namespace (all namespaces without one). */
  async pods(namespace: string | undefined, name: string | undefined, labelSelector?: string, fieldSelector?: string): Promise<PodMetrics | { kind: string; apiVersion: string; metadata: object; items: PodMetrics[] }> {
    const { tenant, hostNamespace, host } = this.opts;
    const base = `/apis/${groupVersion}/namespaces/${hostNamespace}/pods`;
    if (namespace !== undefined && name !== undefined) {
      const vPod = this.opts.virtualPods.get(`${namespace}/${name}`);
      const hName = hostName(name, namespace, tenant);
      const hPod = this.opts.hostPods.get(`${hostNamespace}/${hName}`);
      if (!vPod || this.virtualPodOf(hPod)?.metadata.uid !== vPod.metadata.uid) throw notFound('pods', name);
      const m = await host.request<PodMetrics>('GET', `${base}/${hName}`).catch((err: unknown) => {
        throw isItemNotFound(err) ? notFound('pods', name) : hostProblem(err);
      });
      return this.translatePod(m, vPod);
    }
    const matches = ResourceMetrics.selector(labelSelector);
    const fields = ResourceMetrics.fieldSelector(fieldSelector);
    const list = await host.request<{ items?: PodMetrics[] }>('GET', `${base}?labelSelector=${encodeURIComponent(`${marks.tenant}=${tenant}`)}`).catch((err: unknown) => {
      throw hostProblem(err);
    });
    const items: PodMetrics[] = [];
    for (const m of list.items ?? []) {
      const vPod = this.virtualPodOf(this.opts.hostPods.get(`${hostNamespace}/${m.metadata.name}`));
      if (!vPod || (namespace !== undefined && vPod.metadata.namespace !== namespace) || !matches(vPod.metadata.labels ?? {}) || !fields(vPod.metadata)) continue;
      items.push(this.translatePod(m, vPod));
    }
    items.sort((a, b) => `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace ?? ''}/${b.metadata.name}`));
    return { kind: 'PodMetricsList', apiVersion: groupVersion, metadata: {}, items };
  }

  /**
   * The host's OpenAPI v3 index entry for the group (its serverRelativeURL), when the host serves
   * it. Asked of the host at most every openApiEntryTtlMs: every tenant client's discovery reads the index.
   */
  openApiEntry(): Promise<unknown> {
    const now = performance.now();
    if (!this.entry || now - this.entry.at > openApiEntryTtlMs) {
      const value = this.opts.host.request<{ paths?: Record<string, unknown> }>('GET', '/openapi/v3').then((index) => index.paths?.[metricsOpenApiPath], () => undefined);
      this.entry = { at: now, value };
    }
    return this.entry.value;
  }

  /** The group's OpenAPI v3 document, the host's (`query`: its hash, passed on). */
  async openApiDocument(query: string): Promise<unknown> {
    return this.opts.host.request('GET', `/openapi/v3/${metricsOpenApiPath}${query}`).catch((err: unknown) => {
      throw hostProblem(err);
    });
  }

  /** The host nodes this tenant's own host pods run on: the only nodes whose metrics it may see. */
  private tenantNodes(): Set<string> {
    const nodes = new Set<string>();
    for (const hPod of this.opts.hostPods.list()) {
      const node = (hPod as Pod).spec?.nodeName;
      if (node && this.virtualPodOf(hPod)) nodes.add(node);
    }
    return nodes;
  }

  /** NodeMetrics of one virtual node, or of those matching a selector. */
  async nodes(name: string | undefined, labelSelector?: string): Promise<NodeMetrics | { kind: string; apiVersion: string; metadata: object; items: NodeMetrics[] }> {
    const visible = this.tenantNodes();
    const query = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    // The tenant's own nodes, with its labels, and its API's reading of the selector.
    const vNodes = await this.opts.virtual.request<{ items?: KubeObject[] }>('GET', `/api/v1/nodes${query}`).catch((err: unknown) => {
      if (err instanceof KubeApiError && err.status === 400) throw new HttpError(400, 'BadRequest', err.message);
      throw err;
    });
    const wanted = (vNodes.items ?? []).filter((n) => visible.has(n.metadata.name) && (name === undefined || n.metadata.name === name));
    if (name !== undefined && wanted.length === 0) throw notFound('nodes', name);
    const fetched = await Promise.all(wanted.map(async (vNode) => {
      const m = await this.opts.host.request<NodeMetrics>('GET', `/apis/${groupVersion}/nodes/${vNode.metadata.name}`).catch((err: unknown) => {
        if (isItemNotFound(err)) return undefined;
        throw hostProblem(err);
      });
      return m && translateNode(m, vNode);
    }));
    if (name !== undefined) {
      const one = fetched[0];
      if (!one) throw notFound('nodes', name);
      return one;
    }
    const items = fetched.filter((m): m is NodeMetrics => m !== undefined).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    return { kind: 'NodeMetricsList', apiVersion: groupVersion, metadata: {}, items };
  }
}

/** A 404 about one named object (its metrics are not there yet), not about the whole API. */
function isItemNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404 && Boolean(err.details?.name);
}

function translateNode(m: NodeMetrics, vNode: KubeObject): NodeMetrics {
  return {
    kind: 'NodeMetrics', apiVersion: groupVersion,
    metadata: {
      name: vNode.metadata.name,
      ...(m.metadata.creationTimestamp ? { creationTimestamp: m.metadata.creationTimestamp } : {}),
      ...(vNode.metadata.labels ? { labels: { ...vNode.metadata.labels } } : {}),
    },
    ...(m.timestamp ? { timestamp: m.timestamp } : {}),
    ...(m.window ? { window: m.window } : {}),
    usage: { ...m.usage },
  };
}
