import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from './client.ts';
import { KubeApiError } from './errors.ts';
import { Informer, trimForCache } from './informer.ts';

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

describe('Informer', () => {
  it('lists afresh when a watch is answered 410 Gone, and counts it', async () => {
    let lists = 0;
    let watches = 0;
    const cm = (name: string, rv: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv } });
    // An in-memory stand-in: the first watch is refused as expired, the second waits until stopped.
    const client = {
      list: () => {
        lists++;
        return Promise.resolve({ items: lists === 1 ? [cm('a', '1')] : [cm('b', '5')], metadata: { resourceVersion: lists === 1 ? '1' : '5' } });
      },
      watch: (_rt: unknown, _ns: unknown, _opts: unknown, signal: AbortSignal) => (async function* () {
        watches++;
        if (watches === 1) throw new KubeApiError('too old resource version: 1 (4)', 410, 'Expired');
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        yield* [];
      })(),
    } as unknown as KubeClient;
    const inf = new Informer<KubeObject>(client, { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true }, { logger: pino({ level: 'silent' }), resyncMs: 0 });
    const deleted: string[] = [];
    inf.addHandlers({ onDelete: (o) => deleted.push(o.metadata.name) });
    inf.start();
    for (let i = 0; i < 100 && watches < 2; i++) await new Promise((r) => setTimeout(r, 5));
    await inf.stop();
    expect([lists, inf.relists, inf.watchesExpired]).toEqual([2, 2, 1]);
    // The fresh list replaced the cache, and said what went meanwhile.
    expect(inf.list().map((o) => o.metadata.name)).toEqual(['b']);
    expect(deleted).toEqual(['a']);
  });

  it('records when it last heard from its API, bookmarks included, and at which resourceVersion', async () => {
    const cm = (name: string, rv: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv } });
    let release: () => void = () => undefined;
    const heard: Array<{ at: number; resourceVersion: string }> = [];
    const client = {
      list: () => Promise.resolve({ items: [cm('a', '3')], metadata: { resourceVersion: '3' } }),
      watch: (_rt: unknown, _ns: unknown, _opts: unknown, signal: AbortSignal) => (async function* () {
        heard.push({ ...inf.lastHeard });
        await new Promise<void>((resolve) => { release = resolve; });
        yield { type: 'BOOKMARK', object: cm('', '9') };
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
      })(),
    } as unknown as KubeClient;
    const inf = new Informer<KubeObject>(client, { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true }, { logger: pino({ level: 'silent' }), resyncMs: 0 });
    expect(inf.lastHeard).toEqual({ at: 0, resourceVersion: '' });
    inf.start();
    for (let i = 0; i < 100 && heard.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(heard[0]?.resourceVersion).toBe('3');
    const listedAt = heard[0]?.at ?? 0;
    expect(listedAt).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 10));
    release();
    for (let i = 0; i < 100 && inf.lastHeard.resourceVersion !== '9'; i++) await new Promise((r) => setTimeout(r, 5));
    await inf.stop();
    expect(inf.lastHeard.resourceVersion).toBe('9');
    expect(inf.lastHeard.at).toBeGreaterThan(listedAt);
  });
});
