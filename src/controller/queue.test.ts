import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WorkQueue } from './queue.ts';

describe('WorkQueue', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('dedupes keys that are waiting', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('never hands a key in progress to a second worker, and requeues it when done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    q.add('a'); // changed while in progress
    expect(q.length).toBe(0);
    const second = q.get();
    let handed: string | undefined;
    void second.then((k) => (handed = k));
    await Promise.resolve();
    expect(handed).toBeUndefined();
    q.done(key as string);
    expect(await second).toBe('a');
  });

  it('hands a key straight to a waiting worker', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.add('x');
    expect(await waiting).toBe('x');
    expect(q.inFlight).toBe(1);
  });

  it('backs off exponentially per key and resets on forget', async () => {
    const q = new WorkQueue({ baseMs: 10, maxMs: 35 });
    q.addRateLimited('a'); // 10 ms
    vi.advanceTimersByTime(9);
    expect(q.length).toBe(0);
    vi.advanceTimersByTime(1);
    expect(q.length).toBe(1);
    q.done((await q.get()) as string);
    q.addRateLimited('a'); // 20 ms
    vi.advanceTimersByTime(19);
    expect(q.length).toBe(0);
    vi.advanceTimersByTime(1);
    expect(q.length).toBe(1);
    q.done((await q.get()) as string);
    q.addRateLimited('a'); // capped at 35 ms
    vi.advanceTimersByTime(35);
    expect(q.length).toBe(1);
    expect(q.numRequeues('a')).toBe(3);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
  });

  it('keeps the earlier of two delayed adds', () => {
    const q = new WorkQueue();
    q.addAfter('a', 100);
    q.addAfter('a', 1000);
    vi.advanceTimersByTime(100);
    expect(q.length).toBe(1);
  });

  it('drains in-flight work on shutdown and wakes idle workers with undefined', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = (await q.get()) as string;
    const idle = q.get();
    let drained = false;
    const shutdown = q.shutDown().then(() => (drained = true));
    expect(await idle).toBeUndefined();
    await Promise.resolve();
    expect(drained).toBe(false);
    q.done(key);
    await shutdown;
    expect(drained).toBe(true);
    q.add('b');
    expect(await q.get()).toBeUndefined();
  });
});
