// Runs a syncer process from resolved options: clients for both sides, the owner Service lookup,
// an optional health endpoint, and a clean stop (drain, then exit) on SIGTERM or SIGINT.
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, type Server } from 'node:http';
import pino, { type Logger } from 'pino';
import { KubeClient } from '../kube/client.ts';
import { isNotFound, isUnavailable } from '../kube/errors.ts';
import { types, type SyncerConfig } from './context.ts';
import { installVirtualCrds, resolveCustomResources } from './custom/discovery.ts';
import { CertificateKeeper, ensureTenantCerts, type Secret } from '../proxy/certs.ts';
import { createCertificateAuthority, issueCertificate, loadCertificateAuthority, type CertificateAuthority } from '../pki/certs.ts';
import { EgressProxy } from '../proxy/egress.ts';
import { FrontDoor } from '../proxy/front-door.ts';
import { KubeletApi } from '../proxy/kubelet.ts';
import { ExposureFollower, exposure, type ExposedService, type Exposure } from '../proxy/exposure.ts';
import { defaultKubeconfigServer, exportKubeconfig } from '../proxy/kubeconfig-export.ts';
import { ResourceMetrics } from '../proxy/resource-metrics.ts';
import type { SyncerOptions } from './options.ts';
import { installCoredns } from './coredns.ts';
import { applyBootstrap, parseManifests } from './bootstrap.ts';
import { Syncer } from './syncer.ts';
import { publishTenantInfo } from './tenant-info.ts';
import { alignKubernetesService } from './tenant-api.ts';

