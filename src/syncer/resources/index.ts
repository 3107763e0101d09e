// The registry of synced kinds. Adding a kind is one file in this folder and one line here.
import type { Controller } from '../../controller/controller.ts';
import type { NodeSyncMode, SyncContext } from '../context.ts';
import type { ResolvedCustomResource } from '../custom/discovery.ts';
import { createReferencedSync } from './configmaps.ts';
import { createEndpointSliceSync } from './endpointslices.ts';
import { EventSync } from './events.ts';
import { createIngressSync } from './ingresses.ts';
import { createNetworkPolicySync } from './network-policies.ts';
import { VirtualNodes } from './nodes.ts';
import { PodCertificates } from './pod-certificates.ts';
import { createPodSync } from './pods.ts';
import { createPvcSync } from './pvcs.ts';
import { ReferenceIndex } from './references.ts';
import { createRuntimeClassSync, RuntimeClassIndex } from './runtime-classes.ts';
import { createServiceSync } from './services.ts';
import { ServiceAccountTokens } from './tokens.ts';
import { TrustBundleProjections } from './trust-bundles.ts';

/**
 * State several kinds share: virtual nodes (pods bind to them), pod references, shared tokens,
 * RuntimeClasses (pods name them).
 */
export interface Shared {
  nodes: VirtualNodes;
  refs: ReferenceIndex;
  tokens: ServiceAccountTokens;
  runtimeClasses: RuntimeClassIndex;
  trustBundles: TrustBundleProjections;
  podCertificates: PodCertificates;
}

export type ResourceFactory = (ctx: SyncContext, shared: Shared) => { controller: Controller };

/** An RBAC rule, as a Role or ClusterRole lists it. */
export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export interface ResourceEntry {
  create: ResourceFactory;
  /** What the syncer must be allowed in the host namespace for this kind. */
  hostRules: PolicyRule[];
}

/** Host objects the syncer creates, changes and deletes (only those carrying its marks). */
const owned = (resource: string): PolicyRule => ({ apiGroups: [''], resources: [resource], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] });

export const resources: Record<string, ResourceEntry> = {
  pods: {
    create: (ctx, s) => createPodSync(ctx, s),
    hostRules: [
      // Token Secrets; the ConfigMap of the tenant's ClusterTrustBundle projections (trust-bundles.ts).
      owned('pods'), owned('secrets'), owned('configmaps'),
      // The front door serves logs, exec, attach and port-forward from the host pods.
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods/exec', 'pods/attach', 'pods/portforward'], verbs: ['create', 'get'] },
      // Pod and service proxy go to the host copies, with the verb the tenant's request maps to.
      { apiGroups: [''], resources: ['pods/proxy', 'services/proxy'], verbs: ['create', 'delete', 'get', 'patch', 'update'] },
      // kubectl debug: ephemeral containers reach the host pod; in-place resize: new requests and
      // limits do; readiness gates: the tenant's gate conditions do (only those, readinessGatePatch).
      { apiGroups: [''], resources: ['pods/ephemeralcontainers', 'pods/resize', 'pods/status'], verbs: ['patch'] },
    ],
  },
  configmaps: { create: (ctx, s) => createReferencedSync(ctx, s.refs, 'configmaps'), hostRules: [owned('configmaps')] },
  secrets: { create: (ctx, s) => createReferencedSync(ctx, s.refs, 'secrets'), hostRules: [owned('secrets')] },
  persistentvolumeclaims: { create: (ctx) => createPvcSync(ctx), hostRules: [owned('persistentvolumeclaims')] },
  services: { create: (ctx) => createServiceSync(ctx), hostRules: [owned('services')] },
  // Slices the tenant writes for its Services without a selector (endpointslices.ts).
  endpointslices: { create: (ctx) => createEndpointSliceSync(ctx), hostRules: [{ ...owned('endpointslices'), apiGroups: ['discovery.k8s.io'] }] },
  ingresses: { create: (ctx, s) => createIngressSync(ctx, s.refs), hostRules: [{ ...owned('ingresses'), apiGroups: ['networking.k8s.io'] }] },
  networkpolicies: { create: (ctx) => createNetworkPolicySync(ctx), hostRules: [{ ...owned('networkpolicies'), apiGroups: ['networking.k8s.io'] }] },
  events: { create: (ctx) => new EventSync(ctx), hostRules: [{ apiGroups: [''], resources: ['events'], verbs: ['list', 'watch'] }] },
  // Read from the host, cluster-wide (hostClusterRoleRules), and only in the tenant's cluster written.
  runtimeclasses: { create: (ctx, s) => createRuntimeClassSync(ctx, s.runtimeClasses), hostRules: [] },
};

