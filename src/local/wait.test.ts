import { describe, expect, it } from 'vitest';
import { waitFor } from './wait.ts';

describe('waitFor', () => {
  it('resolves with the first truthy probe result', async () => {
    let n = 0;
    await expect(waitFor('n to reach 3', async () => (++n >= 3 ? n : undefined), { timeoutMs: 1000, intervalMs: 1 })).resolves.toBe(3);
  });

  it('times out naming what it waited for and the last error', async () => {
    await expect(waitFor('the moon', () => Promise.reject(new Error('no moon')), { timeoutMs: 20, intervalMs: 5 })).rejects.toThrow(
      /timed out after 20 ms waiting for the moon: no moon/,
    );
  });

  it('stops at once when the check throws', async () => {
    await expect(waitFor('x', async () => false, { timeoutMs: 10_000, check: () => { throw new Error('process died'); } })).rejects.toThrow('process died');
  });
});
