// What a tenant's cluster says about itself, for tenants created inside it: ConfigMap
// kube-public/vnest-info (`tenant`, `domain`), from which `vnest create` derives a child's default
// domain. On a host that is not a tenant, a platform team creates the same ConfigMap to give the
// root of its trees a domain.
import type { KubeClient, KubeObject } from '../kube/client.ts';
import { isForbidden, isNotFound } from '../kube/errors.ts';
import { marks } from '../translate/metadata.ts';
import { types } from './context.ts';
import { jsonEqual } from './patcher.ts';

export const tenantInfoNamespace = 'kube-public';
export const tenantInfoName = 'vnest-info';

export interface TenantInfo {
  /** The tenant this cluster is (absent on a host that is no tenant). */
  tenant?: string;
  domain?: string;
  /** The tenant type it was created as, and how applying the type's manifests went. */
  type?: string;
  bootstrap?: string;
}

/**
 * Writes kube-public/vnest-info into the tenant's cluster (server-side apply), unless it already
 * says exactly this: a restart writes nothing.
 */
export async function publishTenantInfo(virtual: KubeClient, info: TenantInfo & { tenant: string; domain: string }): Promise<void> {
  const data = Object.fromEntries(Object.entries(info).filter(([, v]) => v !== undefined)) as Record<string, string>;
  const current = await virtual.get<KubeObject & { data?: Record<string, string> }>(types.configmaps, tenantInfoNamespace, tenantInfoName).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (current?.metadata.labels?.[marks.managed] === 'true' && jsonEqual(current.data ?? {}, data)) return;
  const body = {
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name: tenantInfoName, namespace: tenantInfoNamespace, labels: { [marks.managed]: 'true' } },
    data,
  };
  await virtual.patch(types.configmaps, tenantInfoNamespace, tenantInfoName, body, 'apply', undefined, { fieldManager: 'vnest-syncer', force: true });
}

/** What a cluster publishes about itself; empty when it publishes nothing or may not be read. */
export async function readTenantInfo(client: KubeClient): Promise<TenantInfo> {
  try {
    const cm = await client.get<KubeObject & { data?: Record<string, string> }>(types.configmaps, tenantInfoNamespace, tenantInfoName);
    return { ...(cm.data?.tenant ? { tenant: cm.data.tenant } : {}), ...(cm.data?.domain ? { domain: cm.data.domain } : {}) };
  } catch (err) {
    if (isNotFound(err) || isForbidden(err)) return {};
    throw err;
  }
}
