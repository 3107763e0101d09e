// Makes the tenant's own `default/kubernetes` Service point at the front door: the same cluster IP
// as the tenant's host Service (so in-pod clients on the host reach the front door through it),
// and endpoints at the syncer pod's address: an EndpointSlice and, as kube-apiserver keeps for its
// own Service, an Endpoints object (labelled so the mirroring controller leaves it alone).
import type { Logger } from 'pino';
import type { KubeClient, KubeObject, ResourceType } from '../kube/client.ts';
import { isAlreadyExists, isNotFound } from '../kube/errors.ts';
import { jsonEqual } from './patcher.ts';
import { types } from './context.ts';

type Service = KubeObject & { spec: { clusterIP?: string; ports?: unknown[] } };

export interface TenantApiService {
  /** Cluster IP of the tenant's host Service. */
  clusterIP: string;
  /** Address of the front door itself (the syncer pod's IP), for endpoints; none when unknown. */
  endpointIP?: string;
  endpointPort: number;
}

const endpointSliceType: ResourceType = { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', kind: 'EndpointSlice', namespaced: true };
const endpointsType: ResourceType = { group: '', version: 'v1', plural: 'endpoints', kind: 'Endpoints', namespaced: true };

/** Brings `default/kubernetes` in the tenant in line; idempotent, writes only what differs. */
export async function alignKubernetesService(virtual: KubeClient, want: TenantApiService, log: Logger): Promise<void> {
  let svc: Service | undefined;
  try {
    svc = await virtual.get<Service>(types.services, 'default', 'kubernetes');
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (svc?.spec.clusterIP !== want.clusterIP) {
    // A cluster IP cannot change in place: recreate the Service with the host Service's IP.
    log.info({ from: svc?.spec.clusterIP, to: want.clusterIP }, 'pointing default/kubernetes at the front door');
    if (svc) await virtual.delete(types.services, 'default', 'kubernetes', { uid: svc.metadata.uid }).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
    const spec = {
      type: 'ClusterIP', clusterIP: want.clusterIP, clusterIPs: [want.clusterIP], sessionAffinity: 'None',
      ports: svc?.spec.ports ?? [{ name: 'https', port: 443, protocol: 'TCP', targetPort: want.endpointPort }],
    };
    await virtual.create(types.services, 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } }, spec })
      .catch((e: unknown) => {
        if (!isAlreadyExists(e)) throw e;
      });
  }
  if (!want.endpointIP) return;
  const slice = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { 'kubernetes.io/service-name': 'kubernetes', 'endpointslice.kubernetes.io/managed-by': 'syncer.vnest.dev' } },
    endpoints: [{ addresses: [want.endpointIP], conditions: { ready: true } }],
    ports: [{ name: 'https', port: want.endpointPort, protocol: 'TCP' }],
  };
  const endpoints = {
    apiVersion: 'v1', kind: 'Endpoints',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
    subsets: [{ addresses: [{ ip: want.endpointIP }], ports: [{ name: 'https', port: want.endpointPort, protocol: 'TCP' }] }],
  };
  await ensure(virtual, endpointSliceType, slice, ['endpoints', 'ports']);
  await ensure(virtual, endpointsType, endpoints, ['subsets']);
}

/** Creates `want`, or merge-patches the named top-level fields of the existing object where they differ. */
async function ensure(virtual: KubeClient, type: ResourceType, want: KubeObject & Record<string, unknown>, fields: string[]): Promise<void> {
  const { namespace, name } = want.metadata;
  try {
    const current = await virtual.get<KubeObject & Record<string, unknown>>(type, namespace, name);
    const differ = fields.filter((f) => !jsonEqual(current[f], want[f]));
    if (differ.length > 0) await virtual.patch(type, namespace, name, Object.fromEntries(differ.map((f) => [f, want[f]])), 'merge');
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await virtual.create(type, namespace, want).catch((e: unknown) => {
      if (!isAlreadyExists(e)) throw e;
    });
  }
}
