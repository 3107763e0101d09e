// Shared services into this tenant (see translate/sharing.ts for the permission model): for each
// host Service its provider shares with this tenant, or a sibling exports to it and this tenant
// takes, a selectorless Service with the same cluster
// IP and ports in the tenant's vnest-shared namespace. Traffic from the tenant's pods (which run
// on the host) to that IP is the host's own routing. A copy carries the share on to this tenant's
// children (label and `share-with: *`) unless the provider withheld it from subtrees. Only
// virtual objects are written; nothing on the host changes.
import { Controller } from '../controller/controller.ts';
import type { KubeObject } from '../kube/client.ts';
import { isAlreadyExists, isNotFound } from '../kube/errors.ts';
import { objectKey } from '../kube/informer.ts';
import { marks } from '../translate/metadata.ts';
import { splitKey } from '../translate/names.ts';
import { exporterOf, importAccepted, importName, imports, sharedName, sharedNamespace, sharedWith, sharedWithSubtree } from '../translate/sharing.ts';
import { types, type SyncContext } from './context.ts';
import { guardedPatch } from './patcher.ts';

interface ServicePort { name?: string; port: number; protocol?: string }
type Service = KubeObject & { spec: { clusterIP?: string; clusterIPs?: string[]; type?: string; ports?: ServicePort[] } };

/** What the tenant's copy of shared host Service `h` is. */
function desired(h: Service): { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: Record<string, unknown> } {
  const inherit = sharedWithSubtree(h);
  return {
    metadata: {
      labels: { [marks.managed]: 'true', ...(inherit ? { [marks.shared]: 'true' } : {}) },
      annotations: { [marks.sharedFrom]: `${h.metadata.namespace}/${h.metadata.name}`, ...(inherit ? { [marks.shareWith]: '*' } : {}) },
    },
    spec: {
      ports: (h.spec.ports ?? []).map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, protocol: p.protocol ?? 'TCP', targetPort: p.port })),
    },
  };
}

export function createSharedServices(ctx: SyncContext): { controller: Controller } {
  const { config } = ctx;
  // Every namespace of the host, only Services a provider labelled as shared.
  const hInformer = ctx.informers.host<Service>(types.services, { namespace: '', labelSelector: `${marks.shared}=true` });
  const vInformer = ctx.informers.virtual<Service>(types.services);
  // Whose exports this tenant takes: its admin's word, in its own cluster.
  const vConfigMaps = ctx.informers.virtual<KubeObject & { data?: Record<string, string> }>(types.configmaps);
  const importsKey = `${imports.namespace}/${imports.name}`;
  let namespaceReady = false;

  /** A provider's share shows as `<namespace>-<name>`, a sibling's export as `<tenant>-<namespace>-<name>`. */
  const nameOf = (h: Service) => (exporterOf(h) ? importName(h) : sharedName(h.metadata.namespace ?? '', h.metadata.name));
  const visible = (h: Service) => sharedWith(h, config.tenant, config.hostNamespace)
    && (!exporterOf(h) || importAccepted(h, vConfigMaps.get(importsKey)?.data?.[imports.key]));
  const sourceOf = (vName: string) => hInformer.list().find((h) => nameOf(h) === vName && visible(h));

  async function reconcile(vKey: string): Promise<void> {
    const { name } = splitKey(vKey);
    const h = sourceOf(name);
    const v = vInformer.get(vKey);
    const managed = v?.metadata.labels?.[marks.managed] === 'true';
    if (!h) {
      if (v && managed) await remove(v);
      return;
    }
    if (v && !managed) {
      await ctx.events.warning(v, { apiVersion: 'v1', kind: 'Service' }, 'NameCollision', `the shared Service ${h.metadata.namespace}/${h.metadata.name} cannot be shown here: this Service holds its name`);
      return;
    }
    const want = desired(h);
    const ip = h.spec.clusterIP as string;
    if (v && v.spec.clusterIP !== ip) {
      // A cluster IP cannot change in place: replace the copy.
      await remove(v);
    } else if (v) {
      const current = { metadata: { labels: v.metadata.labels ?? {}, annotations: v.metadata.annotations ?? {} }, spec: { ports: v.spec.ports ?? [] } };
      const ops = guardedPatch(current, want, v.metadata.resourceVersion);
      if (ops.length > 0) await ctx.virtual.patch(types.services, sharedNamespace, name, ops, 'json');
      return;
    }
    if (!namespaceReady) {
      await ctx.virtual.create(types.namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: sharedNamespace, labels: { [marks.managed]: 'true' } } }).catch((err: unknown) => {
        if (!isAlreadyExists(err)) throw err;
      });
      namespaceReady = true;
    }
    await ctx.virtual.create(types.services, sharedNamespace, {
      apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: sharedNamespace, ...want.metadata },
      spec: { type: 'ClusterIP', clusterIP: ip, clusterIPs: [ip], ...want.spec },
    }).catch((err: unknown) => {
      if (!isAlreadyExists(err)) throw err;
    });
  }

  async function remove(v: Service): Promise<void> {
    await ctx.virtual.delete(types.services, sharedNamespace, v.metadata.name, { uid: v.metadata.uid }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }

  const controller = new Controller({ name: 'shared-services', workers: 2, logger: ctx.log, reconcile });
  const fromHost = (h: Service) => controller.enqueue(`${sharedNamespace}/${nameOf(h)}`);
  hInformer.addHandlers({ onAdd: fromHost, onUpdate: (old, h) => { fromHost(old); fromHost(h); }, onDelete: fromHost });
  const fromImports = (c: KubeObject) => {
    if (objectKey(c) === importsKey) for (const h of hInformer.list()) fromHost(h);
  };
  vConfigMaps.addHandlers({ onAdd: fromImports, onUpdate: (_, c) => fromImports(c), onDelete: fromImports });
  const fromVirtual = (v: Service) => {
    if (v.metadata.namespace === sharedNamespace) controller.enqueue(objectKey(v));
  };
  vInformer.addHandlers({ onAdd: fromVirtual, onUpdate: (_, v) => fromVirtual(v), onDelete: fromVirtual });
  return { controller };
}
