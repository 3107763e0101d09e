// PersistentVolumeClaims: every virtual claim gets a host copy; phase, capacity and access modes
// come back. The host's storage classes and provisioners decide where the volume lives.
import type { KubeObject } from '../../kube/client.ts';
import { hostMetadata } from '../../translate/metadata.ts';
import { types, type SyncContext } from '../context.ts';
import { guardedPatch, jsonEqual } from '../patcher.ts';
import { SyncController } from '../sync-controller.ts';

 
type Claim = KubeObject & { spec: Record<string, any>; status?: Record<string, any> };

const statusOf = (s: Record<string, any> | undefined) => ({
  phase: s?.phase ?? null,
  capacity: s?.capacity ?? null,
  accessModes: s?.accessModes ?? null,
});

export function createPvcSync(ctx: SyncContext): SyncController<Claim> {
  const sc: SyncController<Claim> = new SyncController<Claim>(ctx, {
    kind: 'PersistentVolumeClaim',
    virtual: types.pvcs,
    host: types.pvcs,
    validate: (v) => (v.spec.volumeName ? `spec.volumeName (${v.spec.volumeName}) names a volume; on a shared host the host binds claims` : undefined),
    toHost: (v) => {
      const spec = structuredClone(v.spec);
      delete spec.volumeName;
      if (spec.dataSource?.kind === 'PersistentVolumeClaim') spec.dataSource = { ...spec.dataSource, name: sc.hostNameOf({ metadata: { name: spec.dataSource.name, namespace: v.metadata.namespace } }) };
      if (spec.dataSourceRef?.kind === 'PersistentVolumeClaim') spec.dataSourceRef = { ...spec.dataSourceRef, name: sc.hostNameOf({ metadata: { name: spec.dataSourceRef.name, namespace: v.metadata.namespace } }) };
      return { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: hostMetadata(v, 'PersistentVolumeClaim', sc.hostNameOf(v), ctx.config), spec };
    },
    async sync(v, h) {
      // A growing request is the one spec change claims allow.
      const want = hostMetadata(v, 'PersistentVolumeClaim', h.metadata.name, ctx.config);
      const current = { metadata: { labels: h.metadata.labels ?? {}, annotations: h.metadata.annotations ?? {} }, spec: { resources: h.spec.resources ?? {} } };
      const desired = { metadata: { labels: want.labels ?? {}, annotations: want.annotations ?? {} }, spec: { resources: v.spec.resources ?? {} } };
      await sc.patchHost(h, guardedPatch(current, desired, h.metadata.resourceVersion));
      const status = statusOf(h.status);
      if (!jsonEqual(statusOf(v.status), status)) {
        await ctx.virtual.patch(types.pvcs, v.metadata.namespace, v.metadata.name, { metadata: { resourceVersion: v.metadata.resourceVersion }, status }, 'merge', 'status');
      }
    },
  });
  return sc;
}
