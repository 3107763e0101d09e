// NetworkPolicies: the host copy selects only this tenant's pods of the policy's namespace, and
// its peers are this tenant's pods or IP blocks (translate/network-policy.ts). Namespace selectors
// are resolved against the tenant's namespaces, so policies follow when namespaces or their labels
// change. In a tree this is what carries a child's policies (the chart's isolation ones included)
// down to the real host.
import type { KubeObject, ResourceType } from '../../kube/client.ts';
import { hostNetworkPolicySpec } from '../../translate/network-policy.ts';
import { allowedPaths } from '../../translate/policy.ts';
import { types, type SyncContext } from '../context.ts';
import { SyncController } from '../sync-controller.ts';

type NetworkPolicy = KubeObject & { spec: Record<string, any> };

export const networkPolicies: ResourceType = { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true };

export function createNetworkPolicySync(ctx: SyncContext): SyncController<NetworkPolicy> {
  const { config } = ctx;
  const allowed = allowedPaths(config.policy, 'NetworkPolicy');
  const vNamespaces = ctx.informers.virtual(types.namespaces);
  const translate = (v: NetworkPolicy) => hostNetworkPolicySpec(v.spec, v.metadata.namespace ?? '', {
    tenant: config.tenant, allowed,
    namespaces: vNamespaces.list().map((n) => ({ name: n.metadata.name, labels: n.metadata.labels ?? {} })),
  });
  const sc: SyncController<NetworkPolicy> = new SyncController<NetworkPolicy>(ctx, {
    kind: 'NetworkPolicy',
    virtual: networkPolicies,
    host: networkPolicies,
    validate: (v) => translate(v).problems,
    toHost: (v) => sc.hostCopy(v, { spec: translate(v).spec }),
    async sync(v, h) {
      await sc.patchHost(h, sc.hostPatch(h, sc.hostMeta(v, h.metadata.name), { spec: h.spec }, { spec: translate(v).spec }));
    },
  });
  // A namespace made, removed or relabelled can change what namespace selectors match.
  const all = () => { for (const v of sc.vInformer.list()) sc.enqueue(`${v.metadata.namespace ?? ''}/${v.metadata.name}`); };
  vNamespaces.addHandlers({ onAdd: all, onUpdate: (old, n) => { if (JSON.stringify(old.metadata.labels ?? {}) !== JSON.stringify(n.metadata.labels ?? {})) all(); }, onDelete: all });
  return sc;
}
