// Certificate authority and certificates for control planes and tenants, made with @peculiar/x509
// over Node's WebCrypto (ECDSA P-256), so nothing shells out to openssl.
import { webcrypto } from 'node:crypto';
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
}

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
  return { cert, signingKey: keys.privateKey, certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

/** Loads a CA from PEM, for reuse across restarts. */
export async function loadCertificateAuthority(pem: KeyPairPem): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(pem.certPem);
  const der = x509.PemConverter.decodeFirst(pem.keyPem);
  const signingKey = await crypto.subtle.importKey('pkcs8', der, algorithm, true, ['sign']);
  return { ...pem, cert, signingKey };
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
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert, false),
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
    signingAlgorithm: algorithm,
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
