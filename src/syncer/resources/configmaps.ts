// ConfigMaps: synced while a virtual pod references them (or when they opt in with the
// vnest.dev/sync annotation), updated when they change, removed from the host when unreferenced.
import type { KubeObject } from '../../kube/client.ts';
import { hostMetadata, marks } from '../../translate/metadata.ts';
import { types, type SyncContext } from '../context.ts';
import { guardedPatch } from '../patcher.ts';
import { SyncController } from '../sync-controller.ts';
import type { ReferenceIndex } from './references.ts';

type DataObject = KubeObject & { data?: Record<string, string>; binaryData?: Record<string, string>; type?: string; immutable?: boolean };

/** Shared by ConfigMaps and Secrets: the same flow over different payload fields. */
export function createReferencedSync(ctx: SyncContext, refs: ReferenceIndex, which: 'configmaps' | 'secrets'): SyncController<DataObject> {
  const rt = types[which];
  const payload = (o: DataObject) => (which === 'configmaps' ? { data: o.data ?? {}, binaryData: o.binaryData ?? {} } : { data: o.data ?? {} });
  const sc: SyncController<DataObject> = new SyncController<DataObject>(ctx, {
    kind: rt.kind,
    virtual: rt,
    host: rt,
    wanted: (v) => refs.isReferenced(which, `${v.metadata.namespace}/${v.metadata.name}`) || v.metadata.annotations?.[marks.syncAlways] === 'true',
    toHost: (v) => ({
      apiVersion: 'v1',
      kind: rt.kind,
      metadata: hostMetadata(v, rt.kind, sc.hostNameOf(v), ctx.config),
      ...payload(v),
      ...(which === 'secrets' && v.type ? { type: v.type } : {}),
      ...(v.immutable ? { immutable: true } : {}),
    }),
    async sync(v, h) {
      const want = hostMetadata(v, rt.kind, h.metadata.name, ctx.config);
      const current = { metadata: { labels: h.metadata.labels ?? {}, annotations: h.metadata.annotations ?? {} }, ...payload(h) };
      const desired = { metadata: { labels: want.labels ?? {}, annotations: want.annotations ?? {} }, ...payload(v) };
      const ops = guardedPatch(current, desired, h.metadata.resourceVersion);
      if (ops.length === 0) return;
      if (h.immutable) {
        // An immutable copy cannot change: replace it (the create follows the delete event).
        await sc.deleteHost(h);
        return;
      }
      await sc.patchHost(h, ops);
    },
  });
  refs.onChange(which, (key) => sc.enqueue(key));
  return sc;
}
