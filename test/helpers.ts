// Shared integration-test plumbing: start an environment once per file, print component logs when a
// test fails, and always stop what was started.
import { afterAll, afterEach, beforeAll } from 'vitest';
import { loadKit, type Kit } from '../src/local/kit.ts';
import { PortAllocator } from '../src/local/ports.ts';

export interface Stoppable {
  stop(): Promise<void>;
  logTails(lines?: number): string;
}

export interface Environment<T extends Stoppable> {
  /** The started environment; valid inside tests. */
  readonly current: T;
}

/** One allocator per test file, so environments started together never share a port. */
export const ports = new PortAllocator();

export function kit(): Promise<Kit> {
  return loadKit();
}

/**
 * Starts `start()` before the file's tests and stops it after them, also when tests fail. When a
 * test fails, the tails of every component log are printed.
 */
export function useEnvironment<T extends Stoppable>(start: () => Promise<T>): Environment<T> {
  let env: T | undefined;
  beforeAll(async () => {
    env = await start();
  });
  afterEach((ctx) => {
    if (env && ctx.task.result?.state === 'fail') console.error(`component logs:\n${env.logTails(60)}`);
  });
  afterAll(async () => {
    await env?.stop();
  });
  return {
    get current(): T {
      if (!env) throw new Error('environment not started');
      return env;
    },
  };
}
