// Pod certificates (`projected.sources[].podCertificate`). The host's kubelet would ask the host's
// signers, so the syncer does the kubelet's part against the tenant's API instead: it makes the key
// pair, files a PodCertificateRequest for the virtual pod on its virtual node, and once a tenant
// signer issues it, writes the key and certificate chain into a host Secret per pod
// (podCertificateSecret, owned by the host pod); the host pod's source becomes a `secret` source of
// that Secret with the same paths. Until then the host's kubelet waits for the Secret, as it waits
// for an issuance.
import { webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { certificateBlock, pemBodies } from './trust-bundles.ts';

x509.cryptoProvider.set(webcrypto);

/** A pod's `podCertificate` projected source. */
export interface PodCertificateSource {
  signerName: string;
  keyType: string;
  maxExpirationSeconds?: number;
  credentialBundlePath?: string;
  keyPath?: string;
  certificateChainPath?: string;
  userAnnotations?: Record<string, string>;
}

/** One source with where it is in the pod: the key of its files in the host Secret. */
export interface PlacedPodCertificateSource {
  key: string;
  source: PodCertificateSource;
}

/** The host Secret with the pod certificates of host pod `hostPodName`. */
export const podCertificateSecret = (hostPodName: string) => `${hostPodName}-pod-certs`;

/** The kind mark of that Secret. */
export const podCertificateKind = 'PodCertificates';

/** Keys of a source's files in the Secret. */
export const podCertificateKeys = (key: string) => ({ bundle: `${key}.bundle`, key: `${key}.key`, chain: `${key}.chain` });

 
type Volumes = { volumes?: Array<Record<string, any>> };

/** The key of the source at `index` of projected volume `volume`. */
export const podCertificateKey = (volume: string, index: number) => `pc-${volume}-${index}`;

/** The podCertificate sources of a pod spec, keyed by volume and source index. */
export function podCertificateSources(spec: Volumes): PlacedPodCertificateSource[] {
  return (spec.volumes ?? []).flatMap((v) => ((v.projected?.sources ?? []) as Array<{ podCertificate?: PodCertificateSource }>)
    .flatMap((s, i) => (s.podCertificate ? [{ key: podCertificateKey(v.name as string, i), source: s.podCertificate }] : [])));
}

/** The host pod's source for a podCertificate source: the same paths, from the pod's certificate Secret. */
export function hostPodCertificateSource(src: PodCertificateSource, key: string, hostPodName: string): Record<string, unknown> {
  const keys = podCertificateKeys(key);
  const items = [
    ...(src.credentialBundlePath ? [{ key: keys.bundle, path: src.credentialBundlePath }] : []),
    ...(src.keyPath ? [{ key: keys.key, path: src.keyPath }] : []),
    ...(src.certificateChainPath ? [{ key: keys.chain, path: src.certificateChainPath }] : []),
  ];
  return { secret: { name: podCertificateSecret(hostPodName), items } };
}

type KeyAlgorithm = webcrypto.RsaHashedKeyGenParams | (webcrypto.EcKeyGenParams & { hash: string }) | { name: 'Ed25519' };
const keyAlgorithms: Record<string, KeyAlgorithm> = {
  RSA3072: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 3072, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  RSA4096: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 4096, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  ECDSAP256: { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' },
  ECDSAP384: { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' },
  ECDSAP521: { name: 'ECDSA', namedCurve: 'P-521', hash: 'SHA-512' },
  ED25519: { name: 'Ed25519' },
};

/**
 * A key pair of `keyType` as the kubelet makes it: the private key (PKCS#8 PEM) and a stub PKCS#10
 * request with an empty subject that proves possession of it (DER, base64 as the API carries it).
 */
export async function podCertificateKeyPair(keyType: string): Promise<{ keyPem: string; stubPkcs10Request: string }> {
  const algorithm = keyAlgorithms[keyType];
  if (!algorithm) throw new Error(`unknown key type "${keyType}"`);
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: algorithm });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  // Ended by a newline, as Go's pem package writes it: the credential bundle is this and the chain, one after the other.
  return { keyPem: `${x509.PemConverter.encode(pkcs8, 'PRIVATE KEY').trimEnd()}\n`, stubPkcs10Request: Buffer.from(csr.rawData).toString('base64') };
}

/** Every PEM block of a chain as a CERTIFICATE block, nothing between them (the kubelet's cleanCertificateChain). */
export function cleanCertificateChain(chain: string): string {
  return pemBodies(chain).map(certificateBlock).join('');
}
