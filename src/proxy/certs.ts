// The tenant's CA, the front door's serving certificate and the tenant admin's client certificate:
// generated once, kept in a host Secret, reused across restarts (a serving certificate is reissued
// only when the wanted names change or it nears expiry; the CA never changes). Given the tenant API
// server's own CA (--tenant-ca-cert/-key), the front door's certificates are issued by it instead,
// so the CA pods trust is the one the tenant's kube-root-ca.crt ConfigMaps publish.
import { X509Certificate } from 'node:crypto';
import type { KubeClient, KubeObject, OwnerReference } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import { createCertificateAuthority, issueCertificate, loadCertificateAuthority, type CertificateAuthority, type KeyPairPem } from '../pki/certs.ts';
import { marks } from '../translate/metadata.ts';
import { types } from '../syncer/context.ts';

export interface TenantCerts {
  ca: CertificateAuthority;
  serving: KeyPairPem;
  admin: KeyPairPem;
}

type Secret = KubeObject & { data?: Record<string, string>; type?: string };

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64').toString('utf8') : '');

/** Name of the host Secret holding a tenant's certificates. */
export const certsSecretName = (tenant: string) => `${tenant}-certs`;

/** DNS names and IPs the serving certificate covers. */
export function servingNames(tenant: string, hostNamespace: string, extraSans: string[]): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames = [
    'localhost', tenant, `${tenant}.${hostNamespace}`, `${tenant}.${hostNamespace}.svc`, `${tenant}.${hostNamespace}.svc.cluster.local`,
    `${tenant}-headless`, `${tenant}-headless.${hostNamespace}`, `${tenant}-headless.${hostNamespace}.svc`,
    'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local',
  ];
  const ipAddresses = ['127.0.0.1'];
  for (const san of extraSans) (/^[\d.]+$|:/.test(san) ? ipAddresses : dnsNames).push(san);
  return { dnsNames: [...new Set(dnsNames)], ipAddresses: [...new Set(ipAddresses)] };
}

/** Whether `ca` signed the certificate (a CA changed under it, as to the tenant's own, means a new one). */
function issuedBy(certPem: string, ca: CertificateAuthority): boolean {
  try {
    return new X509Certificate(certPem).verify(new X509Certificate(ca.certPem).publicKey);
  } catch {
    return false;
  }
}

function coversAndFresh(certPem: string, names: { dnsNames: string[]; ipAddresses: string[] }): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const san = cert.subjectAltName ?? '';
    const all = [...names.dnsNames.map((d) => `DNS:${d}`), ...names.ipAddresses.map((i) => `IP Address:${i}`)];
    const monthLeft = Date.parse(cert.validTo) - Date.now() > 30 * 24 * 3600 * 1000;
    return monthLeft && all.every((n) => san.split(', ').includes(n));
  } catch {
    return false;
  }
}

/**
 * Loads the tenant's certificates from the host, creating or completing them when needed. A new
 * Secret is owned by `owner` (the tenant's host Service), so uninstalling the tenant removes it.
 */
export async function ensureTenantCerts(host: KubeClient, tenant: string, hostNamespace: string, extraSans: string[] = [], owner?: OwnerReference, tenantCa?: CertificateAuthority): Promise<TenantCerts> {
  const name = certsSecretName(tenant);
  let existing: Secret | undefined;
  try {
    existing = await host.get<Secret>(types.secrets, hostNamespace, name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (existing && existing.metadata.labels?.[marks.tenant] !== tenant) {
    throw new Error(`host Secret ${hostNamespace}/${name} exists but is not this tenant's (label ${marks.tenant}); remove it or choose another tenant name`);
  }
  const d = existing?.data ?? {};
  // The tenant's own CA when given (its key stays out of the Secret); else the one kept, or a new one.
  const ca = tenantCa ?? (d['ca.crt'] && d['ca.key']
    ? await loadCertificateAuthority({ certPem: unb64(d['ca.crt']), keyPem: unb64(d['ca.key']) })
    : await createCertificateAuthority(`vnest-${tenant}-ca`));
  const names = servingNames(tenant, hostNamespace, extraSans);
  let serving = { certPem: unb64(d['tls.crt']), keyPem: unb64(d['tls.key']) };
  let changed = !existing || unb64(d['ca.crt']) !== ca.certPem || (tenantCa !== undefined && d['ca.key'] !== undefined);
  if (!serving.certPem || !coversAndFresh(serving.certPem, names) || !issuedBy(serving.certPem, ca)) {
    serving = await issueCertificate(ca, { commonName: `vnest-${tenant}`, usages: ['server'], ...names });
    changed = true;
  }
  let admin = { certPem: unb64(d['admin.crt']), keyPem: unb64(d['admin.key']) };
  if (!admin.certPem || !issuedBy(admin.certPem, ca)) {
    admin = await issueCertificate(ca, { commonName: 'vnest-admin', organizations: ['system:masters'], usages: ['client'], validDays: 3650 });
    changed = true;
  }
  if (changed) {
    const data: Record<string, string | null> = {
      'ca.crt': b64(ca.certPem), 'ca.key': tenantCa ? null : b64(ca.keyPem), 'tls.crt': b64(serving.certPem), 'tls.key': b64(serving.keyPem),
      'admin.crt': b64(admin.certPem), 'admin.key': b64(admin.keyPem),
    };
    if (!existing && tenantCa) delete data['ca.key'];
    const metadata = { name, namespace: hostNamespace, labels: { [marks.tenant]: tenant }, ...(owner ? { ownerReferences: [owner] } : {}) };
    if (existing) await host.patch(types.secrets, hostNamespace, name, { metadata: { resourceVersion: existing.metadata.resourceVersion }, data }, 'merge');
    else await host.create(types.secrets, hostNamespace, { apiVersion: 'v1', kind: 'Secret', metadata, type: 'Opaque', data });
  }
  return { ca, serving, admin };
}
