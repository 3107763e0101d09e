import { describe, expect, it } from 'vitest';
import type { KubeObject } from './client.ts';
import { trimForCache } from './informer.ts';

type Pod = KubeObject & { spec: { containers: Array<{ name: string; env: Array<{ name: string; value?: string }> }> } };

describe('trimForCache', () => {
  it('drops managedFields and freezes the object deeply, so readers can share it', () => {
    const pod = trimForCache<Pod>({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'p', managedFields: [{ manager: 'kubectl' }], labels: { app: 'a' } },
      spec: { containers: [{ name: 'c', env: [{ name: 'X', value: '1' }] }] },
    });
    const container = pod.spec.containers[0];
    expect(pod.metadata.managedFields).toBeUndefined();
    expect(() => { (pod.metadata.labels ?? {}).app = 'b'; }).toThrow(TypeError);
    expect(() => { container?.env.push({ name: 'Y' }); }).toThrow(TypeError);
    expect(() => { delete container?.env[0]?.value; }).toThrow(TypeError);
    // A copy is the caller's own to change.
    const copy = structuredClone(pod);
    (copy.metadata.labels ?? {}).app = 'b';
    expect(copy.metadata.labels?.app).toBe('b');
    expect(pod.metadata.labels?.app).toBe('a');
  });
});