export function inClusterNamespace(): string | undefined {
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The tenant API server's CA (--tenant-ca-cert/-key), read once the control plane has written it. */
async function readTenantCa(opts: SyncerOptions): Promise<CertificateAuthority | undefined> {
  if (!opts.tenantCaCert || !opts.tenantCaKey) return undefined;
  try {
    return await loadCertificateAuthority({ certPem: readFileSync(opts.tenantCaCert, 'utf8'), keyPem: readFileSync(opts.tenantCaKey, 'utf8') });
  } catch (err) {
    throw new Error(`cannot load the tenant's CA from --tenant-ca-cert ${opts.tenantCaCert} and --tenant-ca-key ${opts.tenantCaKey}: ${(err as Error).message}`, { cause: err });
  }
}

export interface RunningSyncer {
  syncer: Syncer;
  /** The front door's port, when it runs. */
  frontDoorPort?: number;
  stop(): Promise<void>;
}

/** Connects, starts and returns a running syncer. */
export async function startSyncer(opts: SyncerOptions, logger: Logger = pino({ level: opts.logLevel })): Promise<RunningSyncer> {
  const log = logger.child({ tenant: opts.tenant });
  // In a pod the control plane writes its kubeconfig when it has started: wait for it.
  const deadline = Date.now() + opts.kubeconfigWaitSeconds * 1000;
  while (!existsSync(opts.virtualKubeconfig)) {
    if (Date.now() > deadline) throw new Error(`the control plane's kubeconfig ${opts.virtualKubeconfig} did not appear within ${opts.kubeconfigWaitSeconds} s`);
    log.info({ path: opts.virtualKubeconfig }, 'waiting for the control plane\'s kubeconfig');
    await sleep(2000);
  }
  const virtual = await KubeClient.fromKubeconfigFile(opts.virtualKubeconfig, { qps: opts.virtualQps, burst: opts.virtualBurst, userAgent: 'vnest-syncer' });
  const host = opts.hostKubeconfig
    ? await KubeClient.fromKubeconfigFile(opts.hostKubeconfig, { qps: opts.hostQps, burst: opts.hostBurst, userAgent: 'vnest-syncer' })
    : await KubeClient.inCluster({ qps: opts.hostQps, burst: opts.hostBurst, userAgent: 'vnest-syncer' });

  try {
    return await run(opts, log, virtual, host);
  } catch (err) {
    virtual.close();
    host.close();
    throw err;
  }
}

/**
 * Runs one start-up step, again and again with growing pauses while an API cannot answer (down,
 * restarting, overloaded), for up to `seconds`: a syncer started while the host's or the tenant's
 * API server restarts waits for it instead of exiting. Any other error fails at once.
 */
export async function whileUnavailable<T>(what: string, seconds: number, log: Logger, step: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (let wait = 500; ; wait = Math.min(wait * 2, 10_000)) {
    try {
      return await step();
    } catch (err) {
      if (!isUnavailable(err) || Date.now() + wait > deadline) throw err;
      log.warn({ err: (err as Error).message, retryInMs: wait }, `${what}: an API cannot answer yet; trying again`);
      await sleep(wait);
    }
  }
}

async function run(opts: SyncerOptions, log: Logger, virtual: KubeClient, host: KubeClient): Promise<RunningSyncer> {
  // The tenant type's manifests: a file that cannot be read or parsed stops the start, saying why.
  const manifests = opts.bootstrapManifests ? parseManifests(readFileSync(opts.bootstrapManifests, 'utf8'), opts.bootstrapManifests) : [];
  const retrying = <T>(what: string, step: () => Promise<T>) => whileUnavailable(what, opts.startRetrySeconds, log, step);
  let owner: SyncerConfig['owner'];
  let ownerIp: string | undefined;
  let ownerSvc: ExposedService | undefined;
  if (opts.ownerService) {
    try {
      const svc = await retrying('reading the owner Service', () => host.get<ExposedService & { spec?: { clusterIP?: string } }>(types.services, opts.hostNamespace, opts.ownerService));
      ownerSvc = svc;
      if (svc.spec?.clusterIP && svc.spec.clusterIP !== 'None') ownerIp = svc.spec.clusterIP;
      owner = { apiVersion: 'v1', kind: 'Service', name: svc.metadata.name, uid: svc.metadata.uid ?? '', controller: true, blockOwnerDeletion: false };
    } catch (err) {
      if (isNotFound(err)) {
        throw new Error(`the owner Service ${opts.hostNamespace}/${opts.ownerService} does not exist on the host: the chart creates it; pass --owner-service NAME for another, or --owner-service "" for none`, { cause: err });
      }
      throw new Error(`cannot reach the host API to read the owner Service: ${(err as Error).message}`, { cause: err });
    }
  }

  // The front door's certificates. In-pod clients verify the address they dial: the owner
  // Service's cluster IP (their KUBERNETES_SERVICE_HOST) and a specific listen address are names
  // of the front door too, and its CA is the ca.crt pods get. So are the addresses the API is
  // exposed at (an Ingress host, the Service's load-balancer or node address), which can change
  // while the syncer runs (see ExposureFollower below).
  const sans = [...opts.extraSans, ...(ownerIp ? [ownerIp] : []), ...(isSpecificAddress(opts.listenAddress) ? [opts.listenAddress] : [])];
  const exposeConfig = { ...(opts.exposeIngressHost ? { ingressHost: opts.exposeIngressHost } : {}), ...(opts.exposeNodeAddress ? { nodeAddress: opts.exposeNodeAddress } : {}) };
  const exposed = exposure(exposeConfig, ownerSvc);
  if (exposed.waiting) log.info({ why: exposed.waiting }, 'the tenant API is not reachable from outside yet; the exported kubeconfig names the in-cluster Service until it is');
  // An explicit --kubeconfig-server wins; then the exposed address; then the in-cluster Service.
  const serverFor = (e: Exposure) => opts.kubeconfigServer ?? e.server ?? defaultKubeconfigServer(opts.tenant, opts.hostNamespace);
  const tenantCa = await readTenantCa(opts);
  const certOptions = { tenant: opts.tenant, hostNamespace: opts.hostNamespace, ...(owner ? { owner } : {}), ...(tenantCa ? { tenantCa } : {}) };
  const certs = opts.listenPort > 0 ? await retrying('preparing the front door\'s certificates', () => ensureTenantCerts(host, { ...certOptions, extraSans: [...sans, ...exposed.sans] })) : undefined;

  const config: SyncerConfig = {
    tenant: opts.tenant,
    hostNamespace: opts.hostNamespace,
    domain: opts.domain,
    ...(owner ? { owner } : {}),
    workers: opts.workers,
    resyncSeconds: opts.resyncSeconds,
    policy: opts.policy,
    nodeSync: opts.nodeSync,
    sharedServices: opts.sharedServices,
    hostServiceAccount: opts.hostServiceAccount,
    // In-pod clients reach the tenant's API through its host Service (the front door behind it).
    ...(opts.tenantApiHost ? { tenantApi: { host: opts.tenantApiHost, port: opts.tenantApiPort, ...(certs ? { caPem: certs.ca.certPem } : {}) } }
      : ownerIp && certs ? { tenantApi: { host: ownerIp, port: 443, caPem: certs.ca.certPem } } : {}),
    tokenExpirationSeconds: opts.tokenExpirationSeconds,
    tokenStorage: opts.tokenStorage,
    ...(opts.hostsImage ? { hostsImage: opts.hostsImage } : {}),
    customResources: await retrying('resolving custom resources', () => resolveCustomResources(host, opts.customResourceSpecs)),
  };
  await retrying('installing custom resource definitions in the tenant', () => installVirtualCrds(virtual, config.customResources));
  if (opts.coredns) await retrying('installing CoreDNS in the tenant', () => installCoredns(virtual, opts.corednsImage));
  // For tenants created inside this one (their default domain); nothing else depends on it.
  const info = { tenant: opts.tenant, domain: opts.domain, ...(opts.type ? { type: opts.type } : {}), ...(manifests.length > 0 ? { bootstrap: `applying ${manifests.length} object(s)` } : {}) };
  const publish = (extra: { bootstrap?: string } = {}) => publishTenantInfo(virtual, { ...info, ...extra })
    .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not publish kube-public/vnest-info in the tenant\'s cluster'));
  await publish();
  const syncer = new Syncer({ config, virtual, host, logger: log });
  let health: Server | undefined;
  if (opts.healthPort > 0) {
    health = createServer((req, res) => {
      if (req.url === '/stats' || req.url === '/stats?gc=1') {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(syncer.stats({ gc: req.url.endsWith('gc=1') })));
        return;
      }
      if (req.url === '/metrics') {
        const metrics = syncer.context.metrics;
        metrics.text().then((text) => res.writeHead(200, { 'Content-Type': metrics.contentType }).end(text), (err: unknown) => res.writeHead(500).end((err as Error).message));
        return;
      }
      const ok = req.url === '/healthz' || (req.url === '/readyz' && syncer.isReady());
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ok' : 'not ready');
    });
    await new Promise<void>((resolve, reject) => health?.once('error', reject).listen(opts.healthPort, resolve));
  }
  await syncer.start();
  let egress: { proxy: EgressProxy; kubelet: KubeletApi } | undefined;
  if (opts.egressSocket) {
    const copies = { tenant: opts.tenant, hostNamespace: opts.hostNamespace, virtualPods: syncer.context.informers.virtual(types.pods), hostPods: syncer.context.informers.host(types.pods) };
    const kubelet = new KubeletApi(copies, host);
    // The API server does not verify a kubelet's certificate unless given --kubelet-certificate-authority.
    const ca = await createCertificateAuthority(`vnest-${opts.tenant}-kubelet`);
    const serving = await issueCertificate(ca, { commonName: 'vnest-kubelet', usages: ['server'], dnsNames: ['localhost'] });
    const proxy = new EgressProxy({
      socketPath: opts.egressSocket, kubelet, serving, virtualNodes: syncer.context.informers.virtual(types.nodes),
      hostPods: copies.hostPods, hostServices: syncer.context.informers.host(types.services), log: log.child({ component: 'egress' }),
    });
    await proxy.listen();
    syncer.context.metrics.attachEgress(() => proxy.answers);
    egress = { proxy, kubelet };
    log.info({ socket: opts.egressSocket }, 'serving the control plane\'s egress: exec, attach and port-forward go through the tenant\'s API server');
  }
  let frontDoor: FrontDoor | undefined;
  let frontDoorPort: number | undefined;
  let exposureFollower: ExposureFollower | undefined;
  let certKeeper: CertificateKeeper | undefined;
  if (certs) {
    let server = serverFor(exposed);
    await retrying('exporting the tenant\'s kubeconfig', () => exportKubeconfig(host, opts.tenant, opts.hostNamespace, certs, server, { owner, domain: opts.domain }));
    frontDoor = new FrontDoor({
      port: opts.listenPort, address: opts.listenAddress, tenant: opts.tenant, hostNamespace: opts.hostNamespace, certs, virtual, host,
      virtualPods: syncer.context.informers.virtual(types.pods), hostPods: syncer.context.informers.host(types.pods),
      hostServices: syncer.context.informers.host(types.services),
      streamsViaControlPlane: egress !== undefined,
      ...(opts.resourceMetrics ? {
        metrics: new ResourceMetrics({
          tenant: opts.tenant, hostNamespace: opts.hostNamespace, host, virtual,
          virtualPods: syncer.context.informers.virtual(types.pods), hostPods: syncer.context.informers.host(types.pods),
        }),
      } : {}),
      ready: () => syncer.isReady(), log: log.child({ component: 'front-door' }),
    });
    frontDoorPort = await frontDoor.listen();
    const door = frontDoor;
    syncer.context.metrics.attachFrontDoor(() => door.answers);
    // A serving certificate nearing expiry, or removed by "vnest certs rotate", is renewed while
    // the syncer runs; a new admin certificate is exported.
    const keeper = new CertificateKeeper({
      host, ...certOptions, fixedSans: sans, exposedSans: exposed.sans, current: certs,
      secrets: syncer.context.informers.host<Secret>(types.secrets), intervalMs: opts.resyncSeconds * 1000, log: log.child({ component: 'certificates' }),
      apply: async (next, previous) => {
        if (next.serving.certPem !== previous.serving.certPem) door.setServingCertificate(next.serving);
        if (next.admin.certPem !== previous.admin.certPem) await exportKubeconfig(host, opts.tenant, opts.hostNamespace, next, server, { owner, domain: opts.domain });
      },
    });
    keeper.start();
    certKeeper = keeper;
    if (ownerIp) {
      const endpointIP = opts.frontDoorIp ?? process.env.POD_IP;
      await retrying('aligning the tenant\'s kubernetes Service', () => alignKubernetesService(virtual, { clusterIP: ownerIp, endpointPort: opts.listenPort, ...(endpointIP ? { endpointIP } : {}) }, log));
    }
    log.info({ port: frontDoorPort, server, ...(exposed.via ? { exposedVia: exposed.via } : {}) }, 'tenant API front door listening');
    if (opts.ownerService) {
      // A load balancer assigns its address after the start, and may move it; a node port can be
      // given later: the certificate and the exported kubeconfig follow the tenant's own Service.
      exposureFollower = new ExposureFollower({
        host, namespace: opts.hostNamespace, service: opts.ownerService, config: exposeConfig, current: exposed,
        resyncMs: opts.resyncSeconds * 1000, log: log.child({ component: 'exposure' }),
        apply: async (next) => {
          const updated = await keeper.check(next.sans);
          await exportKubeconfig(host, opts.tenant, opts.hostNamespace, updated, serverFor(next), { owner, domain: opts.domain });
          server = serverFor(next);
          log.info({ server, names: next.sans, ...(next.via ? { exposedVia: next.via } : {}), ...(next.waiting ? { waiting: next.waiting } : {}) }, 'the tenant API\'s address changed: serving certificate and exported kubeconfig updated');
        },
      });
      exposureFollower.start();
    }
  }
  // In the background: the tenant's API is usable meanwhile; the outcome goes to vnest-info.
  // Stopping the syncer stops it too (its retries would outlive the clients, and report late).
  const bootstrapStop = new AbortController();
  const bootstrap = manifests.length === 0 ? undefined
    : applyBootstrap(virtual, manifests, { signal: bootstrapStop.signal }).then(async (r) => {
      if (r.aborted || bootstrapStop.signal.aborted) {
        log.info({ type: opts.type, applied: r.applied }, 'stopped applying the tenant type: the syncer is stopping');
        return;
      }
      const status = r.failed.length === 0 ? `applied ${r.applied} object(s)` : `applied ${r.applied} of ${manifests.length} object(s); failed: ${r.failed.join('; ')}`;
      if (r.failed.length === 0) log.info({ type: opts.type, applied: r.applied }, 'tenant type applied');
      else log.warn({ type: opts.type, applied: r.applied, failed: r.failed }, 'tenant type applied in part');
      await publish({ bootstrap: status });
    }).catch((err: unknown) => log.error({ err: (err as Error).message }, 'could not apply the tenant type'));
  return {
    syncer,
    ...(frontDoorPort ? { frontDoorPort } : {}),
    async stop() {
      bootstrapStop.abort();
      await bootstrap;
      await exposureFollower?.stop();
      await certKeeper?.stop();
      await frontDoor?.close();
      await egress?.proxy.close();
      egress?.kubelet.close();
      await syncer.stop();
      await new Promise<void>((resolve) => (health ? health.close(() => resolve()) : resolve()));
      virtual.close();
      host.close();
    },
  };
}

/** An address that names one interface (not a wildcard such as 0.0.0.0 or ::). */
function isSpecificAddress(address: string | undefined): address is string {
  return !!address && address !== '0.0.0.0' && address !== '::' && address !== '127.0.0.1';
}
