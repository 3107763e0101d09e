// `vnest certs check` and `vnest certs rotate`: the expiry of every certificate a tenant has in its
// host namespace, and a new serving certificate for its front door without a restart (the running
// syncer issues it when the old one leaves the Secret; see CertificateKeeper).
import { X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from 'commander';
import { parse } from 'yaml';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import { certsSecretName, renewBeforeMs, type Secret } from '../proxy/certs.ts';
import { types } from '../syncer/context.ts';
import { nsFlag } from './diagnose.ts';
import { CliError, errors, hostClient, hostOptions, structured, tenantName, type HostFlags } from './host.ts';
import { readTenant, readyTenant } from './tenant-state.ts';

const day = 24 * 3600 * 1000;

/** One certificate as `certs check` reports it. */
export interface CertificateRow {
  /** What it is for. */
  certificate: string;
  /** Where it is kept: Secret/key in the host namespace. */
  source: string;
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  /** ok; renews-soon (a serving certificate the syncer renews within 30 days of expiry); expires-soon; expired. */
  status: 'ok' | 'renews-soon' | 'expires-soon' | 'expired';
  names: string[];
  /** Who renews it, and when. */
  renewal: string;
}

interface Wanted { certificate: string; secret: string; key: string; renewal: string; renewsItself?: boolean }

/** The certificates of a tenant, by Secret and key (the k8s distro's PKI only where it is). */
const wanted = (name: string): Wanted[] => [
  { certificate: 'front door CA', secret: certsSecretName(name), key: 'ca.crt', renewal: 'not renewed (ten years; the k8s distro\'s front door uses the control plane CA instead)' },
  { certificate: 'front door serving', secret: certsSecretName(name), key: 'tls.crt', renewal: 'the syncer, 30 days before it expires; "vnest certs rotate" at once', renewsItself: true },
  { certificate: 'admin client', secret: certsSecretName(name), key: 'admin.crt', renewal: 'not renewed (ten years; the exported kubeconfig\'s user)' },
  { certificate: 'control plane CA', secret: `vnest-${name}-pki`, key: 'ca.crt', renewal: 'not renewed (ten years, made by the chart at install)' },
  { certificate: 'kube-apiserver serving', secret: `vnest-${name}-pki`, key: 'apiserver.crt', renewal: 'not renewed (ten years, made by the chart at install)' },
];

const commonName = (dn: string) => /(?:^|\n)CN=([^\n]*)/.exec(dn)?.[1] ?? dn.replace(/\n/g, ', ');

export function certificateRow(w: Wanted, pem: string, now = Date.now()): CertificateRow {
  const cert = new X509Certificate(pem);
  const left = Date.parse(cert.validTo) - now;
  const status = left <= 0 ? 'expired' : left <= renewBeforeMs ? (w.renewsItself ? 'renews-soon' : 'expires-soon') : 'ok';
  return {
    certificate: w.certificate, source: `Secret ${w.secret} (${w.key})`, subject: commonName(cert.subject), issuer: commonName(cert.issuer),
    notBefore: new Date(cert.validFrom).toISOString(), notAfter: new Date(cert.validTo).toISOString(), daysLeft: Math.floor(left / day), status,
    names: (cert.subjectAltName ?? '').split(', ').filter(Boolean).map((n) => n.replace(/^DNS:/, '').replace(/^IP Address:/, '')),
    renewal: w.renewal,
  };
}

async function secretOf(client: KubeClient, ns: string, name: string): Promise<Secret | undefined> {
  try {
    return await client.get<Secret>(types.secrets, ns, name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The client certificate of the exported kubeconfig's user, when it has one. */
function kubeconfigClientCert(secret: Secret | undefined): string | undefined {
  const text = secret?.data?.config ? Buffer.from(secret.data.config, 'base64').toString('utf8') : '';
  if (!text) return undefined;
  const users = (parse(text) as { users?: Array<{ user?: { 'client-certificate-data'?: string } }> } | null)?.users ?? [];
  const data = users[0]?.user?.['client-certificate-data'];
  return data ? Buffer.from(data, 'base64').toString('utf8') : undefined;
}

/** Every certificate of the tenant that is there, in `wanted`'s order, then the exported kubeconfig's. */
export async function tenantCertificates(client: KubeClient, name: string, ns: string): Promise<CertificateRow[]> {
  const secrets = new Map<string, Secret | undefined>();
  const rows: CertificateRow[] = [];
  for (const w of wanted(name)) {
    if (!secrets.has(w.secret)) secrets.set(w.secret, await secretOf(client, ns, w.secret));
    const data = secrets.get(w.secret)?.data?.[w.key];
    if (data) rows.push(certificateRow(w, Buffer.from(data, 'base64').toString('utf8')));
  }
  const exported = kubeconfigClientCert(await secretOf(client, ns, `${name}-kubeconfig`));
  if (exported) rows.push(certificateRow({ certificate: 'kubeconfig client', secret: `${name}-kubeconfig`, key: 'config', renewal: 'follows the admin client certificate' }, exported));
  return rows;
}

function printTable(rows: CertificateRow[]): void {
  const table = [['CERTIFICATE', 'SUBJECT', 'EXPIRES', 'DAYS LEFT', 'STATUS', 'SOURCE'],
    ...rows.map((r) => [r.certificate, r.subject, r.notAfter, String(r.daysLeft), r.status, r.source])];
  const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => row[i]?.length ?? 0))) ?? [];
  for (const row of table) console.log(row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('   ').trimEnd());
}

async function check(name: string, flags: HostFlags & { output: string }): Promise<void> {
  const ns = flags.namespace ?? name;
  const client = await hostClient(flags);
  try {
    const rows = await tenantCertificates(client, name, ns);
    if (rows.length === 0) {
      const state = await readTenant(client, name, ns);
      if (!state.diagnosis.exists) throw errors.unknownTenant(name, ns);
      throw errors.notReady(`tenant "${name}" in namespace "${ns}" has no certificates yet: its syncer makes them (Secret ${certsSecretName(name)}) when it first starts. "vnest describe ${name}${nsFlag(name, ns)}" shows the tenant's state.`);
    }
    if (flags.output !== 'table') {
      process.stdout.write(structured(rows, flags.output));
      return;
    }
    printTable(rows);
    for (const r of rows.filter((x) => x.status !== 'ok')) {
      console.error(`${r.certificate}: ${r.status === 'expired' ? 'expired' : `${r.daysLeft} days left`}; renewal: ${r.renewal}`);
    }
  } finally {
    client.close();
  }
}

const fingerprint = (secret: Secret | undefined) => {
  const data = secret?.data?.['tls.crt'];
  return data ? new X509Certificate(Buffer.from(data, 'base64')).fingerprint256 : undefined;
};

async function rotate(name: string, flags: HostFlags & { timeout: string }): Promise<void> {
  const ns = flags.namespace ?? name;
  const timeout = Number(flags.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new CliError('InvalidTimeout', 2, `--timeout ${flags.timeout} is not a number of seconds. Pass a positive number.`);
  const client = await hostClient(flags);
  try {
    // Only a running syncer issues the new certificate: a tenant that is not ready is left as it is.
    await readyTenant(client, name, ns);
    const secretName = certsSecretName(name);
    const secret = await secretOf(client, ns, secretName);
    const old = fingerprint(secret);
    if (!secret || !old) throw errors.notReady(`tenant "${name}" has no front door serving certificate to rotate (Secret ${ns}/${secretName}, key tls.crt): its syncer makes one when it starts`);
    // The resourceVersion makes this a no-op if the syncer wrote the Secret meanwhile.
    await client.patch<KubeObject>(types.secrets, ns, secretName, { metadata: { resourceVersion: secret.metadata.resourceVersion }, data: { 'tls.crt': null, 'tls.key': null } }, 'merge');
    const deadline = Date.now() + timeout * 1000;
    for (;;) {
      const now = await secretOf(client, ns, secretName);
      const next = fingerprint(now);
      if (next && next !== old) {
        const serving = wanted(name).find((w) => w.renewsItself) as Wanted;
        const row = certificateRow(serving, Buffer.from(now?.data?.['tls.crt'] ?? '', 'base64').toString('utf8'));
        console.log(`tenant ${name}: new front door serving certificate, valid until ${row.notAfter} (SHA-256 ${next}). The front door serves it to new connections; the CA is unchanged, so kubeconfigs and pods keep trusting it.`);
        return;
      }
      if (Date.now() > deadline) {
        throw errors.notReady(`tenant "${name}"'s syncer did not issue a new serving certificate within ${timeout} s. The old one is out of Secret ${ns}/${secretName}; the syncer issues a new one when it next starts or looks (at least every resync period). "vnest describe ${name}${nsFlag(name, ns)}" shows the syncer's last errors.`);
      }
      await sleep(500);
    }
  } finally {
    client.close();
  }
}

export function certsCommand(): Command {
  const checkCmd = hostOptions(new Command('check'))
    .description('show every certificate of a tenant (front door CA, serving and admin certificates, the k8s distro\'s control plane PKI, the exported kubeconfig\'s client certificate) with its expiry and who renews it')
    .argument('<name>', 'tenant name', tenantName)
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json', 'yaml']).default('table'))
    .action((name: string, flags: HostFlags & { output: string }) => check(name, flags));
  const rotateCmd = hostOptions(new Command('rotate'))
    .description('replace the front door\'s serving certificate now (the running syncer issues a new one from the same CA and serves it without a restart); the CA and client certificates stay')
    .argument('<name>', 'tenant name', tenantName)
    .option('--timeout <seconds>', 'how long to wait for the syncer to issue the new certificate', '120')
    .action((name: string, flags: HostFlags & { timeout: string }) => rotate(name, flags));
  return new Command('certs')
    .description('check and rotate a tenant\'s certificates')
    .addCommand(checkCmd)
    .addCommand(rotateCmd);
}
