// Custom resources, configured per kind. toHost: the tenant's objects get host copies with
// translated names and rewritten references, spec changes follow, status comes back. fromHost: the
// host's objects appear read-only in the tenant (namespaced ones in one tenant namespace), and
// tenant edits are reverted.
import type { KubeObject } from '../../kube/client.ts';
import { isAlreadyExists, isNotFound } from '../../kube/errors.ts';
import { objectKey } from '../../kube/informer.ts';
import { Controller } from '../../controller/controller.ts';
import { hostMetadata, marks } from '../../translate/metadata.ts';
import { hostName, splitKey } from '../../translate/names.ts';
import type { ResolvedCustomResource } from '../custom/discovery.ts';
import { readPath, rewritePath } from '../custom/paths.ts';
import { parseSelector } from '../custom/selector.ts';
import type { SyncContext } from '../context.ts';
import { guardedPatch, jsonEqual } from '../patcher.ts';
import { SyncController } from '../sync-controller.ts';
import type { Shared } from './index.ts';
import type { References } from './references.ts';

type Obj = KubeObject & { status?: unknown } & Record<string, any>;

/** Everything of an object but its identity and status: what a copy carries over. */
function body(obj: Obj): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, metadata: _m, status: _s, ...rest } = obj;
  return rest;
}

const statusOf = (o: Obj) => o.status ?? null;

export function createCustomSync(ctx: SyncContext, shared: Shared, r: ResolvedCustomResource): { controller: Controller } {
  return r.spec.direction === 'toHost' ? createToHost(ctx, shared, r) : createFromHost(ctx, r);
}

function createToHost(ctx: SyncContext, shared: Shared, r: ResolvedCustomResource): SyncController<Obj> {
  const { config } = ctx;
  const matches = parseSelector(r.spec.selector ?? '');
  const refs = r.spec.references ?? [];
  const apiVersion = `${r.type.group}/${r.type.version}`;

  const toHost = (v: Obj): Obj => {
    const copy = structuredClone(body(v));
    for (const ref of refs) rewritePath(copy, ref.path, (name) => hostName(name, v.metadata.namespace ?? '', config.tenant));
    return { apiVersion, kind: r.type.kind, metadata: hostMetadata(v, r.type.kind, sc.hostNameOf(v), config), ...copy };
  };
  const sc: SyncController<Obj> = new SyncController<Obj>(ctx, {
    kind: r.type.kind,
    virtual: r.type,
    host: r.type,
    wanted: (v) => matches(v.metadata.labels ?? {}),
    toHost,
    async sync(v, h) {
      const want = toHost(v);
      await sc.patchHost(h, sc.hostPatch(h, want.metadata, body(h), body(want)));
      if (!jsonEqual(statusOf(v), statusOf(h))) {
        await ctx.virtual.patch(r.type, v.metadata.namespace, v.metadata.name, { metadata: { resourceVersion: v.metadata.resourceVersion }, status: h.status ?? null }, 'merge', r.statusSubresource ? 'status' : undefined);
      }
    },
  });

  // Secrets and ConfigMaps these objects name must be on the host too.
  const named = refs.filter((ref) => ref.kind === 'Secret' || ref.kind === 'ConfigMap');
  if (named.length > 0) {
    shared.refs.addSource(r.type.kind, sc.vInformer, (v): References => {
      const out: References = { configmaps: new Set(), secrets: new Set(), pvcs: new Set() };
      for (const ref of named) for (const name of readPath(v, ref.path)) out[ref.kind === 'Secret' ? 'secrets' : 'configmaps'].add(name);
      return out;
    });
  }
  return sc;
}

function createFromHost(ctx: SyncContext, r: ResolvedCustomResource): { controller: Controller } {
  const sourceNamespace = r.spec.sourceNamespace ?? ctx.config.hostNamespace;
  const virtualNamespace = r.spec.virtualNamespace ?? 'vnest-host';
  const hInformer = ctx.informers.host<Obj>(r.type, { namespace: sourceNamespace, ...(r.spec.selector ? { labelSelector: r.spec.selector } : {}) });
  const vInformer = ctx.informers.virtual<Obj>(r.type);
  const apiVersion = `${r.type.group}/${r.type.version}`;
  const vKeyOf = (name: string) => (r.type.namespaced ? `${virtualNamespace}/${name}` : name);
  let namespaceReady = !r.type.namespaced;

  const desiredMeta = (h: Obj) => {
    const annotations = { ...(h.metadata.annotations ?? {}) };
    delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
    return { labels: { ...(h.metadata.labels ?? {}), [marks.managed]: 'true' }, annotations };
  };

  async function reconcile(vKey: string): Promise<void> {
    const { name } = splitKey(vKey);
    const h = hInformer.get(r.type.namespaced ? `${sourceNamespace}/${name}` : name);
    const v = vInformer.get(vKey);
    const ns = r.type.namespaced ? virtualNamespace : undefined;
    if (!h) {
      // Only copies the syncer made go; a tenant's own object of that name stays.
      if (v?.metadata.labels?.[marks.managed] === 'true') {
        await ctx.virtual.delete(r.type, ns, name, { uid: v.metadata.uid }).catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
      }
      return;
    }
    if (!namespaceReady) {
      await ctx.virtual.create({ group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false }, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: virtualNamespace } })
        .catch((err: unknown) => {
          if (!isAlreadyExists(err)) throw err;
        });
      namespaceReady = true;
    }
    const meta = desiredMeta(h);
    if (!v) {
      const created = await ctx.virtual.create<Obj>(r.type, ns, { apiVersion, kind: r.type.kind, metadata: { name, ...(ns ? { namespace: ns } : {}), ...meta }, ...body(h) });
      if (r.statusSubresource && h.status !== undefined) {
        await ctx.virtual.patch(r.type, ns, name, { metadata: { resourceVersion: created.metadata.resourceVersion }, status: h.status }, 'merge', 'status');
      }
      return;
    }
    if (v.metadata.labels?.[marks.managed] !== 'true') {
      await ctx.events.warning(v, { apiVersion, kind: r.type.kind }, 'NameCollision', `the host's ${r.type.kind} ${name} cannot be shown here: this object holds its name`);
      return;
    }
    // Tenant edits are reverted: the host's object is the truth.
    const current = { metadata: { labels: v.metadata.labels ?? {}, annotations: v.metadata.annotations ?? {} }, ...body(v) };
    const desired = { metadata: meta, ...body(h) };
    const ops = guardedPatch(current, desired, v.metadata.resourceVersion);
    if (ops.length > 0) await ctx.virtual.patch(r.type, ns, name, ops, 'json');
    if (!jsonEqual(statusOf(v), statusOf(h))) {
      await ctx.virtual.patch(r.type, ns, name, { status: h.status ?? null }, 'merge', r.statusSubresource ? 'status' : undefined);
    }
  }

  const controller = new Controller({ name: `${r.type.plural}.${r.type.group}`, workers: ctx.config.workers, logger: ctx.log, reconcile });
  const fromHost = (h: Obj) => controller.enqueue(vKeyOf(h.metadata.name));
  hInformer.addHandlers({ onAdd: fromHost, onUpdate: (_, h) => fromHost(h), onDelete: fromHost });
  const fromVirtual = (v: Obj) => {
    if (!r.type.namespaced || v.metadata.namespace === virtualNamespace) controller.enqueue(objectKey(v));
  };
  vInformer.addHandlers({ onAdd: fromVirtual, onUpdate: (_, v) => fromVirtual(v), onDelete: fromVirtual });
  return { controller };
}
