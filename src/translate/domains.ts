// Tenant domains: every tenant has one (by default `<name>.<parent's domain>`), and it bounds the
// host names the tenant may claim on shared infrastructure (Ingress hosts, for one).

/** The domain of the root of a tree when the host publishes none (kube-public/vnest-info). */
export const defaultRootDomain = 'vnest.local';

const label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Why `domain` is not a usable DNS domain (lower case, dot-separated labels), or undefined. */
export function domainProblem(domain: string): string | undefined {
  if (domain.length === 0) return 'the domain is empty';
  if (domain.length > 253) return `domain "${domain}" is longer than 253 characters`;
  const bad = domain.split('.').find((l) => l.length > 63 || !label.test(l));
  return bad === undefined ? undefined : `domain "${domain}" is not a DNS domain: "${bad}" is not a lower-case DNS label`;
}

/** A child's default domain under its parent's. */
export function childDomain(name: string, parentDomain: string): string {
  return `${name}.${parentDomain}`;
}

/**
 * Whether a host name (an Ingress rule's host, say; `*.` wildcards allowed) lies in `domain`: the
 * domain itself or a name under it. Matching is on whole labels, so `evil-example.org` is not under
 * `example.org`.
 */
export function hostInDomain(host: string, domain: string): boolean {
  const name = host.toLowerCase().replace(/^\*\./, '');
  const d = domain.toLowerCase();
  return name === d || name.endsWith(`.${d}`);
}
