// Writes the tenant's kubeconfig (cluster-admin by a client certificate of the tenant CA, never
// host credentials) into host Secret `<tenant>-kubeconfig`, key `config`, rewriting it only when
// its content changes. `vnest kubeconfig` and `vnest connect` read it.
import type { KubeClient, KubeObject, OwnerReference } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import { renderKubeconfig } from '../kube/kubeconfig.ts';
import { types } from '../syncer/context.ts';
import { marks } from '../translate/metadata.ts';
import type { TenantCerts } from './certs.ts';

export const kubeconfigSecretName = (tenant: string) => `${tenant}-kubeconfig`;

/** Default server address: the tenant's Service inside the host cluster. */
export const defaultKubeconfigServer = (tenant: string, hostNamespace: string) => `https://${tenant}.${hostNamespace}.svc:443`;

/**
 * Writes the Secret (a new one owned by `owner`, the tenant's host Service), with the tenant's
 * domain as an annotation for `vnest list`; true when it changed.
 */
export async function exportKubeconfig(host: KubeClient, tenant: string, hostNamespace: string, certs: TenantCerts, server: string, extra: { owner?: OwnerReference; domain?: string } = {}): Promise<boolean> {
  const config = renderKubeconfig({ name: tenant, server, caPem: certs.ca.certPem, credentials: certs.admin });
  const data = { config: Buffer.from(config).toString('base64') };
  const annotations: Record<string, string> = extra.domain ? { [marks.domain]: extra.domain } : {};
  const owner = extra.owner;
  const labels = { [marks.tenant]: tenant, [marks.kubeconfig]: 'true' };
  const name = kubeconfigSecretName(tenant);
  try {
    const existing = await host.get<KubeObject & { data?: Record<string, string> }>(types.secrets, hostNamespace, name);
    if (existing.metadata.labels?.[marks.tenant] !== tenant) throw new Error(`host Secret ${hostNamespace}/${name} exists but is not this tenant's; not overwriting it`);
    if (existing.data?.config === data.config && existing.metadata.annotations?.[marks.domain] === extra.domain && existing.metadata.labels[marks.kubeconfig] === 'true') return false;
    await host.patch(types.secrets, hostNamespace, name, { metadata: { resourceVersion: existing.metadata.resourceVersion, labels, annotations }, data }, 'merge');
    return true;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await host.create(types.secrets, hostNamespace, { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: hostNamespace, labels, annotations, ...(owner ? { ownerReferences: [owner] } : {}) }, type: 'Opaque', data });
    return true;
  }
}
