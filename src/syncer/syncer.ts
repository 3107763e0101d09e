// The syncer process's core: builds the shared informers and every registered controller, starts
// them once both sides' caches are synced, and on stop drains work in flight before closing.
import type { Logger } from 'pino';
import type { Controller } from '../controller/controller.ts';
import type { KubeClient, KubeObject, ResourceType } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import { marks } from '../translate/metadata.ts';
import type { HostScope, Informers, SyncContext, SyncerConfig, VirtualScope } from './context.ts';
import { EventRecorder } from './events.ts';
import { SyncerMetrics } from './metrics.ts';
import { createCustomSync } from './resources/custom.ts';
import { createShared, resources } from './resources/index.ts';
import { createSharedServices } from './shared-services.ts';

export interface SyncerDeps {
  config: SyncerConfig;
  virtual: KubeClient;
  host: KubeClient;
  logger: Logger;
}

/** Host kinds vnest does not label itself, so their informers cannot select on the tenant label. */
const unlabelledHostKinds = new Set(['events', 'nodes']);

export class Syncer {
  readonly context: SyncContext;
  private readonly informerMap = new Map<string, Informer<KubeObject>>();
  private readonly controllers: Controller[] = [];
  private readonly log: Logger;
  private started = false;
  private ready = false;

  constructor(deps: SyncerDeps) {
    this.log = deps.logger;
    const informers: Informers = {
      virtual: <T extends KubeObject>(rt: ResourceType, scope?: VirtualScope) => this.informer<T>('virtual', rt, deps, scope),
      host: <T extends KubeObject>(rt: ResourceType, scope?: HostScope) => this.informer<T>('host', rt, deps, scope),
    };
    this.context = {
      config: deps.config,
      virtual: deps.virtual,
      host: deps.host,
      events: new EventRecorder(deps.virtual, deps.logger.child({ component: 'events' })),
      metrics: new SyncerMetrics(),
      log: deps.logger,
      informers,
    };
    const shared = createShared(this.context);
    this.controllers.push(shared.nodes.controller, shared.tokens.controller, shared.trustBundles.controller, shared.podCertificates.controller);
    for (const [name, entry] of Object.entries(resources)) {
      this.controllers.push(entry.create(this.context, shared).controller);
      this.log.debug({ resource: name }, 'registered');
    }
    if (deps.config.sharedServices) this.controllers.push(createSharedServices(this.context).controller);
    for (const custom of deps.config.customResources) {
      this.controllers.push(createCustomSync(this.context, shared, custom).controller);
      this.log.debug({ resource: custom.type.plural, direction: custom.spec.direction }, 'registered custom resource');
    }
    this.context.metrics.attach({
      controllers: () => this.controllers,
      informers: () => [...this.informerMap],
      clients: { virtual: deps.virtual, host: deps.host },
    });
  }

  private informer<T extends KubeObject>(side: 'virtual' | 'host', rt: ResourceType, deps: SyncerDeps, scope?: HostScope | VirtualScope): Informer<T> {
    const hostSide = side === 'host';
    // Host informers see this tenant's objects in its host namespace unless told otherwise.
    const scopeNamespace = scope && 'namespace' in scope ? scope.namespace : undefined;
    const namespace = hostSide && rt.namespaced ? (scopeNamespace ?? deps.config.hostNamespace) : undefined;
    const labelSelector = hostSide
      ? (scope ? scope.labelSelector : unlabelledHostKinds.has(rt.plural) ? undefined : `${marks.tenant}=${deps.config.tenant}`)
      : scope?.labelSelector;
    const key = `${side}:${rt.group}/${rt.version}/${rt.plural}:${namespace ?? ''}:${labelSelector ?? ''}`;
    let inf = this.informerMap.get(key);
    if (!inf) {
      inf = new Informer<KubeObject>(hostSide ? deps.host : deps.virtual, rt, {
        logger: deps.logger.child({ side }),
        resyncMs: deps.config.resyncSeconds * 1000,
        ...(namespace ? { namespace } : {}),
        ...(labelSelector ? { labelSelector } : {}),
      });
      this.informerMap.set(key, inf);
    }
    return inf as unknown as Informer<T>;
  }

  /** Starts informers, waits until every cache is synced, then starts the controllers. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const inf of this.informerMap.values()) inf.start();
    await Promise.all([...this.informerMap.values()].map((i) => i.waitForSync()));
    for (const c of this.controllers) c.start();
    this.ready = true;
    this.log.info({ informers: this.informerMap.size, controllers: this.controllers.length }, 'caches synced; controllers running');
  }

  isReady(): boolean {
    return this.ready;
  }

  /** Stops taking work, finishes reconciles in flight, then stops the informers. */
  async stop(): Promise<void> {
    this.ready = false;
    await Promise.all(this.controllers.map((c) => c.stop()));
    await Promise.all([...this.informerMap.values()].map((i) => i.stop()));
  }

  /**
   * Work-queue and API counters, for benchmarks and diagnostics. With `gc` (and Node started with
   * --expose-gc), a full collection runs first, so heapUsed is the live heap.
   */
  stats(opts: { gc?: boolean } = {}): Record<string, unknown> {
    const collect = (globalThis as { gc?: () => void }).gc;
    if (opts.gc && collect) collect();
    const mem = process.memoryUsage();
    return {
      // external: memory V8 objects hold outside the heap (Buffers: arrayBuffers); the rest of rss
      // above heapTotal and external is the process's own (code, stacks, malloc arenas).
      memoryMb: Object.fromEntries((['rss', 'heapUsed', 'heapTotal', 'external', 'arrayBuffers'] as const).map((k) => [k, Math.round(mem[k] / 2 ** 20)])),
      ...(opts.gc && collect ? { liveHeapKb: Math.round(mem.heapUsed / 1024) } : {}),
      cached: Object.fromEntries([...this.informerMap].map(([k, i]) => [k, i.size])),
      watchesExpired: [...this.informerMap.values()].reduce((n, i) => n + i.watchesExpired, 0),
      // Per cache: lists, 410s, and how long ago it last heard from its API (a stalled watch shows).
      informers: Object.fromEntries([...this.informerMap].map(([k, i]) => [k, {
        relists: i.relists, watchesExpired: i.watchesExpired,
        lastHeardSecondsAgo: i.lastHeard.at ? Math.round((Date.now() - i.lastHeard.at) / 1000) : null, resourceVersion: i.lastHeard.resourceVersion,
      }])),
      virtual: { ...this.context.virtual.counters, writesBy: { ...this.context.virtual.counters.writesBy } },
      host: { ...this.context.host.counters, writesBy: { ...this.context.host.counters.writesBy } },
      controllers: Object.fromEntries(this.controllers.map((c) => [c.name, { ...c.stats, queued: c.queue.length, inFlight: c.queue.inFlight }])),
    };
  }
}
