import { KeyObject, X509Certificate, createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { createCertificateAuthority, createSigningKeyPair, issueCertificate, loadCertificateAuthority } from './certs.ts';

describe('certificates', () => {
  it('issues a server certificate the CA verifies, with the requested SANs', async () => {
    const ca = await createCertificateAuthority('test-ca');
    const leaf = await issueCertificate(ca, { commonName: 'api', usages: ['server'], dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const caCert = new X509Certificate(ca.certPem);
    const cert = new X509Certificate(leaf.certPem);
    expect(caCert.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    // The private key matches the certificate.
    expect(cert.checkPrivateKey(createPrivateKey(leaf.keyPem))).toBe(true);
  });

  it('puts organisations in the subject as Kubernetes groups', async () => {
    const ca = await createCertificateAuthority('test-ca');
    const leaf = await issueCertificate(ca, { commonName: 'alice', organizations: ['system:masters', 'dev'], usages: ['client'] });
    const cert = new X509Certificate(leaf.certPem);
    expect(cert.subject.split('\n')).toEqual(['CN=alice', 'O=system:masters', 'O=dev']);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('reloads a CA from PEM and keeps signing with the same key', async () => {
    const ca = await createCertificateAuthority('test-ca');
    const reloaded = await loadCertificateAuthority({ certPem: ca.certPem, keyPem: ca.keyPem });
    const leaf = await issueCertificate(reloaded, { commonName: 'x', usages: ['client'] });
    expect(new X509Certificate(leaf.certPem).verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
  });

  it("issues from a control plane's CA with an RSA key in PKCS#1 (Helm's) or an EC key in SEC1 (k3s's)", async () => {
    for (const [params, type] of [[{ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, 'pkcs1'], [{ name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' }, 'sec1']] as const) {
      const keys = await webcrypto.subtle.generateKey(params, true, ['sign', 'verify']);
      const caCert = await x509.X509CertificateGenerator.createSelfSigned({
        // A key identifier computed its own way, as Go's (Helm's genCA) is.
        name: 'CN=foreign-ca', keys, signingAlgorithm: params, extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.SubjectKeyIdentifierExtension('0102030405060708090a0b0c0d0e0f1011121314')],
      });
      const keyPem = KeyObject.from(keys.privateKey).export({ type, format: 'pem' }) as string;
      expect(keyPem).toMatch(type === 'pkcs1' ? /BEGIN RSA PRIVATE KEY/ : /BEGIN EC PRIVATE KEY/);
      const ca = await loadCertificateAuthority({ certPem: caCert.toString('pem'), keyPem });
      const leaf = await issueCertificate(ca, { commonName: 'front-door', usages: ['server'], dnsNames: ['kubernetes.default.svc'] });
      expect(new X509Certificate(leaf.certPem).verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
      // Its authority key identifier is the CA's own, so TLS verifiers find the issuer.
      expect(new X509Certificate(leaf.certPem).checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    }
  });

  it('makes a matching service-account signing key pair', async () => {
    const pair = await createSigningKeyPair();
    const fromPrivate = createPublicKey(createPrivateKey(pair.privateKeyPem)).export({ format: 'pem', type: 'spki' });
    expect(fromPrivate).toBe(pair.publicKeyPem.replace(/\r\n/g, '\n').trimEnd() + '\n');
  });
});
