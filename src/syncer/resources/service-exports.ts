// The network half of a sibling export (translate/sharing.ts): a tenant that exports one of its
// Services lets the siblings it names reach that Service's pods, by a host NetworkPolicy next to
// the host copy (owned by it, so it goes with it). NetworkPolicies add up, so this only opens the
// exported pods, on the Service's ports, to the named tenants' pods; whatever else isolates them
// stays. In a tree the parent's syncer carries the policy on down like any of its child's.
import type { KubeObject } from '../../kube/client.ts';
import { isAlreadyExists, isNotFound } from '../../kube/errors.ts';
import { marks } from '../../translate/metadata.ts';
import type { SyncContext } from '../context.ts';
import { guardedPatch } from '../patcher.ts';
import { networkPolicies } from './network-policies.ts';

type Service = KubeObject & { spec: { selector?: Record<string, string>; ports?: Array<{ port: number; targetPort?: number | string; protocol?: string }> } };
type NetworkPolicy = KubeObject & { spec: Record<string, unknown> };

/** The mark kind of these policies: no NetworkPolicy sync takes them for a tenant's own. */
export const exportPolicyKind = 'ServiceExport';

/** Pods of tenant `ref` (`name`, or `namespace/name` for the tenant in that namespace). */
function peer(ref: string): Record<string, unknown> {
  const [ns, name] = ref.includes('/') ? ref.split('/') as [string, string] : [undefined, ref];
  return {
    namespaceSelector: ns ? { matchLabels: { 'kubernetes.io/metadata.name': ns } } : {},
    podSelector: { matchLabels: { [marks.tenant]: name } },
  };
}

export function createExportPolicies(ctx: SyncContext): { sync(v: Service, h: Service, targets: string[]): Promise<void> } {
  const { config } = ctx;
  const informer = ctx.informers.host<NetworkPolicy>(networkPolicies);

  return {
    async sync(v, h, targets) {
      const name = `${h.metadata.name}-export`;
      const current = informer.get(`${config.hostNamespace}/${name}`);
      const selector = h.spec.selector ?? {};
      if (targets.length === 0 || Object.keys(selector).length === 0) {
        if (current?.metadata.annotations?.[marks.objectKind] === exportPolicyKind && current.metadata.labels?.[marks.tenant] === config.tenant) {
          await ctx.host.delete(networkPolicies, config.hostNamespace, name, { uid: current.metadata.uid }).catch((err: unknown) => {
            if (!isNotFound(err)) throw err;
          });
        }
        return;
      }
      const spec = {
        podSelector: { matchLabels: selector },
        policyTypes: ['Ingress'],
        ingress: [{
          from: targets.map(peer),
          ports: (h.spec.ports ?? []).map((p) => ({ port: p.targetPort ?? p.port, protocol: p.protocol ?? 'TCP' })),
        }],
      };
      const labels = { [marks.tenant]: config.tenant, [marks.namespace]: v.metadata.namespace ?? '' };
      const annotations = { [marks.objectName]: v.metadata.name, [marks.objectNamespace]: v.metadata.namespace ?? '', [marks.objectUid]: v.metadata.uid ?? '', [marks.objectKind]: exportPolicyKind };
      if (!current) {
        await ctx.host.create(networkPolicies, config.hostNamespace, {
          apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
          metadata: { name, namespace: config.hostNamespace, labels, annotations, ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: h.metadata.name, uid: h.metadata.uid ?? '', blockOwnerDeletion: false }] },
          spec,
        }).catch((err: unknown) => {
          // A host policy of that name that is not this tenant's: leave it, say so.
          if (!isAlreadyExists(err)) throw err;
          ctx.log.warn({ service: `${v.metadata.namespace}/${v.metadata.name}`, policy: name }, 'a host NetworkPolicy holds the name of this export\'s policy; the export is not opened to its siblings');
        });
        return;
      }
      // Never take over a policy that is not this export's.
      if (current.metadata.annotations?.[marks.objectKind] !== exportPolicyKind || current.metadata.labels?.[marks.tenant] !== config.tenant) return;
      const ops = guardedPatch({ metadata: { labels: current.metadata.labels ?? {} }, spec: current.spec }, { metadata: { labels }, spec }, current.metadata.resourceVersion);
      if (ops.length > 0) await ctx.host.patch(networkPolicies, config.hostNamespace, name, ops, 'json');
    },
  };
}
