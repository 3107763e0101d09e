// The front door's certificates over a tenant's life: `vnest certs check` reports each with its
// expiry, `vnest certs rotate` gets a new serving certificate served without a restart, and the
// running syncer renews one that nears expiry and puts back a deleted certificates Secret with the
// same CA (what it serves is checked over TLS, not only what the Secret holds).
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { issueCertificate, loadCertificateAuthority } from '../../src/pki/certs.ts';
import { servingNames } from '../../src/proxy/certs.ts';
import type { CertificateRow } from '../../src/cli/certs.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';
import { eventually, hostNamespace, TenantBed } from '../tenant-bed.ts';

const tenant = 'certs';
const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

type SecretJson = { data: Record<string, string> };
const pem = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString('utf8');

describe('a tenant\'s certificates: check, rotate, renewal while the syncer runs', () => {
  const env = useEnvironment(() => TenantBed.start([tenant], { nodes: 1 }));
  const bed = () => env.current;
  let port = 0;

  const vnest = async (args: string[]) => {
    const k = await kit();
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [main, ...args, '-n', hostNamespace, `--kubeconfig=${bed().host.kubeconfigPath}`], { env: { ...process.env, VNEST_KUBECTL: k.bin.kubectl }, timeout: 150_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };
  const secret = async () => (await bed().hostJson<SecretJson>('-n', hostNamespace, 'get', 'secret', `${tenant}-certs`)).data;
  /** The certificate the front door serves, verified against `caPem` as a client would. */
  const served = (caPem: string) => new Promise<X509Certificate>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: caPem }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert) resolve(cert);
      else reject(new Error('no certificate'));
    });
    socket.on('error', reject);
  });

  beforeAll(async () => {
    port = await ports.next();
    await bed().startSyncer(tenant, { listenPort: port });
  }, 120_000);

  it('certs check lists every certificate with its expiry, and says who renews it', async () => {
    expect(port).toBeGreaterThan(0);
    const json = await vnest(['certs', 'check', tenant, '-o', 'json']);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const rows = JSON.parse(json.stdout) as CertificateRow[];
    expect(rows.map((r) => r.certificate)).toEqual(['front door CA', 'front door serving', 'admin client', 'kubeconfig client']);
    const byName = new Map(rows.map((r) => [r.certificate, r]));
    const servingCert = new X509Certificate(pem((await secret())['tls.crt']));
    expect(byName.get('front door serving')).toMatchObject({
      subject: `vnest-${tenant}`, issuer: `vnest-${tenant}-ca`, status: 'ok', notAfter: new Date(servingCert.validTo).toISOString(), source: `Secret ${tenant}-certs (tls.crt)`,
    });
    expect(byName.get('front door serving')?.daysLeft).toBeGreaterThanOrEqual(363);
    expect(byName.get('front door serving')?.names).toEqual(expect.arrayContaining(['localhost', `${tenant}.${hostNamespace}.svc`, '127.0.0.1']));
    expect(byName.get('admin client')?.daysLeft).toBeGreaterThan(3600);
    // The exported kubeconfig carries the admin certificate.
    expect(byName.get('kubeconfig client')?.notAfter).toBe(byName.get('admin client')?.notAfter);

    const table = await vnest(['certs', 'check', tenant]);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^CERTIFICATE\s+SUBJECT\s+EXPIRES\s+DAYS LEFT\s+STATUS\s+SOURCE$/);
    expect(table.stdout).toMatch(/front door serving\s+vnest-certs\s+\S+\s+36\d\s+ok\s+Secret certs-certs \(tls\.crt\)/);

    const unknown = await vnest(['certs', 'check', 'nobody']);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain('no tenant "nobody" in namespace "tenants"');
  });

  it('certs rotate: a new serving certificate from the same CA, served without a restart', async () => {
    const before = await secret();
    const caPem = pem(before['ca.crt']);
    const old = new X509Certificate(pem(before['tls.crt']));
    expect((await served(caPem)).fingerprint256).toBe(old.fingerprint256);

    const res = await vnest(['certs', 'rotate', tenant]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const after = await secret();
    const fresh = new X509Certificate(pem(after['tls.crt']));
    expect(fresh.fingerprint256).not.toBe(old.fingerprint256);
    expect(res.stdout).toContain(`tenant ${tenant}: new front door serving certificate, valid until ${new Date(fresh.validTo).toISOString()} (SHA-256 ${fresh.fingerprint256})`);
    expect(after['ca.crt']).toBe(before['ca.crt']);
    expect(after['admin.crt']).toBe(before['admin.crt']);
    // Served to new connections, and verified with the unchanged CA.
    await eventually('the new certificate served', async () => (await served(caPem)).fingerprint256 === fresh.fingerprint256, 10_000);

    const bad = await vnest(['certs', 'rotate', tenant, '--timeout', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--timeout soon is not a number of seconds');
    const unknown = await vnest(['certs', 'rotate', 'nobody']);
    expect(unknown.code).toBe(4);
  });

  it('renews a serving certificate that nears expiry, and puts back a deleted Secret with the same CA', async () => {
    const before = await secret();
    const caPem = pem(before['ca.crt']);
    const ca = await loadCertificateAuthority({ certPem: caPem, keyPem: pem(before['ca.key']) });
    // A certificate with ten days left, as a year-old one would have.
    const expiring = await issueCertificate(ca, { commonName: `vnest-${tenant}`, usages: ['server'], ...servingNames(tenant, hostNamespace, []), validDays: 10 });
    const expiringFp = new X509Certificate(expiring.certPem).fingerprint256;
    await bed().hostKubectl('-n', hostNamespace, 'patch', 'secret', `${tenant}-certs`, '-p', JSON.stringify({
      data: { 'tls.crt': Buffer.from(expiring.certPem).toString('base64'), 'tls.key': Buffer.from(expiring.keyPem).toString('base64') },
    }));
    const renewed = await eventually('a renewed serving certificate in the Secret', async () => {
      const c = new X509Certificate(pem((await secret())['tls.crt']));
      return c.fingerprint256 !== expiringFp ? c : undefined;
    }, 30_000);
    expect(Date.parse(renewed.validTo) - Date.now()).toBeGreaterThan(360 * 24 * 3600 * 1000);
    await eventually('the renewed certificate served', async () => (await served(caPem)).fingerprint256 === renewed.fingerprint256, 10_000);
    const check = JSON.parse((await vnest(['certs', 'check', tenant, '-o', 'json'])).stdout) as CertificateRow[];
    expect(check.find((r) => r.certificate === 'front door serving')?.status).toBe('ok');

    // Deleted: back with the same CA and admin certificate (a new CA would break every client).
    await bed().hostKubectl('-n', hostNamespace, 'delete', 'secret', `${tenant}-certs`);
    const back = await eventually('the certificates Secret back', async () => {
      const s = await bed().hostJson<SecretJson>('-n', hostNamespace, 'get', 'secret', `${tenant}-certs`).catch(() => undefined);
      return s?.data['tls.crt'] ? s.data : undefined;
    }, 30_000);
    expect(back['ca.crt']).toBe(before['ca.crt']);
    expect(back['ca.key']).toBe(before['ca.key']);
    expect(back['admin.crt']).toBe(before['admin.crt']);
    const servedNow = await served(caPem);
    expect(servedNow.fingerprint256).toBe(new X509Certificate(pem(back['tls.crt'])).fingerprint256);
    expect(servedNow.verify(new X509Certificate(caPem).publicKey)).toBe(true);
  });
});
