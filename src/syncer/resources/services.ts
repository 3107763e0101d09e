// Services: a virtual Service and its host copy share one cluster IP (both control planes use the
// host's service CIDR). The host copy asks for the virtual IP; when the host has given that IP to
// another Service, the virtual Service moves to the IP the host chose. Host selectors select only
// this tenant's pods of the Service's virtual namespace.
import { LRUCache } from 'lru-cache';
import type { KubeObject } from '../../kube/client.ts';
import { isInvalid, KubeApiError } from '../../kube/errors.ts';
import { exportMarks, exportTargets, sharedNamespace } from '../../translate/sharing.ts';
import { createExportPolicies } from './service-exports.ts';
import { copiedMetadata, hostMatchLabels, hostMetadata, marks, nestedKey } from '../../translate/metadata.ts';
import { allowedPaths, type IsolationPolicy } from '../../translate/policy.ts';
import { list, project, type Projection, type Shape } from '../../translate/shape.ts';
import { types, type SyncContext } from '../context.ts';
import { jsonEqual } from '../patcher.ts';
import { SyncController } from '../sync-controller.ts';

type Service = KubeObject & { spec: Record<string, any>; status?: Record<string, any> };

const headless = (s: Service) => s.spec.clusterIP === 'None';
const hasIp = (s: Service) => s.spec.type !== 'ExternalName' && !headless(s);

const lbField = { refuse: 'the host operator chooses load-balancer IPs, source ranges and classes (operator setting: --allow-fields)' };

/** Every Service spec field vnest copies to the host; anything else is refused with an Event. */
export const serviceSpecShape: Shape = {
  type: 'copy',
  ports: list({ name: 'copy', protocol: 'copy', appProtocol: 'copy', port: 'copy', targetPort: 'copy', nodePort: 'drop' }),
  selector: 'copy',
  // The shared IP is set by the caller; node ports and health-check ports are the host's choice.
  clusterIP: 'drop',
  clusterIPs: 'drop',
  healthCheckNodePort: 'drop',
  externalIPs: { refuse: 'external IPs would route host traffic to this Service; they are not allowed' },
  loadBalancerIP: lbField,
  loadBalancerSourceRanges: lbField,
  loadBalancerClass: lbField,
  externalName: 'copy',
  externalTrafficPolicy: 'copy',
  sessionAffinity: 'copy',
  sessionAffinityConfig: 'copy',
  publishNotReadyAddresses: 'copy',
  ipFamilies: 'copy',
  ipFamilyPolicy: 'copy',
  allocateLoadBalancerNodePorts: 'copy',
  internalTrafficPolicy: 'copy',
  trafficDistribution: 'copy',
};

/**
 * The spec a host copy carries (allow-listed fields, selector narrowed to this tenant's pods of
 * the Service's namespace), and every reason it must not reach the host.
 */
export function hostServiceSpec(v: Service, tenant: string, policy: IsolationPolicy, clusterIP?: string, nodePorts = true): { spec: Record<string, any>; problems: string[] } {
  const out: Projection = { problems: [] };
  const s = (project(v.spec, serviceSpecShape, 'spec', out, allowedPaths(policy, 'Service')) ?? {}) as Record<string, any>;
  // Node ports are the host's to choose, unless the operator lets the tenant's through
  // (--allow-fields Service.spec.ports[*].nodePort): then the host is asked for those its API
  // server gave, and chooses only when one is taken there (see syncToHost).
  if (!nodePorts && Array.isArray(s.ports)) s.ports = s.ports.map(({ nodePort: _n, ...p }: Record<string, any>) => p);
  const type = v.spec.type ?? 'ClusterIP';
  if (!policy.serviceTypes.has(type)) out.problems.push(`spec.type: ${type} Services are not allowed on this host (allowed: ${[...policy.serviceTypes].join(', ') || 'none'})`);
  if (headless(v)) s.clusterIP = 'None';
  else if (hasIp(v) && clusterIP) s.clusterIP = clusterIP;
  if (s.selector && Object.keys(s.selector).length > 0) {
    s.selector = hostMatchLabels(s.selector as Record<string, string>, tenant, v.metadata.namespace ?? '');
  }
  return { spec: s, problems: out.problems };
}

