// The registry of synced kinds. Adding a kind is one file in this folder and one line here.
import type { Controller } from '../../controller/controller.ts';
import type { SyncContext } from '../context.ts';
import { createReferencedSync } from './configmaps.ts';
import { EventSync } from './events.ts';
import { VirtualNodes } from './nodes.ts';
import { createPodSync } from './pods.ts';
import { createPvcSync } from './pvcs.ts';
import { ReferenceIndex } from './references.ts';

/** State several kinds share: virtual nodes (pods bind to them) and pod references. */
export interface Shared {
  nodes: VirtualNodes;
  refs: ReferenceIndex;
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
  pods: { create: (ctx, s) => createPodSync(ctx, s.nodes), hostRules: [owned('pods'), owned('secrets')] },
  configmaps: { create: (ctx, s) => createReferencedSync(ctx, s.refs, 'configmaps'), hostRules: [owned('configmaps')] },
  secrets: { create: (ctx, s) => createReferencedSync(ctx, s.refs, 'secrets'), hostRules: [owned('secrets')] },
  persistentvolumeclaims: { create: (ctx) => createPvcSync(ctx), hostRules: [owned('persistentvolumeclaims')] },
  events: { create: (ctx) => new EventSync(ctx), hostRules: [{ apiGroups: [''], resources: ['events'], verbs: ['list', 'watch'] }] },
};

/**
 * The namespaced Role the syncer needs on the host: reading its owner Service plus every enabled
 * kind's rules, merged per resource.
 */
export function hostRoleRules(): PolicyRule[] {
  const verbs = new Map<string, Set<string>>([['services', new Set(['get'])]]);
  for (const entry of Object.values(resources)) {
    for (const rule of entry.hostRules) {
      for (const r of rule.resources) {
        const set = verbs.get(r) ?? new Set<string>();
        rule.verbs.forEach((v) => set.add(v));
        verbs.set(r, set);
      }
    }
  }
  return [...verbs].sort(([a], [b]) => a.localeCompare(b)).map(([r, v]) => ({ apiGroups: [''], resources: [r], verbs: [...v].sort() }));
}

/** Cluster-wide rules, only for real-node sync. */
export function hostClusterRoleRules(nodeSync: 'fake' | 'real'): PolicyRule[] {
  return nodeSync === 'real' ? [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }] : [];
}

export function createShared(ctx: SyncContext): Shared {
  return { nodes: new VirtualNodes(ctx), refs: new ReferenceIndex(ctx) };
}
