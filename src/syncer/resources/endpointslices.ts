// EndpointSlices of Services without a selector: the tenant writes them itself (or writes Endpoints,
// which its control plane mirrors into slices), so no host controller can make them. The host copy
// belongs to the Service's host copy, and every address in it must be the IP of one of this
// tenant's own host pods: a tenant must not point a Service at anything else on the host network.
// Slices of Services with a selector are the host's to make, from the host copy's selector.
import type { KubeObject, ResourceType } from '../../kube/client.ts';
import { objectKey } from '../../kube/informer.ts';
import { marks } from '../../translate/metadata.ts';
import { hostName } from '../../translate/names.ts';
import { types, type SyncContext } from '../context.ts';
import { SyncController } from '../sync-controller.ts';
import { syncedService } from './services.ts';

type Json = Record<string, any>;
type EndpointSlice = KubeObject & { addressType: string; endpoints?: Json[]; ports?: Json[] };
type Pod = KubeObject & { spec: { nodeName?: string }; status?: { podIP?: string; podIPs?: Array<{ ip: string }> } };
type Service = KubeObject & { spec: { selector?: Record<string, string> } };

export const endpointSlices: ResourceType = { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', kind: 'EndpointSlice', namespaced: true };

export const serviceNameLabel = 'kubernetes.io/service-name';
export const managedByLabel = 'endpointslice.kubernetes.io/managed-by';
/** What host copies carry as their manager: no host controller takes them for its own. */
export const managedByVnest = 'syncer.vnest.dev';
/** The tenant's EndpointSlice controller makes the slices of Services with a selector; those are not looked at. */
const tenantControllerSlices = `${managedByLabel}!=endpointslice-controller.k8s.io`;

/** A host pod of this tenant, as an endpoint address stands for it. */
export interface AddressOwner {
  hostPodName: string;
  nodeName?: string;
}

/**
 * The host copy's addressType, endpoints and ports, and every reason it must not reach the host.
 * `owners` finds the tenant's host pod (in `hostNamespace`) that has an IP.
 */
export function hostEndpointSlice(v: EndpointSlice, hostNamespace: string, owners: (ip: string) => AddressOwner | undefined): { body: Json; problems: string[] } {
  const problems: string[] = [];
  if (v.addressType !== 'IPv4' && v.addressType !== 'IPv6') problems.push(`addressType: ${v.addressType} endpoints are not synced to the host (only IPv4 and IPv6)`);
  const endpoints = (v.endpoints ?? []).map((e, i) => {
    const addresses: string[] = e.addresses ?? [];
    const owner = owners(addresses[0] ?? '');
    for (const ip of addresses) {
      if (!owners(ip)) problems.push(`endpoints[${i}].addresses: ${ip} is not the IP of a pod of this cluster`);
    }
    const out: Json = { addresses };
    if (e.conditions) out.conditions = { ...e.conditions };
    if (e.hostname) out.hostname = e.hostname;
    // The pod and node are the host's names for what the address is: the tenant's words are not taken.
    if (owner) {
      out.targetRef = { kind: 'Pod', namespace: hostNamespace, name: owner.hostPodName };
      if (owner.nodeName) out.nodeName = owner.nodeName;
    }
    return out;
  });
  const ports = (v.ports ?? []).map((p) => {
    const out: Json = {};
    for (const f of ['name', 'port', 'protocol', 'appProtocol']) if (p[f] !== undefined) out[f] = p[f];
    return out;
  });
  return { body: { addressType: v.addressType, endpoints, ports }, problems };
}

export function createEndpointSliceSync(ctx: SyncContext): SyncController<EndpointSlice> {
  const { config } = ctx;
  const services = ctx.informers.virtual<Service>(types.services);
  const hostPods = ctx.informers.host<Pod>(types.pods);
  const serviceOf = (v: EndpointSlice) => {
    const name = v.metadata.labels?.[serviceNameLabel];
    return name ? services.get(`${v.metadata.namespace}/${name}`) : undefined;
  };
  const translate = (v: EndpointSlice) => {
    // This tenant's host pods by IP, looked up once per slice.
    const byIp = new Map<string, AddressOwner>();
    if (v.endpoints?.length) {
      for (const p of hostPods.list()) {
        const owner = { hostPodName: p.metadata.name, ...(p.spec.nodeName ? { nodeName: p.spec.nodeName } : {}) };
        for (const ip of new Set([p.status?.podIP, ...(p.status?.podIPs ?? []).map((a) => a.ip)])) if (ip) byIp.set(ip, owner);
      }
    }
    return hostEndpointSlice(v, config.hostNamespace, (ip) => byIp.get(ip));
  };
  const toHost = (v: EndpointSlice): EndpointSlice => {
    const copy = sc.hostCopy(v, translate(v).body);
    const service = v.metadata.labels?.[serviceNameLabel] ?? '';
    copy.metadata.labels = { ...copy.metadata.labels, [serviceNameLabel]: hostName(service, v.metadata.namespace ?? '', config.tenant), [managedByLabel]: managedByVnest };
    return copy;
  };

  const sc: SyncController<EndpointSlice> = new SyncController<EndpointSlice>(ctx, {
    kind: 'EndpointSlice',
    virtual: endpointSlices,
    virtualScope: { labelSelector: tenantControllerSlices },
    host: endpointSlices,
    // The host's slices of the host copies of Services carry the Services' labels, the tenant's
    // among them: following them would cost an event per pod that comes or goes.
    hostScope: { labelSelector: `${marks.tenant}=${config.tenant},${managedByLabel}=${managedByVnest}` },
    // Only slices of a synced Service without a selector; the others are the host's to make.
    wanted: (v) => {
      const service = serviceOf(v);
      return service !== undefined && syncedService(service) && Object.keys(service.spec.selector ?? {}).length === 0;
    },
    validate: (v) => translate(v).problems,
    toHost,
    async sync(v, h) {
      const want = toHost(v);
      const fields = (o: Json) => ({ addressType: o.addressType, endpoints: o.endpoints ?? [], ports: o.ports ?? [] });
      await sc.patchHost(h, sc.hostPatch(h, want.metadata, fields(h), fields(want)));
    },
  });

  // A slice waits for its Service, and its addresses for the pods that have them.
  const slicesOf = (namespace: string | undefined, service?: string) => {
    for (const s of sc.vInformer.list((s) => s.metadata.namespace === namespace && (!service || s.metadata.labels?.[serviceNameLabel] === service))) sc.enqueue(objectKey(s));
  };
  const onService = (s: Service) => slicesOf(s.metadata.namespace, s.metadata.name);
  services.addHandlers({ onAdd: onService, onUpdate: (_, s) => onService(s), onDelete: onService });
  const all = () => { for (const s of sc.vInformer.list()) sc.enqueue(objectKey(s)); };
  hostPods.addHandlers({
    onAdd: (p) => { if (p.status?.podIP) all(); },
    onUpdate: (old, p) => { if (old.status?.podIP !== p.status?.podIP || old.spec.nodeName !== p.spec.nodeName) all(); },
    onDelete: all,
  });
  return sc;
}
