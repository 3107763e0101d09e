// Where the tenant's API is reached from outside the host cluster, when the chart exposes it: the
// names the front door's serving certificate must carry and the server the exported kubeconfig
// names, and a follower that keeps both right as the host assigns addresses to the tenant's Service.
// Only names the operator configured (the Ingress host, the node address) or the host assigned to
// the tenant's own Service (its load-balancer addresses) are used: nothing a tenant writes.
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import { types } from '../syncer/context.ts';

/** What the operator configured (chart values ingress.host, service.nodeAddress). */
export interface ExposureConfig {
  /** Host name of the chart's Ingress to the front door (TLS passthrough): reached on port 443. */
  ingressHost?: string;
  /** For a NodePort Service: the node address (IP or DNS name) users reach it at. */
  nodeAddress?: string;
}

/** The parts of the tenant's host Service (the owner Service) that exposure reads. */
export type ExposedService = KubeObject & {
  spec?: { type?: string; loadBalancerIP?: string; ports?: Array<{ name?: string; port: number; nodePort?: number }> };
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string; hostname?: string }> } };
};

export interface Exposure {
  /** Names and addresses for the serving certificate, beyond the in-cluster ones. */
  sans: string[];
  /** The server for the exported kubeconfig; none when the API is not exposed, or not yet. */
  server?: string;
  /** How it is exposed, for logs. */
  via?: 'ingress' | 'loadBalancer' | 'nodePort';
  /** Why there is no server although exposure is configured (e.g. no load-balancer address yet). */
  waiting?: string;
}

/** `https://host:port`, with an IPv6 address in brackets. */
export function httpsUrl(host: string, port: number): string {
  return `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

/** The Service's port to the front door: the one named https, else the first. */
function apiPort(svc: ExposedService): { port: number; nodePort?: number } | undefined {
  const ports = svc.spec?.ports ?? [];
  return ports.find((p) => p.name === 'https') ?? ports[0];
}

/**
 * The certificate names and the kubeconfig server that exposure calls for. The server is, in
 * this order: the Ingress host (port 443), the Service's first load-balancer address (its port),
 * the node address at the Service's node port. Every configured or assigned address is a name of
 * the certificate, so a client that reaches the tenant any of these ways verifies it.
 */
export function exposure(config: ExposureConfig, svc?: ExposedService): Exposure {
  const sans: string[] = [];
  let server: string | undefined;
  let via: Exposure['via'];
  let waiting: string | undefined;
  if (config.ingressHost) {
    sans.push(config.ingressHost);
    server = httpsUrl(config.ingressHost, 443);
    via = 'ingress';
  }
  const type = svc?.spec?.type ?? 'ClusterIP';
  const port = svc ? apiPort(svc) : undefined;
  if (svc && type === 'LoadBalancer') {
    // Asked for by the operator (loadBalancerIP), then what the host's load balancer assigned.
    if (svc.spec?.loadBalancerIP) sans.push(svc.spec.loadBalancerIP);
    const assigned = (svc.status?.loadBalancer?.ingress ?? []).flatMap((i) => [i.ip, i.hostname]).filter((a): a is string => !!a);
    sans.push(...assigned);
    if (!server) {
      if (assigned[0] && port) {
        server = httpsUrl(assigned[0], port.port);
        via = 'loadBalancer';
      } else {
        waiting = `Service ${svc.metadata.name} has no load-balancer address yet`;
      }
    }
  }
  if (svc && type === 'NodePort') {
    if (config.nodeAddress) sans.push(config.nodeAddress);
    if (!server) {
      if (!config.nodeAddress) waiting = `Service ${svc.metadata.name} is a NodePort, but no node address is configured (chart value service.nodeAddress)`;
      else if (!port?.nodePort) waiting = `Service ${svc.metadata.name} has no node port yet`;
      else {
        server = httpsUrl(config.nodeAddress, port.nodePort);
        via = 'nodePort';
      }
    }
  }
  return { sans: [...new Set(sans)], ...(server ? { server } : {}), ...(via ? { via } : {}), ...(waiting ? { waiting } : {}) };
}

/** Whether two exposures ask for the same certificate names and server. */
export function sameExposure(a: Exposure, b: Exposure): boolean {
  return a.server === b.server && a.sans.length === b.sans.length && a.sans.every((s) => b.sans.includes(s));
}

export interface ExposureFollowerOptions {
  host: KubeClient;
  namespace: string;
  /** The tenant's host Service (the owner Service). */
  service: string;
  config: ExposureConfig;
  /** The exposure the certificate and kubeconfig were made for at start. */
  current: Exposure;
  /** Makes the certificate and the exported kubeconfig follow a new exposure; throws to retry. */
  apply(next: Exposure): Promise<void>;
  log: Logger;
  resyncMs: number;
  /** Wait before trying a failed apply again (default 10 s). */
  retryMs?: number;
}

/**
 * Watches the tenant's host Service alone (a field selector on its name) and applies the exposure
 * it calls for whenever that changes: a load-balancer address assigned or moved, a node port
 * given. Applies run one at a time; a failed one is tried again, with the newest exposure.
 */
export class ExposureFollower {
  private readonly opts: ExposureFollowerOptions;
  private readonly informer: Informer<ExposedService>;
  private current: Exposure;
  private pending: Exposure | undefined;
  private chain: Promise<void> = Promise.resolve();
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(opts: ExposureFollowerOptions) {
    this.opts = opts;
    this.current = opts.current;
    this.informer = new Informer<ExposedService>(opts.host, types.services, {
      namespace: opts.namespace, fieldSelector: `metadata.name=${opts.service}`, resyncMs: opts.resyncMs, logger: opts.log,
    });
    this.informer.addHandlers({ onAdd: (svc) => this.seen(svc), onUpdate: (_, svc) => this.seen(svc) });
  }

  start(): void {
    this.informer.start();
  }

  /** Resolves when the Service has been read once and any change it called for is applied. */
  async settled(): Promise<void> {
    await this.informer.waitForSync();
    await this.chain;
  }

  private seen(svc: ExposedService): void {
    const next = exposure(this.opts.config, svc);
    if (sameExposure(next, this.pending ?? this.current)) return;
    this.pending = next;
    this.chain = this.chain.then(() => this.applyPending());
  }

  private async applyPending(): Promise<void> {
    const next = this.pending;
    if (!next || this.stopped) return;
    this.pending = undefined;
    if (sameExposure(next, this.current)) return;
    try {
      await this.opts.apply(next);
      this.current = next;
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'could not update the serving certificate and exported kubeconfig for the tenant API\'s new address; trying again');
      this.pending ??= next;
      clearTimeout(this.retry);
      this.retry = setTimeout(() => {
        this.chain = this.chain.then(() => this.applyPending());
      }, this.opts.retryMs ?? 10_000);
      this.retry.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.informer.stop();
    await this.chain;
  }
}
