// Services shared across a tenant boundary, only by the provider's word: a Service labelled
// vnest.dev/shared=true whose vnest.dev/share-with annotation names the tenant (`name`,
// `namespace/name`, or `*` for every tenant of that cluster) appears in the tenant's cluster, in
// namespace vnest-shared, with the same cluster IP. The tenant's children get it too unless the
// provider says vnest.dev/share-subtree: "false". Nothing is shared by default.
//
// Between siblings both sides must say so: a tenant exports one of its Services by annotating it
// vnest.dev/export-to (its syncer then shares the host copy with the siblings named), and a
// sibling takes it only when its own kube-system/vnest-imports ConfigMap names the exporter.
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

/** Where a tenant says whose exports it takes: ConfigMap kube-system/vnest-imports, key `from`. */
export const imports = { namespace: 'kube-system', name: 'vnest-imports', key: 'from' } as const;

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const tenantRef = (e: string) => {
  const parts = e.split('/');
  return parts.length <= 2 && parts.every((p) => dnsLabel.test(p));
};
const entries = (text: string | undefined) => (text ?? '').split(/[\s,]+/).map((e) => e.trim()).filter(Boolean);

/** The siblings a tenant's Service is exported to (vnest.dev/export-to), and what is wrong with the list. */
export function exportTargets(s: KubeObject): { targets: string[]; problems: string[] } {
  const list = entries(s.metadata.annotations?.[marks.exportTo]);
  const bad = list.filter((e) => !tenantRef(e));
  return {
    targets: list.filter(tenantRef),
    problems: bad.length ? [`metadata.annotations[${marks.exportTo}]: ${bad.map((b) => `"${b}"`).join(', ')} name no tenant; list sibling tenants as name or namespace/name`] : [],
  };
}

/** The marks that share a tenant's host copy with the siblings it is exported to (none: no marks). */
export function exportMarks(targets: string[]): { labels: Record<string, string>; annotations: Record<string, string> } {
  if (targets.length === 0) return { labels: {}, annotations: {} };
  return { labels: { [marks.shared]: 'true' }, annotations: { [marks.shareWith]: targets.join(','), [marks.shareSubtree]: 'false' } };
}

/** The tenant that exported host Service `s` (a tenant's copy, shared by its syncer), if it is one. */
export function exporterOf(s: Service): string | undefined {
  return s.metadata.labels?.[marks.tenant];
}

/** Whether the importing tenant's `from` list (kube-system/vnest-imports) takes the exports of `s`'s tenant. */
export function importAccepted(s: Service, from: string | undefined): boolean {
  const exporter = exporterOf(s);
  if (!exporter) return false;
  return entries(from).some((e) => e === exporter || e === `${s.metadata.namespace ?? ''}/${exporter}`);
}

/** The name an export shows under in vnest-shared: `<tenant>-<namespace>-<name>` of the exporter's own Service. */
export function importName(s: Service): string {
  const ann = s.metadata.annotations ?? {};
  return sharedName(`${exporterOf(s) ?? ''}-${ann[marks.objectNamespace] ?? ''}`, ann[marks.objectName] ?? s.metadata.name);
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
