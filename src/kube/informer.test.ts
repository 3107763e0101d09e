import { describe, expect, it } from 'vitest';
import { trimForCache } from './informer.ts';

describe('trimForCache', () => {
  it('drops managedFields and freezes the object deeply, so readers can share it', () => {
    const pod = trimForCache({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'p', managedFields: [{ manager: 'kubectl' }], labels: { app: 'a' } },
      spec: { containers: [{ name: 'c', env: [{ name: 'X', value: '1' }] }] },
    } as any);
    expect(pod.metadata.managedFields).toBeUndefined();
    expect(() => { pod.metadata.labels!.app = 'b'; }).toThrow(TypeError);
    expect(() => { pod.spec.containers[0].env.push({ name: 'Y' }); }).toThrow(TypeError);
    expect(() => { delete pod.spec.containers[0].env[0].value; }).toThrow(TypeError);
    // A copy is the caller's own to change.
    const copy = structuredClone(pod);
    copy.metadata.labels!.app = 'b';
    expect(copy.metadata.labels!.app).toBe('b');
    expect(pod.metadata.labels!.app).toBe('a');
  });
});
