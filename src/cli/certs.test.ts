import { describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueCertificate } from '../pki/certs.ts';
import { certificateRow } from './certs.ts';

const day = 24 * 3600 * 1000;

describe('certificateRow', () => {
  it('reports subject, issuer, names, days left and a status by who renews the certificate', async () => {
    const ca = await createCertificateAuthority('vnest-t-ca');
    const leaf = await issueCertificate(ca, { commonName: 'vnest-t', usages: ['server'], dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validDays: 40 });
    const serving = { certificate: 'front door serving', secret: 't-certs', key: 'tls.crt', renewal: 'the syncer', renewsItself: true };
    const other = { certificate: 'admin client', secret: 't-certs', key: 'admin.crt', renewal: 'not renewed' };
    const now = Date.now();
    expect(certificateRow(serving, leaf.certPem, now)).toMatchObject({
      subject: 'vnest-t', issuer: 'vnest-t-ca', names: ['localhost', '127.0.0.1'], daysLeft: 39, status: 'ok', source: 'Secret t-certs (tls.crt)',
    });
    // Within 30 days: the syncer renews a serving certificate; anything else only expires.
    expect(certificateRow(serving, leaf.certPem, now + 15 * day)).toMatchObject({ daysLeft: 24, status: 'renews-soon' });
    expect(certificateRow(other, leaf.certPem, now + 15 * day)).toMatchObject({ status: 'expires-soon' });
    expect(certificateRow(other, leaf.certPem, now + 41 * day)).toMatchObject({ status: 'expired' });
  });
});