/**
 * Whether a virtual Service has a host copy. The tenant API's own Service stands for the front
 * door and is handled apart; shared Services are the host's already (shared-services.ts).
 */
export function syncedService(v: Service): boolean {
  return !(v.metadata.namespace === 'default' && v.metadata.name === 'kubernetes') && v.metadata.namespace !== sharedNamespace;
}

/** What may change on a live Service, compared between the host copy and what it should be. */
function mutable(spec: Record<string, any>): Record<string, any> {
  return {
    selector: spec.selector ?? null,
    ports: (spec.ports ?? []).map((p: any) => ({ name: p.name ?? null, port: p.port, targetPort: p.targetPort ?? p.port, protocol: p.protocol ?? 'TCP', nodePort: p.nodePort ?? null })),
    sessionAffinity: spec.sessionAffinity ?? null,
    externalName: spec.externalName ?? null,
    publishNotReadyAddresses: spec.publishNotReadyAddresses ?? null,
  };
}

export function createServiceSync(ctx: SyncContext): SyncController<Service> {
  const { config } = ctx;
  const exportPolicies = createExportPolicies(ctx);
  const toHost = (v: Service, clusterIP?: string, nodePorts = true): Service => {
    const metadata = hostMetadata(v, 'Service', sc.hostNameOf(v), config);
    // Exported to siblings (vnest.dev/export-to): the host copy is shared with them.
    const exported = exportMarks(exportTargets(v).targets);
    return {
      apiVersion: 'v1', kind: 'Service',
      metadata: { ...metadata, labels: { ...metadata.labels, ...exported.labels }, annotations: { ...metadata.annotations, ...exported.annotations } },
      spec: hostServiceSpec(v, config.tenant, config.policy, clusterIP, nodePorts).spec,
    };
  };

  /** Selector keys the host copies of pods do not carry: the Service would select nothing there. */
  async function warnUnsyncedSelector(v: Service): Promise<void> {
    const selector: Record<string, string> = v.spec.selector ?? {};
    const kept = copiedMetadata({ name: '', labels: selector }, config.policy).labels;
    // vnest.dev/ keys (a nested tenant's marks) are carried under nestedKey and select as before.
    const lost = Object.keys(selector).filter((k) => !(k in kept) && !nestedKey(k));
    if (lost.length) await sc.warn(v, 'SelectorNotSynced', `selector keys ${lost.join(', ')} are not copied to host pods (operator setting: hostLabels); this Service selects no pods on the host`);
  }

  /** A wrong vnest.dev/export-to entry: one Event per value written, not one per sync. */
  const warnedExports = new LRUCache<string, string>({ max: 10_000 });
  async function warnBadExport(v: Service): Promise<void> {
    const uid = v.metadata.uid ?? '';
    const { problems } = exportTargets(v);
    if (problems.length === 0) {
      warnedExports.delete(uid);
      return;
    }
    const value = v.metadata.annotations?.[marks.exportTo] ?? '';
    if (warnedExports.get(uid) === value) return;
    await sc.warn(v, 'ExportRefused', problems.join('; '));
    warnedExports.set(uid, value);
  }

  /**
   * Moves the virtual Service to the cluster IP the host gave its copy, keeping the object (its UID
   * owns things: a nested tenant's owner Service owns every copy that tenant's syncer made). A
   * cluster IP cannot change in place, but a Service may pass through type ExternalName, which
   * releases it, and come back with the new one. Returns once the cache has the final object, so
   * no sync acts on the passing ExternalName state.
   */
  async function adoptHostIp(v: Service, ip: string): Promise<void> {
    const namespace = v.metadata.namespace ?? '';
    const name = v.metadata.name;
    ctx.log.info({ service: `${namespace}/${name}`, from: v.spec.clusterIP, to: ip }, 'moving the virtual Service to the host\'s cluster IP');
    const type = v.spec.type ?? 'ClusterIP';
    await ctx.virtual.patch(types.services, namespace, name, { metadata: { resourceVersion: v.metadata.resourceVersion }, spec: { type: 'ExternalName', externalName: 'vnest-moving-cluster-ip.invalid' } }, 'merge');
    const back = await ctx.virtual.patch<Service>(types.services, namespace, name, { spec: { type, externalName: null, clusterIP: ip, clusterIPs: [ip] } }, 'merge').catch(async (err: unknown) => {
      // The tenant gave that IP to another of its Services: back to its own IP, and try again later.
      await ctx.virtual.patch(types.services, namespace, name, { spec: { type, externalName: null, clusterIP: v.spec.clusterIP ?? null, clusterIPs: v.spec.clusterIPs ?? null } }, 'merge')
        .catch((e: unknown) => ctx.log.error({ service: `${namespace}/${name}`, err: (e as Error).message }, 'could not give the virtual Service its cluster IP back'));
      throw err;
    });
    const rv = back.metadata.resourceVersion;
    for (let i = 0; i < 100 && sc.vInformer.get(`${namespace}/${name}`)?.metadata.resourceVersion !== rv; i++) await new Promise((r) => setTimeout(r, 50));
  }

  const sc: SyncController<Service> = new SyncController<Service>(ctx, {
    kind: 'Service',
    virtual: types.services,
    host: types.services,
    wanted: syncedService,
    validate: (v) => hostServiceSpec(v, config.tenant, config.policy).problems,
    toHost: (v) => toHost(v, hasIp(v) ? v.spec.clusterIP : undefined),
    async syncToHost(v) {
      await warnUnsyncedSelector(v);
      await warnBadExport(v);
      const ip = hasIp(v) ? v.spec.clusterIP : undefined;
      const taken = (err: unknown, what: RegExp) => isInvalid(err) && /already allocated|not available|failed to allocate/i.test((err as Error).message) && what.test((err as Error).message);
      try {
        // The tenant's node ports when allowed; taken on the host, the host chooses and sync()
        // brings its choice to the tenant.
        await ctx.host.create(types.services, config.hostNamespace, toHost(v, ip)).catch((err: unknown) => {
          if (!taken(err, /nodePort/)) throw err;
          return ctx.host.create(types.services, config.hostNamespace, toHost(v, ip, false));
        });
      } catch (err) {
        if (!(ip && taken(err, /./))) throw err;
        // The host holds that IP for another Service: let it choose, then follow it.
        const created = await ctx.host.create<Service>(types.services, config.hostNamespace, toHost(v, undefined, false));
        await adoptHostIp(v, created.spec.clusterIP as string);
      }
    },
    async sync(v, h) {
      if (hasIp(v) && hasIp(h) && v.spec.clusterIP !== h.spec.clusterIP) {
        await adoptHostIp(v, h.spec.clusterIP as string);
        return;
      }
      if (v.spec.type !== h.spec.type || headless(v) !== headless(h)) {
        // Type and headlessness cannot change in place: replace the copy.
        await sc.deleteHost(h);
        throw new KubeApiError('service type changed; recreating the host copy', 409, 'Conflict');
      }
      const want = toHost(v, h.spec.clusterIP as string | undefined);
      await sc.patchHost(h, sc.hostPatch(h, want.metadata, { spec: mutable(h.spec) }, { spec: mutable({ ...want.spec, ports: mergeNodePorts(want.spec.ports, h.spec.ports) }) }));
      await warnBadExport(v);
      await exportPolicies.sync(v, h, exportTargets(v).targets);
      const hostPorts = mergeNodePorts(v.spec.ports, h.spec.ports);
      if (!jsonEqual(v.spec.ports ?? [], hostPorts)) {
        // The host chose the node ports; the tenant sees the ones that really answer.
        await ctx.virtual.patch(types.services, v.metadata.namespace, v.metadata.name, { metadata: { resourceVersion: v.metadata.resourceVersion }, spec: { ports: hostPorts } }, 'merge');
        return;
      }
      if (!jsonEqual(v.status?.loadBalancer ?? {}, h.status?.loadBalancer ?? {})) {
        await ctx.virtual.patch(types.services, v.metadata.namespace, v.metadata.name, { status: { loadBalancer: h.status?.loadBalancer ?? {} } }, 'merge', 'status');
      }
    },
  });
  return sc;
}

/** Ports as `want` lists them, with the node ports the host chose (by position, as the host copy was made). */
function mergeNodePorts(want: any[] | undefined, host: any[] | undefined): any[] {
  return (want ?? []).map((p, i) => {
    const { nodePort: _n, ...rest } = p;
    const chosen = host?.[i]?.nodePort;
    return chosen ? { ...rest, nodePort: chosen } : rest;
  });
}
