import { describe, expect, it } from 'vitest';
import { TokenBucket } from './rate-limit.ts';

describe('TokenBucket', () => {
  it('lets a burst through, then spaces requests at qps', () => {
    let now = 0;
    const b = new TokenBucket(10, 2, () => now);
    expect(b.reserve()).toBe(0);
    expect(b.reserve()).toBe(0);
    expect(b.reserve()).toBeCloseTo(100);
    expect(b.reserve()).toBeCloseTo(200);
    now = 1000; // refilled, but never beyond the burst
    expect(b.reserve()).toBe(0);
  });

  it('rejects a limit that cannot work', () => {
    expect(() => new TokenBucket(0, 1)).toThrow(/invalid rate limit/);
  });
});