/**
 * The namespaced Role the syncer needs in its host namespace: reading its owner Service (and pod
 * metrics with resource metrics on), every built-in kind's rules, and the configured custom kinds (owned for toHost, read for fromHost
 * kinds read from this namespace), merged per API group and resource.
 */
export function hostRoleRules(custom: ResolvedCustomResource[] = [], hostNamespace?: string, resourceMetrics = false): PolicyRule[] {
  const rules: PolicyRule[] = [{ apiGroups: [''], resources: ['services'], verbs: ['get'] }];
  // kubectl top in the tenant: the host's PodMetrics of its own pods.
  if (resourceMetrics) rules.push({ apiGroups: ['metrics.k8s.io'], resources: ['pods'], verbs: ['get', 'list'] });
  for (const entry of Object.values(resources)) rules.push(...entry.hostRules);
  for (const c of custom) {
    if (!c.type.namespaced) continue;
    if (c.spec.direction === 'toHost') rules.push({ ...owned(c.type.plural), apiGroups: [c.type.group] });
    else if (!c.spec.sourceNamespace || c.spec.sourceNamespace === hostNamespace) rules.push({ apiGroups: [c.type.group], resources: [c.type.plural], verbs: ['get', 'list', 'watch'] });
  }
  const verbs = new Map<string, Set<string>>();
  for (const rule of rules) {
    for (const group of rule.apiGroups) {
      for (const r of rule.resources) {
        const key = `${group}/${r}`;
        const set = verbs.get(key) ?? new Set<string>();
        rule.verbs.forEach((v) => set.add(v));
        verbs.set(key, set);
      }
    }
  }
  return [...verbs].sort(([a], [b]) => a.localeCompare(b)).map(([key, v]) => {
    const slash = key.indexOf('/');
    return { apiGroups: [key.slice(0, slash)], resources: [key.slice(slash + 1)], verbs: [...v].sort() };
  });
}

/**
 * Cluster-wide rules: node reads for real and all node sync; node metrics reads for resource
 * metrics; Service reads for shared services; RuntimeClass reads when the operator permits some;
 * CRD reads and cluster-scoped fromHost kinds when custom resources are configured. Empty in the
 * default configuration.
 */
export function hostClusterRoleRules(nodeSync: NodeSyncMode, custom: ResolvedCustomResource[] = [], opts: { sharedServices?: boolean; runtimeClasses?: boolean; resourceMetrics?: boolean } = {}): PolicyRule[] {
  const { sharedServices = false, runtimeClasses = false, resourceMetrics = false } = opts;
  const rules: PolicyRule[] = [];
  if (nodeSync !== 'fake') rules.push({ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] });
  // kubectl top node in the tenant: asked one node at a time, for the nodes its pods run on.
  if (resourceMetrics) rules.push({ apiGroups: ['metrics.k8s.io'], resources: ['nodes'], verbs: ['get'] });
  if (runtimeClasses) rules.push({ apiGroups: ['node.k8s.io'], resources: ['runtimeclasses'], verbs: ['get', 'list', 'watch'] });
  // Shared Services may live in any host namespace.
  if (sharedServices) rules.push({ apiGroups: [''], resources: ['services'], verbs: ['list', 'watch'] });
  if (custom.length > 0) rules.push({ apiGroups: ['apiextensions.k8s.io'], resources: ['customresourcedefinitions'], verbs: ['get', 'list'] });
  for (const c of custom) {
    if (!c.type.namespaced) rules.push({ apiGroups: [c.type.group], resources: [c.type.plural], verbs: ['get', 'list', 'watch'] });
  }
  return rules;
}

export function createShared(ctx: SyncContext): Shared {
  const runtimeClasses = new RuntimeClassIndex(ctx);
  return { nodes: new VirtualNodes(ctx), refs: new ReferenceIndex(ctx, runtimeClasses), tokens: new ServiceAccountTokens(ctx), runtimeClasses, trustBundles: new TrustBundleProjections(ctx), podCertificates: new PodCertificates(ctx) };
}
