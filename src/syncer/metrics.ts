// Prometheus metrics of one syncer (served at /metrics on --health-port): work queues and
// reconciles per controller, API requests per side by verb and answer, informer relists, sync lag
// of pods both ways, front-door requests by answer, and Node's process metrics. Counters the
// syncer keeps anyway (client and informer counters) are read when scraped, not on the hot path.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Controller } from '../controller/controller.ts';
import type { KubeClient } from '../kube/client.ts';
import type { Informer } from '../kube/informer.ts';
import type { KubeObject } from '../kube/client.ts';

const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export type LagDirection = 'to_host' | 'to_virtual';

export class SyncerMetrics {
  readonly registry = new Registry();
  private readonly lag: Histogram<'direction'>;
  private readonly queueWait: Histogram<'controller'>;
  private readonly reconcileSeconds: Histogram<'controller' | 'outcome'>;
  private frontDoorAnswers?: () => Record<string, number>;
  private egressAnswers?: () => Record<string, number>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'vnest_syncer_' });
    this.lag = new Histogram({
      name: 'vnest_sync_lag_seconds',
      help: 'Pods: from the syncer seeing a new virtual pod to its host copy created (to_host), and from the host pod seen Running to the virtual pod patched Running (to_virtual)',
      labelNames: ['direction'], buckets: latencyBuckets, registers: [this.registry],
    });
    this.queueWait = new Histogram({ name: 'vnest_workqueue_wait_seconds', help: 'Time a key waited in a work queue before a worker took it', labelNames: ['controller'], buckets: latencyBuckets, registers: [this.registry] });
    this.reconcileSeconds = new Histogram({ name: 'vnest_reconcile_duration_seconds', help: 'Reconcile duration by outcome (ok, retry, error: terminal)', labelNames: ['controller', 'outcome'], buckets: latencyBuckets, registers: [this.registry] });
  }

  observeLag(direction: LagDirection, ms: number): void {
    this.lag.observe({ direction }, ms / 1000);
  }

  /** Follows the controllers, informers and clients of a syncer. */
  attach(deps: { controllers: () => Controller[]; informers: () => Array<[string, Informer<KubeObject>]>; clients: { virtual: KubeClient; host: KubeClient } }): void {
    const registers = [this.registry];
    for (const c of deps.controllers()) {
      c.queue.observeWait = (ms) => this.queueWait.observe({ controller: c.name }, ms / 1000);
      c.observeReconcile = (ms, outcome) => this.reconcileSeconds.observe({ controller: c.name, outcome }, ms / 1000);
    }
    new Gauge({
      name: 'vnest_workqueue_depth', help: 'Keys waiting in a work queue', labelNames: ['controller'], registers,
      collect() {
        for (const c of deps.controllers()) this.set({ controller: c.name }, c.queue.length);
      },
    });
    new Gauge({
      name: 'vnest_workqueue_in_flight', help: 'Keys being reconciled', labelNames: ['controller'], registers,
      collect() {
        for (const c of deps.controllers()) this.set({ controller: c.name }, c.queue.inFlight);
      },
    });
    const fromCounts = (name: string, help: string, labelNames: string[], rows: () => Array<[Record<string, string>, number]>) => new Counter({
      name, help, labelNames, registers,
      collect() {
        this.reset();
        for (const [labels, n] of rows()) this.inc(labels, n);
      },
    });
    fromCounts('vnest_reconciles_total', 'Reconciles started', ['controller'], () => deps.controllers().map((c) => [{ controller: c.name }, c.stats.reconciles]));
    fromCounts('vnest_reconcile_retries_total', 'Reconciles that failed and were requeued (conflicts included)', ['controller'], () => deps.controllers().map((c) => [{ controller: c.name }, c.stats.retries]));
    fromCounts('vnest_reconcile_errors_total', 'Reconciles that failed for good (until the object changes)', ['controller'], () => deps.controllers().map((c) => [{ controller: c.name }, c.stats.terminalErrors]));
    fromCounts('vnest_api_requests_total', 'Requests of the syncer by side (virtual: the tenant\'s API, host), verb and answer (HTTP status, or error when none came)', ['side', 'verb', 'code'], () =>
      (['virtual', 'host'] as const).flatMap((side) => Object.entries(deps.clients[side].counters.answers).map(([k, n]): [Record<string, string>, number] => {
        const [verb = '', code = ''] = k.split(' ');
        return [{ side, verb, code }, n];
      })));
    fromCounts('vnest_api_watches_total', 'Watches opened by side', ['side'], () => (['virtual', 'host'] as const).map((side) => [{ side }, deps.clients[side].counters.watches]));
    fromCounts('vnest_informer_relists_total', 'Times an informer listed its kind afresh (start, expired watch, error)', ['informer'], () => deps.informers().map(([key, i]) => [{ informer: key }, i.relists]));
    fromCounts('vnest_informer_watches_expired_total', 'Times an informer\'s watch was answered 410 Gone (resourceVersion compacted away) and it listed afresh', ['informer'], () => deps.informers().map(([key, i]) => [{ informer: key }, i.watchesExpired]));
    new Gauge({
      name: 'vnest_informer_objects', help: 'Objects in an informer\'s cache', labelNames: ['informer'], registers,
      collect() {
        for (const [key, i] of deps.informers()) this.set({ informer: key }, i.size);
      },
    });
    const answers = () => this.frontDoorAnswers?.() ?? {};
    fromCounts('vnest_front_door_requests_total', 'Requests to the tenant API front door by answer (HTTP status)', ['code'], () => Object.entries(answers()).map(([code, n]) => [{ code }, n]));
    const egress = () => this.egressAnswers?.() ?? {};
    fromCounts('vnest_egress_connections_total', 'Connections of the tenant control plane through the syncer\'s egress, by verdict (kubelet: served by the syncer; dial: a pod or Service of the tenant; refused)', ['verdict'], () => Object.entries(egress()).map(([verdict, n]) => [{ verdict }, n]));
  }

  /** Counts the front door's answers (its per-status counters). */
  attachFrontDoor(answers: () => Record<string, number>): void {
    this.frontDoorAnswers = answers;
  }

  /** Counts the egress proxy's connections (its per-verdict counters). */
  attachEgress(answers: () => Record<string, number>): void {
    this.egressAnswers = answers;
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
