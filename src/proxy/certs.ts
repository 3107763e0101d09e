// The tenant's CA, the front door's serving certificate and the tenant admin's client certificate:
// generated once, kept in a host Secret, reused across restarts (a serving certificate is reissued
// when the wanted names change, when it nears expiry, or when it is removed from the Secret, which
// is how `vnest certs rotate` asks for a new one; the CA never changes while the syncer runs, and
// CertificateKeeper renews what it serves without a restart). Given the tenant API
// server's own CA (--tenant-ca-cert/-key), the front door's certificates are issued by it instead,
// so the CA pods trust is the one the tenant's kube-root-ca.crt ConfigMaps publish.
import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type { KubeClient, KubeObject, OwnerReference } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import type { Informer } from '../kube/informer.ts';
import { createCertificateAuthority, issueCertificate, loadCertificateAuthority, type CertificateAuthority, type KeyPairPem } from '../pki/certs.ts';
import { marks } from '../translate/metadata.ts';
import { types } from '../syncer/context.ts';

export interface TenantCerts {
  ca: CertificateAuthority;
  serving: KeyPairPem;
  admin: KeyPairPem;
}

export type Secret = KubeObject & { data?: Record<string, string>; type?: string };

/** A serving certificate is renewed when less than this is left of it (it is issued for a year). */
export const renewBeforeMs = 30 * 24 * 3600 * 1000;

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
    const fresh = Date.parse(cert.validTo) - Date.now() > renewBeforeMs;
    return fresh && all.every((n) => san.split(', ').includes(n));
  } catch {
    return false;
  }
}

export interface TenantCertsOptions {
  tenant: string;
  hostNamespace: string;
  /** Names the serving certificate covers besides servingNames' own. */
  extraSans?: string[];
  /** The new Secret's owner (the tenant's host Service), so uninstalling the tenant removes it. */
  owner?: OwnerReference;
  /** The tenant API server's CA, which then issues the front door's certificates. */
  tenantCa?: CertificateAuthority;
  /**
   * What a running front door serves: its CA stays the CA when the Secret lost it (deleted, or
   * emptied), and the admin certificate stays when the Secret lost that.
   */
  served?: TenantCerts;
}

/** Loads the tenant's certificates from the host, creating or completing them when needed. */
export async function ensureTenantCerts(host: KubeClient, opts: TenantCertsOptions): Promise<TenantCerts> {
  const { tenant, hostNamespace, owner, tenantCa, served } = opts;
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
    : served?.ca ?? await createCertificateAuthority(`vnest-${tenant}-ca`));
  const names = servingNames(tenant, hostNamespace, opts.extraSans ?? []);
  let serving = { certPem: unb64(d['tls.crt']), keyPem: unb64(d['tls.key']) };
  let changed = !existing || unb64(d['ca.crt']) !== ca.certPem || (tenantCa !== undefined && d['ca.key'] !== undefined);
  if (!serving.certPem || !coversAndFresh(serving.certPem, names) || !issuedBy(serving.certPem, ca)) {
    serving = await issueCertificate(ca, { commonName: `vnest-${tenant}`, usages: ['server'], ...names });
    changed = true;
  }
  let admin = { certPem: unb64(d['admin.crt']), keyPem: unb64(d['admin.key']) };
  if (!admin.certPem && served && issuedBy(served.admin.certPem, ca)) {
    admin = served.admin;
    changed = true;
  }
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

export interface CertificateKeeperOptions extends Omit<TenantCertsOptions, 'served' | 'extraSans'> {
  host: KubeClient;
  /** The names the serving certificate covers whatever the exposure (servingNames adds its own). */
  fixedSans: string[];
  /** The exposure's names at the start (the ExposureFollower changes them). */
  exposedSans: string[];
  current: TenantCerts;
  /** Makes a change served: a new serving certificate, or a new admin certificate to export. */
  apply: (next: TenantCerts, previous: TenantCerts) => Promise<void>;
  /** The host Secrets of the tenant: a change to its certificates Secret is looked at at once. */
  secrets?: Informer<Secret>;
  /** How often the certificates are looked at anyway (for one nearing expiry). */
  intervalMs: number;
  log: Logger;
}

/**
 * Keeps what the front door serves current while the syncer runs: every `intervalMs`, and whenever
 * the certificates Secret changes (`vnest certs rotate` removes the serving certificate from it),
 * ensureTenantCerts renews a serving certificate that nears expiry, issues one that was removed,
 * and puts back a Secret that was deleted (with the same CA); a changed certificate is applied
 * without a restart. Checks run one at a time.
 */
export class CertificateKeeper {
  private readonly opts: CertificateKeeperOptions;
  private exposedSans: string[];
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  current: TenantCerts;

  constructor(opts: CertificateKeeperOptions) {
    this.opts = opts;
    this.current = opts.current;
    this.exposedSans = opts.exposedSans;
  }

  start(): void {
    const name = certsSecretName(this.opts.tenant);
    // check() logs its failures; the next change or interval tries again.
    const look = (): void => void this.check().catch(() => undefined);
    const changed = (s: Secret) => {
      if (s.metadata.name === name && s.metadata.namespace === this.opts.hostNamespace) look();
    };
    this.opts.secrets?.addHandlers({ onUpdate: (_, s) => changed(s), onDelete: changed });
    this.timer = setInterval(look, this.opts.intervalMs);
    this.timer.unref();
  }

  /**
   * Looks at the certificates now (with the exposure's new names, when given) and applies what
   * changed; resolves with what is served after it. A failure is logged and thrown; the next
   * interval or Secret change tries again.
   */
  check(exposedSans?: string[]): Promise<TenantCerts> {
    const run = async (): Promise<TenantCerts> => {
      if (exposedSans) this.exposedSans = exposedSans;
      if (this.stopped) return this.current;
      const o = this.opts;
      const next = await ensureTenantCerts(o.host, {
        tenant: o.tenant, hostNamespace: o.hostNamespace, extraSans: [...o.fixedSans, ...this.exposedSans],
        ...(o.owner ? { owner: o.owner } : {}), ...(o.tenantCa ? { tenantCa: o.tenantCa } : {}), served: this.current,
      });
      const previous = this.current;
      if (next.ca.certPem !== previous.ca.certPem) {
        // Client certificates and pods' ca.crt name the CA this process started with.
        o.log.warn({ secret: certsSecretName(o.tenant) }, 'the certificates Secret holds another CA than the front door serves; it takes effect when the syncer restarts');
        return previous;
      }
      if (next.serving.certPem === previous.serving.certPem && next.admin.certPem === previous.admin.certPem) return previous;
      await o.apply(next, previous);
      this.current = next;
      o.log.info({ servingValidTo: new X509Certificate(next.serving.certPem).validTo, servingRenewed: next.serving.certPem !== previous.serving.certPem, adminRenewed: next.admin.certPem !== previous.admin.certPem }, 'front door certificates renewed');
      return next;
    };
    const result = this.chain.then(run).catch((err: unknown) => {
      this.opts.log.warn({ err: (err as Error).message }, 'could not check the front door\'s certificates; trying again later');
      throw err;
    });
    this.chain = result.catch(() => undefined);
    return result;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.chain;
  }
}
