// Ingress translation: the host copy of a tenant Ingress, from an allow-list of its fields. Every
// host name it claims on the host's ingress controllers (rule hosts, TLS hosts) must lie in the
// tenant's domain, so a tenant cannot take another tenant's (a sibling's, its parent's) names;
// backends and TLS Secrets become this tenant's host copies; classes are the operator's choice.
import { hostInDomain } from './domains.ts';
import { hostName } from './names.ts';
import type { IsolationPolicy } from './policy.ts';
import { list, project, type Projection, type Shape } from './shape.ts';

type Json = Record<string, any>;

const backend: Shape = {
  service: { name: 'copy', port: { name: 'copy', number: 'copy' } },
  resource: { refuse: 'a resource backend names an object the host would serve; only Service backends are synced' },
};

/** Every Ingress spec field vnest copies to the host; anything else is refused with an Event. */
export const ingressSpecShape: Shape = {
  ingressClassName: 'copy',
  defaultBackend: backend,
  tls: list({ hosts: list('copy'), secretName: 'copy' }),
  rules: list({ host: 'copy', http: { paths: list({ path: 'copy', pathType: 'copy', backend }) } }),
};

export interface IngressContext {
  tenant: string;
  domain: string;
  policy: Pick<IsolationPolicy, 'ingressClasses' | 'allowFields'>;
  allowed?: ReadonlySet<string>;
}

/** The Secrets (virtual names) an Ingress's TLS entries name. */
export function ingressSecrets(spec: Json | undefined): string[] {
  return [...new Set(((spec?.tls ?? []) as Json[]).map((t) => t.secretName as unknown).filter((n): n is string => typeof n === 'string' && n !== ''))];
}

/**
 * The host copy's spec and every reason the Ingress must not reach the host, each naming its field.
 * `namespace` is the Ingress's virtual namespace (its backends and Secrets are in it).
 */
export function hostIngressSpec(spec: Json, namespace: string, ctx: IngressContext): { spec: Json; problems: string[] } {
  const out: Projection = { problems: [] };
  const s = (project(spec, ingressSpecShape, 'spec', out, ctx.allowed) ?? {}) as Json;
  const inDomain = (host: string, path: string) => {
    if (!hostInDomain(host, ctx.domain)) out.problems.push(`${path}: host "${host}" is not in the tenant's domain ${ctx.domain}; use a name under it`);
  };
  if (typeof s.ingressClassName === 'string' && !ctx.policy.ingressClasses.has(s.ingressClassName)) {
    const allowed = [...ctx.policy.ingressClasses];
    out.problems.push(`spec.ingressClassName: class "${s.ingressClassName}" is not allowed on this host (allowed: ${allowed.length ? allowed.join(', ') : 'none; leave it out for the host\'s default class'})`);
  }
  if (s.defaultBackend) out.problems.push('spec.defaultBackend: a default backend would take every host name the ingress controller serves; give rules with hosts in the tenant\'s domain instead');
  ((s.rules ?? []) as Json[]).forEach((rule, i) => {
    if (typeof rule.host !== 'string' || rule.host === '') out.problems.push(`spec.rules[${i}].host: a rule without a host would take every host name; give one in the tenant's domain ${ctx.domain}`);
    else inDomain(rule.host, `spec.rules[${i}].host`);
    for (const p of (rule.http?.paths ?? []) as Json[]) translateBackend(p.backend, namespace, ctx.tenant);
  });
  ((s.tls ?? []) as Json[]).forEach((tls, i) => {
    const hosts = (tls.hosts ?? []) as string[];
    if (hosts.length === 0) out.problems.push(`spec.tls[${i}].hosts: a TLS entry without hosts applies to every host name; list hosts in the tenant's domain ${ctx.domain}`);
    hosts.forEach((h, j) => inDomain(h, `spec.tls[${i}].hosts[${j}]`));
    if (typeof tls.secretName === 'string' && tls.secretName !== '') tls.secretName = hostName(tls.secretName, namespace, ctx.tenant);
  });
  return { spec: s, problems: out.problems };
}

function translateBackend(b: Json | undefined, namespace: string, tenant: string): void {
  if (b?.service && typeof b.service.name === 'string') b.service.name = hostName(b.service.name, namespace, tenant);
}
