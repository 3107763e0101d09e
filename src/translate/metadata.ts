// The marks vnest puts on host objects, and the metadata translation both directions rely on.
// Every vnest.dev/ key is defined here and nowhere else.
import type { KubeObject, ObjectMeta, OwnerReference } from '../kube/client.ts';
import { defaultHostAnnotations, defaultHostLabels, keyListed, type IsolationPolicy } from './policy.ts';

export const marks = {
  /** Label: the tenant that owns a host object. */
  tenant: 'vnest.dev/tenant',
  /** Label: the virtual namespace of a host object, so translated selectors can match on it. */
  namespace: 'vnest.dev/namespace',
  objectName: 'vnest.dev/object-name',
  objectNamespace: 'vnest.dev/object-namespace',
  objectUid: 'vnest.dev/object-uid',
  objectKind: 'vnest.dev/object-kind',
  /** Annotation on a ConfigMap or Secret: sync it even when no pod references it. */
  syncAlways: 'vnest.dev/sync',
  /** Annotation on a host pod: when its service-account tokens expire (RFC 3339). */
  tokenExpiry: 'vnest.dev/token-expiry',
  /** Annotation on a host pod: when its service-account tokens were issued (RFC 3339). */
  tokenIssued: 'vnest.dev/token-issued',
  /** Prefix of host pod annotations that carry service-account tokens. */
  tokenPrefix: 'vnest.dev/token-',
  /**
   * Label the chart puts on a tenant's control-plane pod; its Services and NetworkPolicies select
   * on it. A tenant can set it on its own pods, so it is never copied as it is: a nested tenant's
   * control-plane pod gets `nestedControlPlane` on the host instead (see nestedKey).
   */
  controlPlane: 'vnest.dev/control-plane',
  nestedControlPlane: 'vnest.dev/nested-control-plane',
  /** Label on the exported kubeconfig Secret, by which `vnest list` finds the tenants of a cluster. */
  kubeconfig: 'vnest.dev/kubeconfig',
  /** Label on a Service shared into tenants (its provider sets it; `share-with` says with whom). */
  shared: 'vnest.dev/shared',
  /** Annotation on a shared Service: the tenants it is shared with (`name`, `namespace/name` or `*`). */
  shareWith: 'vnest.dev/share-with',
  /** Annotation on a shared Service: "false" keeps it from the named tenants' own children. */
  shareSubtree: 'vnest.dev/share-subtree',
  /**
   * Annotation a tenant puts on one of its own Services to export it to sibling tenants (`name` or
   * `namespace/name`, comma-separated): the one vnest.dev/ key a tenant writes. Its host copy is
   * then shared with them, and they see it when they accept this tenant's exports.
   */
  exportTo: 'vnest.dev/export-to',
  /** Annotation on a tenant's copy of a shared Service: where it comes from (`namespace/name`). */
  sharedFrom: 'vnest.dev/shared-from',
  /** Annotation on the exported kubeconfig Secret: the tenant's domain. */
  domain: 'vnest.dev/domain',
  /** Annotation on a host namespace `vnest create` made: the tenant it was made for (`vnest delete` removes it). */
  createdFor: 'vnest.dev/created-for',
  /** Label on objects the syncer made in the tenant's cluster (virtual nodes, CRDs, fromHost copies). */
  managed: 'vnest.dev/managed',
} as const;

const prefix = 'vnest.dev/';

/**
 * The host key of a vnest.dev/ label a tenant object carries: `vnest.dev/nested-<rest>`, or
 * undefined when that would be too long for a label key. A nested tenant's syncer marks its host
 * copies (in this tenant's cluster) with vnest.dev/ labels and selects on them; carried under
 * this key they keep selecting the same pods one level down, and they can never pass for this
 * tenant's own marks, which host Services and NetworkPolicies trust. Selectors of a tenant object
 * are translated by the same rule, always narrowed to this tenant's pods of that namespace.
 */
export function nestedKey(key: string): string | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const name = `nested-${key.slice(prefix.length)}`;
  return name.length <= 63 ? `${prefix}${name}` : undefined;
}


export interface HostMetaContext {
  tenant: string;
  hostNamespace: string;
  owner?: OwnerReference;
  policy: Pick<IsolationPolicy, 'hostLabels' | 'hostAnnotations'>;
}

/**
 * The labels and annotations of a virtual object that may be copied to the host: an allow-list of
 * keys (policy.ts), never a vnest.dev/ key. Host add-ons act on prefixed keys (CNI, identity
 * webhooks, load balancers, DNS controllers), so those stay behind unless the operator lists them.
 */
