// Runs a reconcile function over a work queue with bounded concurrency. Throwing means retry with
// backoff; conflicts requeue quietly; a terminal error is logged and counted once, not retried.
import type { Logger } from 'pino';
import { isConflict, isTerminal } from '../kube/errors.ts';
import { WorkQueue, type BackoffOptions } from './queue.ts';

export interface ControllerOptions {
  name: string;
  workers: number;
  reconcile: (key: string) => Promise<void>;
  logger: Logger;
  backoff?: Partial<BackoffOptions>;
}

export interface ControllerStats {
  reconciles: number;
  retries: number;
  terminalErrors: number;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  readonly stats: ControllerStats = { reconciles: 0, retries: 0, terminalErrors: 0 };
  private readonly opts: ControllerOptions;
  private readonly log: Logger;
  private workers: Array<Promise<void>> = [];
  /** Told each reconcile's duration in ms and outcome (metrics). */
  observeReconcile?: (ms: number, outcome: 'ok' | 'retry' | 'error') => void;

  constructor(opts: ControllerOptions) {
    this.name = opts.name;
    this.opts = opts;
    this.queue = new WorkQueue(opts.backoff);
    this.log = opts.logger.child({ controller: opts.name });
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  start(): void {
    for (let i = 0; i < this.opts.workers; i++) this.workers.push(this.work());
  }

  /** Stops taking keys and waits for reconciles in flight to finish. */
  async stop(): Promise<void> {
    await this.queue.shutDown();
    await Promise.all(this.workers);
    this.workers = [];
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const start = performance.now();
      try {
        this.stats.reconciles++;
        await this.opts.reconcile(key);
        this.queue.forget(key);
        this.observeReconcile?.(performance.now() - start, 'ok');
      } catch (err) {
        const terminal = this.handleError(key, err);
        this.observeReconcile?.(performance.now() - start, terminal ? 'error' : 'retry');
      } finally {
        this.queue.done(key);
      }
    }
  }

  /** Requeues or gives up on `key`; true when the error is terminal. */
  private handleError(key: string, err: unknown): boolean {
    if (isConflict(err)) {
      this.log.debug({ key }, 'conflict; requeueing');
      this.stats.retries++;
      this.queue.addRateLimited(key);
      return false;
    }
    if (isTerminal(err)) {
      this.stats.terminalErrors++;
      this.queue.forget(key);
      this.log.error({ key, err: (err as Error).message }, 'reconcile failed and will not be retried until the object changes');
      return true;
    }
    this.stats.retries++;
    const attempt = this.queue.numRequeues(key) + 1;
    // The first failures are routine (caches catching up); say more as they repeat.
    const level = attempt >= 5 ? 'warn' : 'debug';
    this.log[level]({ key, attempt, err: (err as Error).message }, 'reconcile failed; retrying with backoff');
    this.queue.addRateLimited(key);
    return false;
  }
}
