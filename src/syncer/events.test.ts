import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import { eventBurst, eventRefillMs, EventRecorder } from './events.ts';

/** An in-memory stand-in for the tenant API: counts Event creates and patches. */
function fakeClient() {
  const writes = { create: 0, patch: 0 };
  const client = {
    create: (_t: unknown, _ns: string, obj: KubeObject) => {
      writes.create++;
      return Promise.resolve({ ...obj, metadata: { ...obj.metadata, name: `e${writes.create}` } });
    },
    patch: () => {
      writes.patch++;
      return Promise.resolve({});
    },
  } as unknown as KubeClient;
  return { client, writes };
}

const pod = (uid: string): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: uid, namespace: 'ns', uid } });
const type = { apiVersion: 'v1', kind: 'Pod' };

describe('EventRecorder', () => {
  it('bumps one Event for repeats, and lets an object write at most a burst, then one per refill period', async () => {
    let now = 0;
    const { client, writes } = fakeClient();
    const rec = new EventRecorder(client, pino({ level: 'silent' }), 'test', () => now);
    for (let i = 0; i < eventBurst + 10; i++) await rec.warning(pod('a'), type, 'Refused', 'same');
    expect(writes).toEqual({ create: 1, patch: eventBurst - 1 });
    // Another object has a bucket of its own.
    await rec.warning(pod('b'), type, 'Refused', 'other');
    expect(writes.create).toBe(2);
    // One more for the first object after a refill period, not two.
    now += eventRefillMs;
    await rec.warning(pod('a'), type, 'Refused', 'same');
    await rec.warning(pod('a'), type, 'Refused', 'same');
    expect(writes).toEqual({ create: 2, patch: eventBurst });
  });
});
