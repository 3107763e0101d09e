// A work queue with client-go semantics: a key is queued at most once, never handed to two workers
// at once (a key added while in progress is queued again when done), delayed re-add, and per-key
// exponential backoff for failures.
export interface BackoffOptions {
  /** First retry delay (default 5 ms). */
  baseMs: number;
  /** Longest retry delay (default 60 s). */
  maxMs: number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private head = 0;
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private waiters: Array<(key: string | undefined) => void> = [];
  private drainWaiters: Array<() => void> = [];
  private shuttingDown = false;
  private readonly backoff: BackoffOptions;
  /** When each waiting key was first added, for the wait it had before a worker took it. */
  private readonly since = new Map<string, number>();
  /** Told how long each key waited, in ms, when a worker takes it (metrics). */
  observeWait?: (ms: number) => void;

  constructor(backoff: Partial<BackoffOptions> = {}) {
    this.backoff = { baseMs: backoff.baseMs ?? 5, maxMs: backoff.maxMs ?? 60_000 };
  }

  /** Keys waiting to be handed out. */
  get length(): number {
    return this.queue.length - this.head;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (!this.since.has(key)) this.since.set(key, performance.now());
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      this.handOut(key);
      waiter(key);
      return;
    }
    this.queue.push(key);
  }

  /** Adds `key` after `ms`; an earlier pending re-add of the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Re-adds after the key's next backoff delay: base * 2^failures, capped. */
  addRateLimited(key: string): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.addAfter(key, Math.min(this.backoff.baseMs * 2 ** n, this.backoff.maxMs));
  }

  /** Clears the key's failure count after a success. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to work on, or undefined once the queue is shut down. Call done(key) after. */
  get(): Promise<string | undefined> {
    if (this.length > 0) {
      const key = this.queue[this.head++] as string;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.dirty.delete(key);
      this.processing.add(key);
      this.handOut(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private handOut(key: string): void {
    const t = this.since.get(key);
    if (t === undefined) return;
    this.since.delete(key);
    this.observeWait?.(performance.now() - t);
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
    if (this.processing.size === 0) {
      for (const w of this.drainWaiters) w();
      this.drainWaiters = [];
    }
  }

  /** Stops handing out keys; resolves when every key in progress is done. Queued keys are dropped. */
  async shutDown(): Promise<void> {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const w of this.waiters) w(undefined);
    this.waiters = [];
    if (this.processing.size > 0) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }
}
