// Races a chaos run found, replayed on purpose: a gate on the syncer's host pod watch holds back
// chosen events, so the syncer's cache shows a host pod as it was before the syncer's own delete,
// as a slow or cut watch does after a host API restart.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { KubeClient, type KubeObject, type WatchEvent } from '../../src/kube/client.ts';
import { KubeApiError } from '../../src/kube/errors.ts';
import { runKubectl } from '../../src/local/kubectl.ts';
import type { RunningSyncer } from '../../src/syncer/run.ts';
import { hostName } from '../../src/translate/names.ts';
import { kit, useEnvironment } from '../helpers.ts';
import { eventually, hostNamespace, TenantBed, type List, type PodJson } from '../tenant-bed.ts';

const tenant = 'race';

/** Holds a watch's events, in order, while `hold` says so for the next one. */
class WatchGate {
  private hold: (e: WatchEvent) => boolean = () => false;
  private waiters: Array<() => void> = [];

  set(hold: (e: WatchEvent) => boolean): void {
    this.hold = hold;
    for (const wake of this.waiters.splice(0)) wake();
  }

  async *pass<T extends KubeObject>(inner: AsyncGenerator<WatchEvent<T>>, signal: AbortSignal): AsyncGenerator<WatchEvent<T>> {
    const wakeAll = () => { for (const wake of this.waiters.splice(0)) wake(); };
    signal.addEventListener('abort', wakeAll);
    try {
      for await (const e of inner) {
        while (this.hold(e) && !signal.aborted) await new Promise<void>((resolve) => this.waiters.push(resolve));
        if (signal.aborted) return;
        yield e;
      }
    } finally {
      signal.removeEventListener('abort', wakeAll);
    }
  }
}