export function copiedMetadata(meta: ObjectMeta, policy: HostMetaContext['policy']): { labels: Record<string, string>; annotations: Record<string, string> } {
  const pick = (from: Record<string, string> | undefined, defaults: readonly string[], extra: readonly string[]) => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(from ?? {})) {
      if (!k.startsWith(prefix) && (keyListed(k, defaults) || keyListed(k, extra))) out[k] = v;
    }
    return out;
  };
  return {
    labels: pick(meta.labels, defaultHostLabels, policy.hostLabels),
    annotations: pick(meta.annotations, defaultHostAnnotations, policy.hostAnnotations),
  };
}

/**
 * The labels and annotations of a host copy that vnest manages: its own vnest.dev/ keys and the
 * keys it would copy. Keys host controllers add (pv.kubernetes.io/..., for instance) are theirs:
 * comparing only this view keeps a sync from removing them.
 */
export function managedMetadata(meta: ObjectMeta, policy: HostMetaContext['policy']): { labels: Record<string, string>; annotations: Record<string, string> } {
  const copied = copiedMetadata(meta, policy);
  const ours = (from: Record<string, string> | undefined) => Object.fromEntries(Object.entries(from ?? {}).filter(([k]) => k.startsWith(prefix)));
  return { labels: { ...copied.labels, ...ours(meta.labels) }, annotations: { ...copied.annotations, ...ours(meta.annotations) } };
}

/** Metadata of the host copy of `vObj` (name already translated by the caller). */
export function hostMetadata(vObj: KubeObject, kind: string, hostName: string, ctx: HostMetaContext): ObjectMeta {
  const { labels, annotations } = copiedMetadata(vObj.metadata, ctx.policy);
  labels[marks.tenant] = ctx.tenant;
  if (vObj.metadata.namespace) labels[marks.namespace] = vObj.metadata.namespace;
  for (const [k, v] of Object.entries(vObj.metadata.labels ?? {})) {
    const nested = nestedKey(k);
    if (nested) labels[nested] = v;
  }
  annotations[marks.objectName] = vObj.metadata.name;
  annotations[marks.objectNamespace] = vObj.metadata.namespace ?? '';
  annotations[marks.objectUid] = vObj.metadata.uid ?? '';
  annotations[marks.objectKind] = kind;
  return {
    name: hostName,
    namespace: ctx.hostNamespace,
    labels,
    annotations,
    ...(ctx.owner ? { ownerReferences: [ctx.owner] } : {}),
  };
}

/**
 * A tenant's selector key as host copies carry it: vnest.dev/ keys under nestedKey (kept as they
 * are when too long: no host copy carries them, so the selector selects nothing, as on the host).
 */
export function hostSelectorKey(key: string): string {
  return key.startsWith(prefix) ? (nestedKey(key) ?? key) : key;
}

/** A tenant's matchLabels selector for its pods of `namespace`, as their host copies carry it. */
export function hostMatchLabels(selector: Record<string, string>, tenant: string, namespace: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(selector)) out[hostSelectorKey(k)] = v;
  return { ...out, [marks.tenant]: tenant, [marks.namespace]: namespace };
}

export type Ownership = 'ours' | 'stale' | 'foreign';

/**
 * Whether a host object belongs to this tenant and to the virtual object with `vUid`: `ours`;
 * this tenant's, but for an earlier object of the same name: `stale`; anything else: `foreign`,
 * which vnest never changes or deletes.
 */
export function ownership(hObj: KubeObject, tenant: string, kind: string, vUid?: string): Ownership {
  const labels = hObj.metadata.labels ?? {};
  const ann = hObj.metadata.annotations ?? {};
  if (labels[marks.tenant] !== tenant || ann[marks.objectKind] !== kind || !ann[marks.objectUid]) return 'foreign';
  if (vUid !== undefined && ann[marks.objectUid] !== vUid) return 'stale';
  return 'ours';
}

/** The virtual key (`namespace/name`) a host object of this tenant was made from, if any. */
export function virtualKeyOf(hObj: KubeObject, tenant: string): string | undefined {
  const ann = hObj.metadata.annotations ?? {};
  if (hObj.metadata.labels?.[marks.tenant] !== tenant) return undefined;
  const name = ann[marks.objectName];
  if (!name) return undefined;
  const ns = ann[marks.objectNamespace];
  return ns ? `${ns}/${name}` : name;
}
