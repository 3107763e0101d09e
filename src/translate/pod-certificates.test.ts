import { describe, expect, it } from 'vitest';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { cleanCertificateChain, hostPodCertificateSource, podCertificateKeyPair, podCertificateSources } from './pod-certificates.ts';

describe('pod certificates', () => {
  it('makes every key type the API takes, with a stub request that proves the key and names nobody', async () => {
    for (const keyType of ['ED25519', 'ECDSAP256', 'ECDSAP384', 'ECDSAP521', 'RSA3072']) {
      const { keyPem, stubPkcs10Request } = await podCertificateKeyPair(keyType);
      expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
      const csr = new x509.Pkcs10CertificateRequest(Buffer.from(stubPkcs10Request, 'base64'));
      expect(await csr.verify()).toBe(true);
      expect(csr.subject).toBe('');
    }
    await expect(podCertificateKeyPair('DSA')).rejects.toThrow(/unknown key type/);
  });

  it('reads the host pod\'s files from its certificate Secret at the same paths', () => {
    const spec = { volumes: [{ name: 'certs', projected: { sources: [{ configMap: { name: 'x' } }, { podCertificate: { signerName: 'e.com/s', keyType: 'ED25519', credentialBundlePath: 'bundle.pem', keyPath: 'k.pem' } }] } }] };
    const [placed] = podCertificateSources(spec);
    expect(placed?.key).toBe('pc-certs-1');
    expect(hostPodCertificateSource(placed!.source, placed!.key, 'p-x-app-x-t1')).toEqual({
      secret: { name: 'p-x-app-x-t1-pod-certs', items: [{ key: 'pc-certs-1.bundle', path: 'bundle.pem' }, { key: 'pc-certs-1.key', path: 'k.pem' }] },
    });
  });

  it('keeps only the CERTIFICATE blocks of a chain, without what is between them', () => {
    const body = Buffer.from('leaf').toString('base64');
    expect(cleanCertificateChain(`junk\n-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\nmore junk`)).toBe(`-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`);
  });
});
