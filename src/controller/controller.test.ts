import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { KubeApiError } from '../kube/errors.ts';
import { waitFor } from '../local/wait.ts';
import { Controller } from './controller.ts';

const logger = pino({ level: 'silent' });

describe('Controller', () => {
  it('retries a failing key with backoff until it succeeds', async () => {
    let calls = 0;
    const c = new Controller({
      name: 't', workers: 2, logger, backoff: { baseMs: 1, maxMs: 5 },
      reconcile: async () => {
        calls++;
        if (calls < 3) throw new Error('not yet');
      },
    });
    c.start();
    c.enqueue('a');
    await waitFor('three attempts', async () => calls === 3, { timeoutMs: 2000, intervalMs: 5 });
    await c.stop();
    expect(c.stats.retries).toBe(2);
    expect(c.queue.numRequeues('a')).toBe(0);
  });

  it('does not retry a terminal error, and counts it once', async () => {
    let calls = 0;
    const c = new Controller({
      name: 't', workers: 1, logger, backoff: { baseMs: 1, maxMs: 5 },
      reconcile: async () => {
        calls++;
        throw new KubeApiError('invalid', 422, 'Invalid');
      },
    });
    c.start();
    c.enqueue('a');
    await waitFor('one attempt', async () => calls === 1, { timeoutMs: 2000, intervalMs: 5 });
    await new Promise((r) => setTimeout(r, 30));
    await c.stop();
    expect(calls).toBe(1);
    expect(c.stats.terminalErrors).toBe(1);
  });

  it('retries a create the host quota refuses until the quota lets it through', async () => {
    let calls = 0;
    const c = new Controller({
      name: 't', workers: 1, logger, backoff: { baseMs: 1, maxMs: 5 },
      reconcile: async () => {
        calls++;
        if (calls < 3) throw new KubeApiError('POST pods: 403 Forbidden: pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1', 403, 'Forbidden');
      },
    });
    c.start();
    c.enqueue('a');
    await waitFor('three attempts', async () => calls === 3, { timeoutMs: 2000, intervalMs: 5 });
    await c.stop();
    expect(c.stats.terminalErrors).toBe(0);
    expect(c.stats.retries).toBe(2);
  });

  it('never reconciles one key in two workers at once', async () => {
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    const c = new Controller({
      name: 't', workers: 4, logger,
      reconcile: async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        calls++;
      },
    });
    c.start();
    for (let i = 0; i < 20; i++) {
      c.enqueue('same');
      await new Promise((r) => setTimeout(r, 1));
    }
    await waitFor('work done', async () => c.queue.length === 0 && c.queue.inFlight === 0, { timeoutMs: 2000, intervalMs: 5 });
    await c.stop();
    expect(maxRunning).toBe(1);
    expect(calls).toBeGreaterThan(1);
  });
});
