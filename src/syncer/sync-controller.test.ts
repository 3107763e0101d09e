import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import { KubeApiError } from '../kube/errors.ts';
import type { Informer, InformerHandlers } from '../kube/informer.ts';
import { marks } from '../translate/metadata.ts';
import { types, type SyncContext, type SyncerConfig } from './context.ts';
import { SyncController } from './sync-controller.ts';

/** The part of an informer SyncController uses, filled and changed by the test. */
class StandInInformer {
  private readonly store = new Map<string, KubeObject>();
  private readonly handlers: Array<InformerHandlers<KubeObject>> = [];
  addHandlers(h: InformerHandlers<KubeObject>): void {
    this.handlers.push(h);
  }
  get(key: string): KubeObject | undefined {
    return this.store.get(key);
  }
  has(key: string): boolean {
    return this.store.has(key);
  }
  put(obj: KubeObject): void {
    const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
    const old = this.store.get(key);
    this.store.set(key, obj);
    for (const h of this.handlers) {
      if (old) h.onUpdate?.(old, obj);
      else h.onAdd?.(obj);
    }
  }
}

const tenant = 't1';
const vObj: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'app', uid: 'v-1' } };
const hObj = (extra: Partial<KubeObject['metadata']> = {}): KubeObject => ({
  apiVersion: 'v1', kind: 'ConfigMap',
  metadata: {
    name: 'cfg-x-app-x-t1', namespace: 'tenants', uid: 'h-1',
    labels: { [marks.tenant]: tenant },
    annotations: { [marks.objectKind]: 'ConfigMap', [marks.objectUid]: 'v-1', [marks.objectName]: 'cfg', [marks.objectNamespace]: 'app' },
    ...extra,
  },
});

function setUp(deleteAnswer: () => Promise<unknown>) {
  const virtual = new StandInInformer();
  const host = new StandInInformer();
  const deletes: string[] = [];
  const synced: string[] = [];
  const ctx = {
    config: { tenant, hostNamespace: 'tenants', workers: 1 } as SyncerConfig,
    host: { delete: (_rt: unknown, _ns: string, name: string, opts: { uid?: string }) => { deletes.push(`${name}@${opts.uid}`); return deleteAnswer(); } } as unknown as KubeClient,
    events: { warning: () => Promise.resolve() },
    log: pino({ level: 'silent' }),
    informers: { virtual: () => virtual as unknown as Informer<KubeObject>, host: () => host as unknown as Informer<KubeObject> },
  } as unknown as SyncContext;
  let wanted = false;
  const sc = new SyncController(ctx, {
    kind: 'ConfigMap', virtual: types.configmaps, host: types.configmaps,
    wanted: () => wanted,
    toHost: () => hObj(),
    sync: (_v, h) => { synced.push(h.metadata.uid ?? ''); return Promise.resolve(); },
  });
  virtual.put(vObj);
  host.put(hObj());
  const reconcile = () => sc['reconcile']('app/cfg');
  return { sc, host, deletes, synced, reconcile, want: (w: boolean) => { wanted = w; } };
}

describe('SyncController: a host object it deleted', () => {
  it('is not synced with while the cache still shows it; the delete is sent again until the cache shows it going', async () => {
    const t = setUp(() => Promise.resolve({}));
    await t.reconcile();
    expect(t.deletes).toEqual(['cfg-x-app-x-t1@h-1']);
    // Wanted again at once (the cache has not caught up): the delete goes again, no sync.
    t.want(true);
    await t.reconcile();
    expect(t.deletes).toHaveLength(2);
    expect(t.synced).toEqual([]);
    // The cache shows it going: synced with again (the kind decides what a going copy means).
    t.host.put(hObj({ deletionTimestamp: '2026-11-24T20:00:00Z' }));
    await t.reconcile();
    expect(t.synced).toEqual(['h-1']);
    expect(t.deletes).toHaveLength(2);
    expect(t.sc['deletesSent'].size).toBe(0);
  });

  it('is synced with again when the host refused the delete for good', async () => {
    const t = setUp(() => Promise.reject(new KubeApiError('denied by a webhook', 403, 'Forbidden')));
    await expect(t.reconcile()).rejects.toThrow('denied');
    t.want(true);
    await t.reconcile();
    expect(t.synced).toEqual(['h-1']);
  });

  it('keeps waiting when the delete\'s answer was lost, and forgets it when the object is replaced', async () => {
    const t = setUp(() => Promise.reject(new Error('DELETE: socket hang up')));
    await expect(t.reconcile()).rejects.toThrow('hang up');
    t.want(true);
    await expect(t.reconcile()).rejects.toThrow('hang up');
    expect(t.synced).toEqual([]);
    // Another object under the name (a new UID, as after a relist): no longer the one deleted.
    t.host.put(hObj({ uid: 'h-2' }));
    await t.reconcile();
    expect(t.synced).toEqual(['h-2']);
    expect(t.sc['deletesSent'].size).toBe(0);
  });

  it('is not marked when the cache has already moved past the object deleted', async () => {
    const t = setUp(() => Promise.resolve({}));
    t.host.put(hObj({ uid: 'h-2' }));
    await t.sc.deleteHost(hObj());
    // Nothing would ever clear a mark for h-1: the cache's events about it are over.
    expect(t.sc['deletesSent'].size).toBe(0);
    t.want(true);
    await t.reconcile();
    expect(t.synced).toEqual(['h-2']);
  });
});
