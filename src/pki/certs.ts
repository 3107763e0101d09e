// Certificate authority and certificates for control planes and tenants, made with @peculiar/x509
// over Node's WebCrypto (ECDSA P-256; a loaded CA may be RSA), so nothing shells out to openssl.
import { createPrivateKey, webcrypto } from 'node:crypto';
// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs this polyfill first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
type Key = webcrypto.CryptoKey;
type KeyPair = webcrypto.CryptoKeyPair;
const crypto = webcrypto;
x509.cryptoProvider.set(crypto);

/** A certificate with its private key, both PEM-encoded. */
export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

/** A CA that can issue certificates; `keys` stay in memory only. */
export interface CertificateAuthority extends KeyPairPem {
  cert: x509.X509Certificate;
  signingKey: Key;
  /** How it signs: ECDSA P-256 for CAs made here; a loaded CA's own (RSA or ECDSA). */
  signingAlgorithm: SigningAlgorithm;
}

type SigningAlgorithm = { name: 'ECDSA'; namedCurve: string; hash: string } | { name: 'RSASSA-PKCS1-v1_5'; hash: string };

export interface CertificateRequest {
  commonName: string;
  /** Subject organisations: Kubernetes reads them as group names. */
  organizations?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  /** `server`, `client`, or both. */
  usages: Array<'server' | 'client'>;
  validDays?: number;
}

const day = 24 * 60 * 60 * 1000;

function subject(commonName: string, organizations: string[] = []): x509.JsonName {
  return [{ CN: [commonName] }, ...organizations.map((o) => ({ O: [o] }))];
}

function serial(): string {
  // Positive, 16 bytes: the first bit clear so DER does not read it as negative.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

async function privateKeyPem(key: Key): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function generateKeys(): Promise<KeyPair> {
  return crypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
}

/** Creates a self-signed CA valid for `validDays` (default ten years). */
export async function createCertificateAuthority(commonName: string, validDays = 3650): Promise<CertificateAuthority> {
  const keys = await generateKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: subject(commonName),
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + validDays * day),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, signingKey: keys.privateKey, signingAlgorithm: algorithm, certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

const curves: Record<string, { namedCurve: string; hash: string }> = {
  prime256v1: { namedCurve: 'P-256', hash: 'SHA-256' },
  secp384r1: { namedCurve: 'P-384', hash: 'SHA-384' },
  secp521r1: { namedCurve: 'P-521', hash: 'SHA-512' },
};

/**
 * Loads a CA from PEM, for reuse across restarts or to issue from another's CA (a control plane's:
 * Helm's RSA keys in PKCS#1, k3s's ECDSA keys in SEC1, or PKCS#8).
 */
export async function loadCertificateAuthority(pem: KeyPairPem): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(pem.certPem);
  const key = createPrivateKey(pem.keyPem);
  let signingAlgorithm: SigningAlgorithm;
  if (key.asymmetricKeyType === 'rsa') signingAlgorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  else if (key.asymmetricKeyType === 'ec' && curves[key.asymmetricKeyDetails?.namedCurve ?? '']) signingAlgorithm = { name: 'ECDSA', ...curves[key.asymmetricKeyDetails?.namedCurve ?? '']! };
  else throw new Error(`unsupported CA key (${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.namedCurve ?? ''}): RSA or ECDSA P-256, P-384, P-521 are`);
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const signingKey = await crypto.subtle.importKey('pkcs8', der, signingAlgorithm, true, ['sign']);
  return { ...pem, cert, signingKey, signingAlgorithm };
}

/**
 * The authority key identifier of certificates `caCert` issues: its own subject key identifier when
 * it has one (a CA made elsewhere, as Helm's, computes it its own way; verifiers match the two),
 * else one computed from its public key.
 */
async function authorityKeyIdentifier(caCert: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  return ski ? new x509.AuthorityKeyIdentifierExtension(ski.keyId, false) : x509.AuthorityKeyIdentifierExtension.create(caCert, false);
}

/** Issues a leaf certificate signed by `ca` (default validity one year). */
export async function issueCertificate(ca: CertificateAuthority, req: CertificateRequest): Promise<KeyPairPem> {
  const keys = await generateKeys();
  const now = Date.now();
  const eku: string[] = [];
  if (req.usages.includes('server')) eku.push(x509.ExtendedKeyUsage.serverAuth);
  if (req.usages.includes('client')) eku.push(x509.ExtendedKeyUsage.clientAuth);
  const names: x509.JsonGeneralNames = [
    ...(req.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(req.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(eku, false),
    await authorityKeyIdentifier(ca.cert),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: subject(req.commonName, req.organizations),
    issuer: ca.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (req.validDays ?? 365) * day),
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: ca.signingAlgorithm,
    extensions,
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

/** A key pair for signing service-account tokens: PKCS#8 private key and SPKI public key. */
export async function createSigningKeyPair(): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  const keys = await generateKeys();
  const spki = await crypto.subtle.exportKey('spki', keys.publicKey);
  return { privateKeyPem: await privateKeyPem(keys.privateKey), publicKeyPem: x509.PemConverter.encode(spki, 'PUBLIC KEY') };
}
