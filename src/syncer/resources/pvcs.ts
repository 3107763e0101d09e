// PersistentVolumeClaims: every virtual claim gets a host copy built from the claim allow-list
// (no selector or volume name; data sources only this tenant's claims); phase, capacity and access
// modes come back. The host's storage classes and provisioners decide where the volume lives.
import type { KubeObject } from '../../kube/client.ts';
import { hostClaimSpec } from '../../translate/claims.ts';
import { allowedPaths } from '../../translate/policy.ts';
import type { Projection } from '../../translate/shape.ts';
import { types, type SyncContext } from '../context.ts';
import { jsonEqual } from '../patcher.ts';
import { SyncController } from '../sync-controller.ts';

 
type Claim = KubeObject & { spec: Record<string, any>; status?: Record<string, any> };

const statusOf = (s: Record<string, any> | undefined) => ({
  phase: s?.phase ?? null,
  capacity: s?.capacity ?? null,
  accessModes: s?.accessModes ?? null,
});

export function createPvcSync(ctx: SyncContext): SyncController<Claim> {
  const allowed = allowedPaths(ctx.config.policy, 'PersistentVolumeClaim');
  const translate = (v: Claim) => {
    const out: Projection = { problems: [] };
    const spec = hostClaimSpec(v.spec, v.metadata.namespace ?? '', ctx.config.tenant, 'spec', out, allowed);
    return { spec, problems: out.problems };
  };
  const sc: SyncController<Claim> = new SyncController<Claim>(ctx, {
    kind: 'PersistentVolumeClaim',
    virtual: types.pvcs,
    host: types.pvcs,
    validate: (v) => translate(v).problems,
    toHost: (v) => sc.hostCopy(v, { spec: translate(v).spec }),
    async sync(v, h) {
      // A growing request is the one spec change claims allow.
      await sc.patchHost(h, sc.hostPatch(h, sc.hostMeta(v, h.metadata.name), { spec: { resources: h.spec.resources ?? {} } }, { spec: { resources: v.spec.resources ?? {} } }));
      const status = statusOf(h.status);
      if (!jsonEqual(statusOf(v.status), status)) {
        await ctx.virtual.patch(types.pvcs, v.metadata.namespace, v.metadata.name, { metadata: { resourceVersion: v.metadata.resourceVersion }, status }, 'merge', 'status');
      }
    },
  });
  return sc;
}
