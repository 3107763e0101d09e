// A list-watch cache of one (cluster, kind, namespace, selector): keeps every object in memory,
// tells handlers about adds, updates and deletes, resyncs periodically, and restarts the watch (or
// relists) with capped backoff after any error. Cached objects are frozen and shared: reads return
// them without copying (a copy per read was the syncer's largest CPU cost), and a caller that
// wants to change one must copy it first (`structuredClone`); changing a frozen object throws.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { KubeClient, KubeObject, ResourceType } from './client.ts';
import { isGone } from './errors.ts';

export interface InformerHandlers<T extends KubeObject> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, obj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Every handler sees every object again this often (default 10 min; 0 turns it off). */
  resyncMs?: number;
  /** Backoff after errors: first wait and cap (default 500 ms, 30 s). */
  backoffMs?: { initial: number; max: number };
  logger: Logger;
}

/**
 * Readies an object for the cache: drops what no controller reads (managedFields are often the
 * largest part of an object) and freezes the rest, deeply, so that it can be shared by every reader.
 */
export function trimForCache<T extends KubeObject>(obj: T): T {
  if (obj.metadata.managedFields !== undefined) delete obj.metadata.managedFields;
  return deepFreeze(obj);
}

/** Freezes a JSON value and everything in it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}

export function objectKey(obj: KubeObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

export class Informer<T extends KubeObject> {
  readonly resource: ResourceType;
  /** Times the cache was listed afresh (start, expired watches, errors). */
  relists = 0;
  /** Times a watch was answered 410 Gone (its resourceVersion compacted away), so the cache was listed afresh. */
  watchesExpired = 0;
  /** When (ms since the epoch) the cache last heard from the API (a list, or a watch event or bookmark), and at which resourceVersion: a stalled watch shows here. */
  lastHeard = { at: 0, resourceVersion: '' };
  private readonly client: KubeClient;
  private readonly opts: InformerOptions;
  private readonly log: Logger;
  private readonly store = new Map<string, T>();
  private readonly handlers: Array<InformerHandlers<T>> = [];
  private synced = false;
  private syncWaiters: Array<() => void> = [];
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;

  constructor(client: KubeClient, resource: ResourceType, opts: InformerOptions) {
    this.client = client;
    this.resource = resource;
    this.opts = opts;
    this.log = opts.logger.child({ informer: resource.plural, namespace: opts.namespace, selector: opts.labelSelector });
  }

  addHandlers(h: InformerHandlers<T>): void {
    this.handlers.push(h);
  }

  start(): void {
    if (this.loop) return;
    this.abort = new AbortController();
    this.loop = this.run(this.abort.signal);
    const resyncMs = this.opts.resyncMs ?? 600_000;
    if (resyncMs > 0) {
      this.resyncTimer = setInterval(() => {
        for (const obj of this.store.values()) this.emit((h) => h.onUpdate?.(obj, obj));
      }, resyncMs);
      this.resyncTimer.unref();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.resyncTimer);
    this.abort?.abort();
    await this.loop;
    this.loop = undefined;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** The cached object (frozen: copy it before changing it), or undefined. */
  get(key: string): T | undefined {
    return this.store.get(key);
  }

  has(key: string): boolean {
    return this.store.has(key);
  }

  /** Every cached object (frozen) that passes `filter`. */
  list(filter?: (obj: Readonly<T>) => boolean): T[] {
    const out: T[] = [];
    for (const obj of this.store.values()) if (!filter || filter(obj)) out.push(obj);
    return out;
  }

  /** Iterates cached objects (frozen). */
  forEachCached(fn: (obj: Readonly<T>) => void): void {
    for (const obj of this.store.values()) fn(obj);
  }

  get size(): number {
    return this.store.size;
  }

  private emit(fn: (h: InformerHandlers<T>) => void): void {
    for (const h of this.handlers) {
      try {
        fn(h);
      } catch (err) {
        this.log.error({ err }, 'informer handler threw');
      }
    }
  }

  private async run(signal: AbortSignal): Promise<void> {
    const backoff = this.opts.backoffMs ?? { initial: 500, max: 30_000 };
    let wait = backoff.initial;
    while (!signal.aborted) {
      try {
        let rv = await this.relist();
        wait = backoff.initial;
        // Watch until the server closes the stream, then continue from the last resourceVersion.
        while (!signal.aborted) {
          rv = await this.watchFrom(rv, signal);
        }
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          this.watchesExpired++;
          this.log.debug('watch expired; relisting');
          continue;
        }
        this.log.warn({ err: (err as Error).message, retryInMs: wait }, 'list/watch failed; retrying');
        await sleep(wait, undefined, { signal }).catch(() => undefined);
        wait = Math.min(wait * 2, backoff.max);
      }
    }
  }

  private async relist(): Promise<string> {
    this.relists++;
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.client.list<T>(this.resource, this.opts.namespace, {
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
        limit: 500,
        continue: cont,
      });
      for (const item of page.items) fresh.set(objectKey(item), trimForCache(item));
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion ?? rv;
    } while (cont);
    this.lastHeard = { at: Date.now(), resourceVersion: rv };
    // Replace the store and tell handlers what changed while we were not watching.
    for (const [key, old] of this.store) {
      if (!fresh.has(key)) {
        this.store.delete(key);
        this.emit((h) => h.onDelete?.(old));
      }
    }
    for (const [key, obj] of fresh) {
      const old = this.store.get(key);
      this.store.set(key, obj);
      if (old) this.emit((h) => h.onUpdate?.(old, obj));
      else this.emit((h) => h.onAdd?.(obj));
    }
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters) w();
      this.syncWaiters = [];
    }
    return rv;
  }

  private async watchFrom(resourceVersion: string, signal: AbortSignal): Promise<string> {
    let rv = resourceVersion;
    const stream = this.client.watch<T>(this.resource, this.opts.namespace, {
      resourceVersion: rv,
      labelSelector: this.opts.labelSelector,
      fieldSelector: this.opts.fieldSelector,
      timeoutSeconds: 300 + Math.floor(Math.random() * 300),
    }, signal);
    for await (const event of stream) {
      const obj = trimForCache(event.object);
      if (obj.metadata.resourceVersion) rv = obj.metadata.resourceVersion;
      this.lastHeard = { at: Date.now(), resourceVersion: rv };
      if (event.type === 'BOOKMARK') continue;
      const key = objectKey(obj);
      if (event.type === 'DELETED') {
        const old = this.store.get(key) ?? obj;
        this.store.delete(key);
        this.emit((h) => h.onDelete?.(old));
        continue;
      }
      const old = this.store.get(key);
      this.store.set(key, obj);
      if (old) this.emit((h) => h.onUpdate?.(old, obj));
      else this.emit((h) => h.onAdd?.(obj));
    }
    return rv;
  }
}