describe('syncer: races with its own writes', () => {
  const env = useEnvironment(() => TenantBed.start([tenant]));
  const bed = () => env.current;
  const gate = new WatchGate();
  let syncer: RunningSyncer;
  const hostAnswers = (answer: string) => syncer.syncer.context.host.counters.answers[answer] ?? 0;
  const virtualGate = new WatchGate();
  const apply = async (where: string | undefined, obj: unknown) => {
    const r = await bed().kubectlRun(where, ['apply', '-f', '-'], JSON.stringify(obj));
    expect(r.code, r.stderr).toBe(0);
  };
  const hostPod = async (name: string) =>
    (await bed().hostJson<List<PodJson>>('-n', hostNamespace, 'get', 'pods', '--field-selector', `metadata.name=${hostName(name, 'app', tenant)}`)).items[0];
  const virtualPod = async (name: string) => {
    const r = await bed().kubectlRun(tenant, ['-n', 'app', 'get', 'pod', name, '-o', 'json']);
    return r.code === 0 ? (JSON.parse(r.stdout) as PodJson) : undefined;
  };

  beforeAll(async () => {
    // The syncer runs in this process; its watches of host pods and of the tenant's pods pass
    // through gates. Its
    // operator lets tenants pick nodes by name (--allow nodeName), so a tenant may bind its pods.
    const watch = Object.getOwnPropertyDescriptor(KubeClient.prototype, 'watch')?.value as KubeClient['watch'];
    vi.spyOn(KubeClient.prototype, 'watch').mockImplementation(function (this: KubeClient, rt, namespace, params, signal) {
      const inner = watch.call(this, rt, namespace, params, signal);
      if (rt.plural !== 'pods') return inner;
      return namespace === hostNamespace ? gate.pass(inner, signal) : namespace === undefined ? virtualGate.pass(inner, signal) : inner;
    });
    syncer = await bed().startSyncer(tenant, { allow: 'nodeName' });
    await bed().virtualKubectl(tenant, 'create', 'namespace', 'app');
    await eventually('default service account in app', async () => (await runKubectl((await kit()).bin.kubectl, bed().virtual(tenant).kubeconfigPath, ['-n', 'app', 'get', 'sa', 'default'])).code === 0);
  });
  afterEach(() => {
    gate.set(() => false);
    virtualGate.set(() => false);
  });

  it('never binds a pod to a host pod it has deleted but not yet seen go', async () => {
    // Two host volumes: one for the claim, one for the claim made again under its name.
    for (const pv of ['pv-race-1', 'pv-race-2']) {
      await apply(undefined, {
        apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: pv },
        spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: 'race', hostPath: { path: `/tmp/${pv}` } },
      });
    }
    const claim = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'scratch', namespace: 'app' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'race', resources: { requests: { storage: '1Mi' } } } };
    const hostPodName = hostName('solo', 'app', tenant);
    const aboutIt = (e: WatchEvent) => e.object.metadata.name === hostPodName;
    // The syncer sees its host pod made, and nothing after that: not the host scheduler placing it.
    gate.set((e) => aboutIt(e) && e.type !== 'ADDED');
    await apply(tenant, claim);
    await apply(tenant, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo', namespace: 'app' },
      spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10', volumeMounts: [{ name: 'd', mountPath: '/d' }] }], volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'scratch' } }] },
    });
    const first = await eventually('the host pod placed on a node', async () => {
      const h = await hostPod('solo');
      return h?.spec.nodeName ? h : undefined;
    }, 90_000);
    const vUid = (await virtualPod('solo'))?.metadata.uid;
    expect((await virtualPod('solo'))?.spec.nodeName).toBeFalsy();

    // Its claim goes while the pod is unbound: the syncer deletes the host pod (a pod whose claim
    // is missing is not placed), and its cache does not learn that.
    await bed().virtualKubectl(tenant, '-n', 'app', 'delete', 'pvc', 'scratch', '--wait=true', '--timeout=60s');
    await eventually('the host pod deleted by the syncer', async () => (await hostPod('solo'))?.metadata.uid !== first.metadata.uid || undefined);
    // Now the cache learns where the host pod was placed, but not that it is gone.
    gate.set((e) => aboutIt(e) && (e.type === 'DELETED' || Boolean(e.object.metadata.deletionTimestamp)));
    await apply(tenant, claim);
    const claimUid = (await bed().virtualJson<KubeObject>(tenant, '-n', 'app', 'get', 'pvc', 'scratch')).metadata.uid;
    await eventually('the host copy of the claim made again', async () => {
      const copy = await bed().kubectlRun(undefined, ['-n', hostNamespace, 'get', 'pvc', hostName('scratch', 'app', tenant), '-o', 'json']);
      return copy.code === 0 && (JSON.parse(copy.stdout) as KubeObject).metadata.annotations?.['vnest.dev/object-uid'] === claimUid;
    });
    // Everything the pod waited for is there; what the cache shows of its host pod is out of date,
    // and binding to it would name a node no host pod of this pod will run on. A change to the pod
    // makes the syncer look at it again: it sends its delete again (answered 404), and no binding.
    const resent = hostAnswers('DELETE 404');
    await bed().virtualKubectl(tenant, '-n', 'app', 'label', 'pod', 'solo', 'looked-at=again');
    await eventually('the delete sent again', async () => hostAnswers('DELETE 404') > resent || undefined);
    await sleep(1000);
    expect((await virtualPod('solo'))?.spec.nodeName, 'bound to the deleted host pod\'s node').toBeFalsy();

    gate.set(() => false);
    const settled = await eventually('the pod running, bound to its new host pod\'s node', async () => {
      const [v, h] = [await virtualPod('solo'), await hostPod('solo')];
      return v?.status.phase === 'Running' && h?.spec.nodeName && h.metadata.uid !== first.metadata.uid ? { v, h } : undefined;
    }, 90_000);
    expect(settled.v.metadata.uid).toBe(vUid);
    expect(settled.v.spec.nodeName).toBe(settled.h.spec.nodeName);
    expect(settled.h.metadata.annotations?.['vnest.dev/object-uid']).toBe(vUid);
    await bed().virtualKubectl(tenant, '-n', 'app', 'delete', 'pod', 'solo', '--wait=false');
  });

  it('treats a pod it has just bound as bound before its cache shows it: a host pod gone then ends the pod', async () => {
    // The syncer binds the pod, and its cache of the tenant's pods does not see that yet.
    virtualGate.set((e) => e.object.metadata.name === 'fresh' && Boolean((e.object as KubeObject & { spec?: { nodeName?: string } }).spec?.nodeName));
    await apply(tenant, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'fresh', namespace: 'app' }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] } });
    const bound = await eventually('the pod bound', async () => {
      const v = await virtualPod('fresh');
      return v?.spec.nodeName ? v : undefined;
    });
    const first = await hostPod('fresh');
    expect(first?.spec.nodeName).toBe(bound.spec.nodeName);
    // Its host pod goes out of band (an admin, an eviction): the pod is lost, as with its node.
    await bed().hostKubectl('-n', hostNamespace, 'delete', 'pod', hostName('fresh', 'app', tenant), '--wait=true');
    await eventually('the tenant\'s pod deleted', async () => !(await virtualPod('fresh')) || undefined);
    // No second host pod was made for it (the host would have placed it anywhere).
    expect(await hostPod('fresh')).toBeUndefined();
  });

  it('binds a pod again when its binding was answered 409 Conflict and not stored (an etcd that stopped answering)', async () => {
    // A tenant API server whose etcd stops answering refuses a binding with 409 Conflict ("context
    // canceled"): the binding registry wraps a storage failure in a Conflict, as it does a pod bound
    // already. Nothing about the pod changes, so no event comes to tell the syncer it was not bound.
    const create = Object.getOwnPropertyDescriptor(KubeClient.prototype, 'create')?.value as KubeClient['create'];
    let refused = 0;
    const spy = vi.spyOn(KubeClient.prototype, 'create').mockImplementation(function (this: KubeClient, rt, namespace, obj, subresource, name) {
      if (subresource === 'binding' && name === 'unstored' && refused === 0) {
        refused++;
        return Promise.reject(KubeApiError.fromStatus('POST', '/api/v1/namespaces/app/pods/unstored/binding', {
          kind: 'Status', code: 409, reason: 'Conflict', message: 'Operation cannot be fulfilled on pods/binding "unstored": context canceled',
        }));
      }
      return create.call(this, rt, namespace, obj, subresource, name);
    });
    try {
      await apply(tenant, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'unstored', namespace: 'app' }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] } });
      const bound = await eventually('the pod bound', async () => {
        const v = await virtualPod('unstored');
        return v?.spec.nodeName ? v : undefined;
      });
      expect(refused).toBe(1);
      expect(bound.spec.nodeName).toBe((await hostPod('unstored'))?.spec.nodeName);
      await eventually('its status Running', async () => (await virtualPod('unstored'))?.status?.phase === 'Running' || undefined);
    } finally {
      spy.mockRestore();
      await bed().virtualKubectl(tenant, '-n', 'app', 'delete', 'pod', 'unstored', '--wait=false');
    }
  });

  it('deletes a pod bound to another node than the one its host pod runs on, with a Warning', async () => {
    // The host places the pod only on a node the test labels; before that, the tenant binds it
    // itself to another node (as its own scheduler would).
    const [chosen, other] = bed().host.nodeNames;
    expect(other, 'two host nodes').toBeDefined();
    await apply(tenant, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'elsewhere', namespace: 'app' },
      spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }], nodeSelector: { 'race.vnest.dev/chosen': 'yes' } },
    });
    const waiting = await eventually('its host pod, not placed', async () => await hostPod('elsewhere'));
    expect(waiting.spec.nodeName).toBeUndefined();
    const binding = { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'elsewhere', namespace: 'app' }, target: { apiVersion: 'v1', kind: 'Node', name: other } };
    const bound = await bed().kubectlRun(tenant, ['create', '--raw', '/api/v1/namespaces/app/pods/elsewhere/binding', '-f', '-'], JSON.stringify(binding));
    expect(bound.code, bound.stderr).toBe(0);
    await bed().hostKubectl('label', 'node', chosen as string, 'race.vnest.dev/chosen=yes');
    try {
      const events = await eventually('a NodeMismatch warning', async () => {
        const list = (await bed().virtualJson<List<{ involvedObject: { name: string }; reason: string; type: string; message: string }>>(tenant, '-n', 'app', 'get', 'events', '--field-selector', 'involvedObject.name=elsewhere')).items;
        return list.find((e) => e.reason === 'NodeMismatch' && e.type === 'Warning');
      });
      expect(events.message).toContain(`bound to node ${other} while its host pod runs on node ${chosen}`);
      await eventually('the pod and its host pod gone', async () => (!(await virtualPod('elsewhere')) && !(await hostPod('elsewhere'))) || undefined);
    } finally {
      await bed().hostKubectl('label', 'node', chosen as string, 'race.vnest.dev/chosen-');
    }
  });
});
