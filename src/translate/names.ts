// How virtual names become host names (DESIGN.md, "Names and ownership").
import { createHash } from 'node:crypto';

/** Host name of namespaced virtual object `name` in `namespace` of `tenant`. */
export function hostName(name: string, namespace: string, tenant: string): string {
  const full = `${name}-x-${namespace}-x-${tenant}`;
  if (full.length <= 63) return full;
  return `${full.slice(0, 52)}-${createHash('sha256').update(full).digest('hex').slice(0, 10)}`;
}

/** Splits a work-queue key `namespace/name` (or a cluster-scoped `name`). */
export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export function joinKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** A DNS label (RFC 1123): namespace names; vnest asks it of tenant names and of a type's chart releases too. */
export const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Tenant names become label values and name suffixes: a DNS label of at most 40 characters. */
export function validateTenantName(tenant: string): string | undefined {
  if (!dnsLabel.test(tenant)) return `tenant name '${tenant}' must be lower-case letters, digits and '-', starting and ending with a letter or digit`;
  if (tenant.length > 40) return `tenant name '${tenant}' is ${tenant.length} characters long; the limit is 40`;
  return undefined;
}
