// Tenant types: the manifests a platform team gives a kind of tenant (default namespaces, RBAC,
// quotas, CRDs), applied inside the tenant's cluster by server-side apply once its API answers, on
// every start (idempotent: an object already as the type says is left alone). Namespaces and CRDs
// go first; objects whose kind or namespace is not there yet are tried again for a while. The
// outcome is reported in kube-public/vnest-info and the log.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';
import type { KubeClient, KubeObject, ResourceType } from '../kube/client.ts';
import { KubeApiError } from '../kube/errors.ts';

export interface BootstrapResult {
  applied: number;
  /** `Kind namespace/name: reason` for each object that could not be applied. */
  failed: string[];
  /** The signal stopped it before every object was settled; nothing should be reported. */
  aborted: boolean;
}

/** The objects of a multi-document YAML manifest file; throws naming the document that is wrong. */
export function parseManifests(text: string, source: string): KubeObject[] {
  const out: KubeObject[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${source}: document ${i + 1} is not valid YAML: ${doc.errors[0]?.message ?? ''}`);
    const obj = doc.toJS() as unknown;
    if (obj === null || obj === undefined) return;
    const o = obj as Partial<KubeObject>;
    if (typeof o !== 'object' || Array.isArray(o) || typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') {
      throw new Error(`${source}: document ${i + 1} is not a Kubernetes object (apiVersion, kind and metadata.name are required)`);
    }
    out.push(o as KubeObject);
  });
  return out;
}

interface ApiResource { name: string; kind: string; namespaced: boolean }

const rank = (o: KubeObject) => (o.kind === 'Namespace' ? 0 : o.kind === 'CustomResourceDefinition' ? 1 : 2);
const describe = (o: KubeObject) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

/**
 * Applies `objects` in the tenant's cluster; `attempts` passes, `pauseMs` apart, for late kinds.
 * `signal` stops it between objects and during the pause (the syncer is stopping).
 */
export async function applyBootstrap(virtual: Pick<KubeClient, 'request' | 'patch'>, objects: KubeObject[], opts: { attempts?: number; pauseMs?: number; signal?: AbortSignal } = {}): Promise<BootstrapResult> {
  const signal = opts.signal;
  const discovered = new Map<string, ApiResource[]>();
  const resourceOf = async (o: KubeObject): Promise<ResourceType | undefined> => {
    const gv = o.apiVersion ?? '';
    let list = discovered.get(gv);
    if (!list) {
      const path = gv.includes('/') ? `/apis/${gv}` : `/api/${gv}`;
      list = (await virtual.request<{ resources: ApiResource[] }>('GET', path).catch(() => ({ resources: [] }))).resources;
      // Not cached while empty: a CRD applied in this pass may serve it in the next.
      if (list.length > 0) discovered.set(gv, list);
    }
    const r = list.find((x) => x.kind === o.kind && !x.name.includes('/'));
    if (!r) return undefined;
    const [group, version] = gv.includes('/') ? (gv.split('/') as [string, string]) : ['', gv];
    return { group, version, plural: r.name, kind: r.kind, namespaced: r.namespaced };
  };
  let pending = [...objects].sort((a, b) => rank(a) - rank(b));
  const failed = new Map<KubeObject, string>();
  let applied = 0;
  const attempts = opts.attempts ?? 30;
  const result = (aborted: boolean): BootstrapResult => ({ applied, failed: [...failed].map(([o, why]) => `${describe(o)}: ${why}`), aborted });
  for (let pass = 0; pass < attempts && pending.length > 0; pass++) {
    const next: KubeObject[] = [];
    for (const o of pending) {
      if (signal?.aborted) return result(true);
      const rt = await resourceOf(o);
      if (!rt) {
        next.push(o);
        failed.set(o, `the cluster does not serve ${o.apiVersion ?? ''} ${o.kind ?? ''}`);
        continue;
      }
      const namespace = rt.namespaced ? (o.metadata.namespace ?? 'default') : undefined;
      // A cluster-scoped object carries no namespace (a chart may set one on everything it renders).
      const metadata = { ...o.metadata };
      if (namespace) metadata.namespace = namespace;
      else delete metadata.namespace;
      const body = { ...o, metadata };
      try {
        await virtual.patch(rt, namespace, o.metadata.name, body, 'apply', undefined, { fieldManager: 'vnest-bootstrap', force: true });
        applied++;
        failed.delete(o);
      } catch (err) {
        failed.set(o, (err as Error).message);
        // A namespace the type creates later in this list, or still terminating: try again.
        if (err instanceof KubeApiError && (err.status === 404 || err.status === 409 || err.status >= 500)) next.push(o);
      }
    }
    pending = next;
    if (pending.length > 0 && pass + 1 < attempts) await sleep(opts.pauseMs ?? 1000, undefined, { signal }).catch(() => undefined);
  }
  return result(signal?.aborted === true && pending.length > 0);
}
