// The datastore side of snapshot and restore against a real etcd under a real kube-apiserver:
// every key at one revision page by page (leased Events and the compaction key left out), a
// datastore replaced by exactly a snapshot's keys in size-bounded transactions, and the API server
// serving the restored objects, with their UIDs, once it starts again.
import { describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/local/control-plane.ts';
import { kubectlOk } from '../../src/local/kubectl.ts';
import { Etcd, type KeyValue } from '../../src/snapshot/etcd.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';

const names = (kvs: KeyValue[]) => kvs.map((kv) => kv.key.toString()).sort();

describe('the etcd datastore of a snapshot', async () => {
  const k = await kit();
  const env = useEnvironment(() => ControlPlane.start({ kit: k, ports, name: 'snapshot' }));
  const kubectl = (...args: string[]) => kubectlOk(k.bin.kubectl, env.current.kubeconfigPath, args);

  it('reads every key at one revision, then makes the datastore hold exactly those keys again', async () => {
    await kubectl('create', 'namespace', 'apps');
    for (let i = 0; i < 12; i++) await kubectl('-n', 'apps', 'create', 'configmap', `c${i}`, `--from-literal=n=${i}`);
    // An Event: kube-apiserver stores it under a lease (--event-ttl).
    await kubectlOk(k.bin.kubectl, env.current.kubeconfigPath, ['create', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'e1', namespace: 'apps' }, involvedObject: { kind: 'ConfigMap', namespace: 'apps', name: 'c0' }, reason: 'Test', message: 'an event', type: 'Normal' }),
    });
    const uid = (await kubectl('-n', 'apps', 'get', 'configmap', 'c3', '-o', 'jsonpath={.metadata.uid}')).trim();
    const etcd = new Etcd(env.current.etcdEndpoint);
    try {
      const all = await etcd.count();
      const snap = await etcd.readAll(7);
      expect(snap.revision).toBeGreaterThan(0);
      const keys = names(snap.kvs);
      expect(keys).toContain('/registry/configmaps/apps/c11');
      expect(keys).toContain('/registry/namespaces/apps');
      // Events expire by their lease; a restored copy would live for ever.
      expect(await etcd.call<{ count?: string }>('/v3/kv/range', { key: Buffer.from('/registry/events/apps/e1').toString('base64'), count_only: true })).toMatchObject({ count: '1' });
      expect(keys.filter((key) => key.startsWith('/registry/events/'))).toEqual([]);
      expect(keys).not.toContain('compact_rev_key');
      expect(new Set(keys).size).toBe(keys.length);
      expect(all).toBeGreaterThan(keys.length);

      // After the snapshot: one object more, one less.
      await kubectl('-n', 'apps', 'create', 'configmap', 'later');
      await kubectl('-n', 'apps', 'delete', 'configmap', 'c3');
      await env.current.stopApiserver();
      await etcd.replaceAll(snap.kvs, 5);
      const back = await etcd.readAll();
      expect(back.revision).toBeGreaterThan(snap.revision);
      expect(back.kvs.map((kv) => [kv.key.toString(), kv.value.toString('base64')]).sort()).toEqual(snap.kvs.map((kv) => [kv.key.toString(), kv.value.toString('base64')]).sort());
      expect(await etcd.count()).toBe(snap.kvs.length);
    } finally {
      etcd.close();
      await env.current.startApiserver();
    }
    expect((await kubectl('-n', 'apps', 'get', 'configmap', 'c3', '-o', 'jsonpath={.metadata.uid}')).trim()).toBe(uid);
    expect(await kubectl('-n', 'apps', 'get', 'configmap', 'c7', '-o', 'jsonpath={.data.n}')).toBe('7');
    const later = await kubectlOk(k.bin.kubectl, env.current.kubeconfigPath, ['-n', 'apps', 'get', 'configmap', 'later', '--ignore-not-found', '-o', 'name']);
    expect(later).toBe('');
  });

  it('writes values larger than one request in separate transactions', async () => {
    const etcd = new Etcd(env.current.etcdEndpoint);
    try {
      // Three values of 600 KiB: together over etcd's 1.5 MiB request limit.
      const big = [1, 2, 3].map((i) => ({ key: Buffer.from(`/test/big/${i}`), value: Buffer.alloc(600 << 10, i) }));
      const before = await etcd.readAll();
      await etcd.replaceAll([...before.kvs, ...big]);
      const back = await etcd.readAll();
      expect(back.kvs.filter((kv) => kv.key.toString().startsWith('/test/big/')).map((kv) => [kv.key.toString(), kv.value.equals(big[Number(kv.key.toString().slice(-1)) - 1]?.value ?? Buffer.alloc(0))])).toEqual([['/test/big/1', true], ['/test/big/2', true], ['/test/big/3', true]]);
      await etcd.replaceAll(before.kvs);
    } finally {
      etcd.close();
    }
  });
});
