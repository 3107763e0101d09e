// ClusterTrustBundle projections. The host's kubelet would read the host's ClusterTrustBundles, not
// the tenant's, so a pod's `clusterTrustBundle` projected source becomes a `configMap` source of one
// host ConfigMap per tenant (trustBundlesConfigMap) that the syncer fills from the tenant's bundles:
// one key per distinct source (trustBundleKey), holding what the kubelet would write: the matching
// bundles' certificates, deduplicated, one PEM block each. A source that matches nothing gets an
// empty key when optional and no key otherwise, so the host's kubelet fails the mount and the pod
// does not start, as it would with the kubelet reading the bundles itself.
import { createHash } from 'node:crypto';
import type { KubeObject, ResourceType } from '../kube/client.ts';
import { selectorMatches, type LabelSelector } from './network-policy.ts';

export const clusterTrustBundles: ResourceType = { group: 'certificates.k8s.io', version: 'v1', plural: 'clustertrustbundles', kind: 'ClusterTrustBundle', namespaced: false };

export type ClusterTrustBundle = KubeObject & { spec: { signerName?: string; trustBundle: string } };

/** A pod's `clusterTrustBundle` projected source. */
export interface TrustBundleSource {
  name?: string;
  signerName?: string;
  labelSelector?: LabelSelector | null;
  optional?: boolean;
  path: string;
}

/** The host ConfigMap that holds a tenant's trust bundle projections. */
export const trustBundlesConfigMap = (tenant: string) => `${tenant}-trust-bundles`;

/** The kind mark of that ConfigMap. */
export const trustBundlesKind = 'ClusterTrustBundleProjections';

/** The ConfigMap key of a source: the same for every source that selects the same way. */
export function trustBundleKey(src: TrustBundleSource): string {
  const what = JSON.stringify([src.name ?? null, src.signerName ?? null, src.labelSelector ?? null, src.optional === true]);
  return `ctb-${createHash('sha256').update(what).digest('hex').slice(0, 24)}`;
}

/** The `clusterTrustBundle` sources of a pod's projected volumes. */
export function trustBundleSources(spec: { volumes?: Array<{ projected?: { sources?: Array<{ clusterTrustBundle?: TrustBundleSource }> } }> }): TrustBundleSource[] {
  return (spec.volumes ?? []).flatMap((v) => (v.projected?.sources ?? []).flatMap((s) => (s.clusterTrustBundle ? [s.clusterTrustBundle] : [])));
}

/**
 * The file the kubelet would write for `src` from `bundles`: by name, that bundle; by signer, every
 * bundle of the signer the selector matches (a missing selector matches none, an empty one all).
 * Undefined when nothing matches and the source is not optional.
 */
export function trustAnchors(src: TrustBundleSource, bundles: readonly ClusterTrustBundle[]): string | undefined {
  const chosen = src.name !== undefined
    ? bundles.filter((b) => b.metadata.name === src.name)
    : src.labelSelector
      ? bundles.filter((b) => (b.spec.signerName ?? '') === (src.signerName ?? '') && selectorMatches(src.labelSelector ?? undefined, b.metadata.labels ?? {}))
      : [];
  if (chosen.length === 0) return src.optional ? '' : undefined;
  return normalizePem(chosen.map((b) => b.spec.trustBundle));
}

/** Every PEM block of `texts` once, as a CERTIFICATE block with 64-character lines, in a stable order. */
export function normalizePem(texts: readonly string[]): string {
  return [...new Set(texts.flatMap(pemBodies))].sort().map(certificateBlock).join('');
}

/** The base64 bodies of the PEM blocks in `text`, in order (headers and text between blocks dropped). */
export function pemBodies(text: string): string[] {
  return [...text.matchAll(/-----BEGIN [^-]+-----([\s\S]*?)-----END [^-]+-----/g)]
    .map((m) => Buffer.from((m[1] ?? '').replace(/^[\w-]+:.*$/gm, '').replace(/\s+/g, ''), 'base64').toString('base64'))
    .filter(Boolean);
}

/** A CERTIFICATE PEM block of a base64 body, 64 characters a line, as Go's pem package writes it. */
export const certificateBlock = (body: string) => `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)?.join('\n')}\n-----END CERTIFICATE-----\n`;
