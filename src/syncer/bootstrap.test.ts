import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../kube/client.ts';
import { applyBootstrap, parseManifests } from './bootstrap.ts';

describe('parseManifests', () => {
  it('reads every object of a multi-document file, skipping empty documents', () => {
    const objs = parseManifests('apiVersion: v1\nkind: Namespace\nmetadata: { name: a }\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: b, namespace: a }\n', 'types.yaml');
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Namespace/a', 'ConfigMap/b']);
  });

  it('names the document that is not valid YAML or not an object', () => {
    expect(() => parseManifests('a: [\n', 'types.yaml')).toThrow(/types.yaml: document 1 is not valid YAML/);
    expect(() => parseManifests('apiVersion: v1\nkind: Namespace\nmetadata: { name: a }\n---\n- 1\n', 'types.yaml')).toThrow(/document 2 is not a Kubernetes object/);
    expect(() => parseManifests('kind: Namespace\nmetadata: { name: a }\n', 'types.yaml')).toThrow(/apiVersion, kind and metadata.name are required/);
  });
});

/**
 * A tenant API that serves core v1 Namespaces and ConfigMaps and nothing else; `onPatch` and
 * `onDiscovery` see each call. Every apply succeeds.
 */
function fakeTenant(hooks: { onPatch?: (path: string, body: KubeObject) => void; onDiscovery?: (path: string) => void } = {}) {
  const patches: Array<{ namespace: string | undefined; name: string; body: KubeObject }> = [];
  const discovery: string[] = [];
  const virtual = {
    request: async <T>(_method: string, path: string): Promise<T> => {
      discovery.push(path);
      hooks.onDiscovery?.(path);
      const resources = path === '/api/v1' ? [{ name: 'namespaces', kind: 'Namespace', namespaced: false }, { name: 'configmaps', kind: 'ConfigMap', namespaced: true }] : [];
      return { resources } as T;
    },
    patch: async <T>(_rt: unknown, namespace: string | undefined, name: string, body: unknown): Promise<T> => {
      patches.push({ namespace, name, body: body as KubeObject });
      hooks.onPatch?.(`${namespace ?? ''}/${name}`, body as KubeObject);
      return body as T;
    },
  };
  return { virtual, patches, discovery };
}

const obj = (kind: string, name: string, namespace?: string, apiVersion = 'v1'): KubeObject => ({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } });

describe('applyBootstrap', () => {
  it('applies namespaces first, defaults a namespaced object to "default", and sends no namespace for a cluster-scoped one', async () => {
    const { virtual, patches } = fakeTenant();
    const r = await applyBootstrap(virtual, [obj('ConfigMap', 'a'), obj('ConfigMap', 'b', 'tools'), obj('Namespace', 'tools', 'tools')], { pauseMs: 1 });
    expect(r).toEqual({ applied: 3, failed: [], aborted: false });
    expect(patches.map((p) => [p.namespace, p.name, p.body.metadata.namespace])).toEqual([[undefined, 'tools', undefined], ['default', 'a', 'default'], ['tools', 'b', 'tools']]);
  });

  it('tries a kind the cluster does not serve for its passes, then reports it', async () => {
    const { virtual } = fakeTenant();
    const r = await applyBootstrap(virtual, [obj('Widget', 'w', 'default', 'example.com/v1'), obj('ConfigMap', 'a')], { attempts: 3, pauseMs: 1 });
    expect(r).toEqual({ applied: 1, failed: ['Widget default/w: the cluster does not serve example.com/v1 Widget'], aborted: false });
  });

  it('stops in its pause between passes when the signal aborts, long before its passes are done', async () => {
    const stop = new AbortController();
    const { virtual, discovery } = fakeTenant({ onDiscovery: (path) => { if (path === '/apis/example.com/v1') stop.abort(); } });
    const started = Date.now();
    // 30 passes 10 s apart: only the abort can end this within the test's timeout.
    const r = await applyBootstrap(virtual, [obj('Widget', 'w', 'default', 'example.com/v1'), obj('ConfigMap', 'a')], { attempts: 30, pauseMs: 10_000, signal: stop.signal });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(r.aborted).toBe(true);
    // The ConfigMap, next in the pass, was not applied after the abort; no second pass asked again.
    expect(r.applied).toBe(0);
    expect(discovery.filter((p) => p === '/apis/example.com/v1')).toHaveLength(1);
  });

  it('applies no object after the signal aborts', async () => {
    const stop = new AbortController();
    const { virtual, patches } = fakeTenant({ onPatch: () => stop.abort() });
    const r = await applyBootstrap(virtual, [obj('Namespace', 'a'), obj('Namespace', 'b'), obj('ConfigMap', 'c')], { signal: stop.signal });
    expect(patches.map((p) => p.name)).toEqual(['a']);
    expect(r).toMatchObject({ applied: 1, aborted: true });
  });

  it('does nothing when the signal has already aborted', async () => {
    const { virtual, patches, discovery } = fakeTenant();
    const r = await applyBootstrap(virtual, [obj('Namespace', 'a')], { signal: AbortSignal.abort() });
    expect([patches.length, discovery.length, r.aborted]).toEqual([0, 0, true]);
  });
});
