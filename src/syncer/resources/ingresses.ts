// Ingresses: the host copy claims only host names in the tenant's domain, routes to this tenant's
// Service copies, and terminates TLS with copies of this tenant's Secrets (synced while an
// Ingress names them); the host's load-balancer status comes back.
import type { KubeObject, ResourceType } from '../../kube/client.ts';
import { hostIngressSpec, ingressSecrets } from '../../translate/ingress.ts';
import { allowedPaths } from '../../translate/policy.ts';
import type { SyncContext } from '../context.ts';
import { jsonEqual } from '../patcher.ts';
import { SyncController } from '../sync-controller.ts';
import type { ReferenceIndex } from './references.ts';

type Ingress = KubeObject & { spec: Record<string, any>; status?: Record<string, any> };

export const ingresses: ResourceType = { group: 'networking.k8s.io', version: 'v1', plural: 'ingresses', kind: 'Ingress', namespaced: true };

export function createIngressSync(ctx: SyncContext, refs: ReferenceIndex): SyncController<Ingress> {
  const { config } = ctx;
  const allowed = allowedPaths(config.policy, 'Ingress');
  const translate = (v: Ingress) => hostIngressSpec(v.spec, v.metadata.namespace ?? '', { tenant: config.tenant, domain: config.domain, policy: config.policy, allowed });
  const sc: SyncController<Ingress> = new SyncController<Ingress>(ctx, {
    kind: 'Ingress',
    virtual: ingresses,
    host: ingresses,
    validate: (v) => translate(v).problems,
    toHost: (v) => sc.hostCopy(v, { spec: translate(v).spec }),
    async sync(v, h) {
      await sc.patchHost(h, sc.hostPatch(h, sc.hostMeta(v, h.metadata.name), { spec: h.spec }, { spec: translate(v).spec }));
      const lb = h.status?.loadBalancer ?? {};
      if (!jsonEqual(v.status?.loadBalancer ?? {}, lb)) {
        await ctx.virtual.patch(ingresses, v.metadata.namespace, v.metadata.name, { status: { loadBalancer: lb } }, 'merge', 'status');
      }
    },
  });
  // The TLS Secrets an Ingress names are synced while it names them (a refused Ingress names none).
  refs.addSource<Ingress>('Ingress', sc.vInformer, (v) => ({
    configmaps: new Set(), pvcs: new Set(), secrets: new Set(translate(v).problems.length > 0 ? [] : ingressSecrets(v.spec)),
  }));
  return sc;
}
