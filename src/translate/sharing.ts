// Services shared across a tenant boundary, only by the provider's word: a Service labelled
// vnest.dev/shared=true whose vnest.dev/share-with annotation names the tenant (`name`,
// `namespace/name`, or `*` for every tenant of that cluster) appears in the tenant's cluster, in
// namespace vnest-shared, with the same cluster IP. The tenant's children get it too unless the
// provider says vnest.dev/share-subtree: "false". Nothing is shared by default.
import { createHash } from 'node:crypto';
import type { KubeObject } from '../kube/client.ts';
import { marks } from './metadata.ts';

/** The namespace shared Services appear in; tenants cannot write to it (the front door refuses). */
export const sharedNamespace = 'vnest-shared';

type Service = KubeObject & { spec?: { clusterIP?: string; type?: string } };

/** Whether the provider shares host Service `s` with `tenant` (living in `hostNamespace`). */
export function sharedWith(s: Service, tenant: string, hostNamespace: string): boolean {
  if (s.metadata.labels?.[marks.shared] !== 'true') return false;
  // A tenant's own copies are never shared back to it.
  if (s.metadata.labels[marks.tenant] === tenant && s.metadata.namespace === hostNamespace) return false;
  const ip = s.spec?.clusterIP;
  if (!ip || ip === 'None' || (s.spec?.type ?? 'ClusterIP') === 'ExternalName') return false;
  const entries = (s.metadata.annotations?.[marks.shareWith] ?? '').split(',').map((e) => e.trim()).filter(Boolean);
  return entries.some((e) => e === '*' || e === tenant || e === `${hostNamespace}/${tenant}`);
}

/** Whether the tenant's children may have it too. */
export function sharedWithSubtree(s: Service): boolean {
  return s.metadata.annotations?.[marks.shareSubtree] !== 'false';
}

/**
 * The shared Service's name in the tenant: `<namespace>-<name>` (hashed past 63 characters); a
 * share the parent passes on (from its own vnest-shared) keeps its name.
 */
export function sharedName(namespace: string, name: string): string {
  if (namespace === sharedNamespace) return name;
  const full = `${namespace}-${name}`;
  if (full.length <= 63) return full;
  return `${full.slice(0, 52)}-${createHash('sha256').update(full).digest('hex').slice(0, 10)}`;
}
