// What the syncer must never do: reify what a tenant must not run, touch another tenant's or a
// foreign host object, or lose or duplicate a workload when it is killed mid-rollout.
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { runKubectl } from '../../src/local/kubectl.ts';
import { tail } from '../../src/local/process.ts';
import type { RunningSyncer } from '../../src/syncer/run.ts';
import { hostName } from '../../src/translate/names.ts';
import { kit, useEnvironment } from '../helpers.ts';
import { eventually, hostNamespace, TenantBed, type List, type PodJson } from '../tenant-bed.ts';

interface EventJson {
  involvedObject: { name: string; kind: string };
  reason: string;
  message: string;
  type: string;
}

const pause = 'registry.k8s.io/pause:3.10';

function pod(name: string, spec: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'app', ...metadata },
    spec: { containers: [{ name: 'c', image: pause }], ...spec },
  });
}

describe('syncer: safety', () => {
  const env = useEnvironment(() => TenantBed.start(['alpha', 'beta']));
  const bed = () => env.current;
  const create = async (tenant: string, manifest: string) => {
    const res = await runKubectl((await kit()).bin.kubectl, bed().virtual(tenant).kubeconfigPath, ['create', '-f', '-'], { input: manifest });
    expect(res.stderr).toBe('');
  };
  const hostPodNames = async (tenant: string) =>
    (await bed().hostJson<List<PodJson>>('-n', hostNamespace, 'get', 'pods', '-l', `vnest.dev/tenant=${tenant}`)).items.map((p) => p.metadata.name);
  const warning = (tenant: string, podName: string, reason: string) =>
    eventually(`a ${reason} warning on pod ${podName}`, async () => {
      const events = (await bed().virtualJson<List<EventJson>>(tenant, '-n', 'app', 'get', 'events')).items;
      return events.find((e) => e.involvedObject.name === podName && e.reason === reason && e.type === 'Warning');
    });

  beforeAll(async () => {
    for (const t of ['alpha', 'beta']) {
      await bed().virtualKubectl(t, 'create', 'namespace', 'app');
      await eventually(`default service account in ${t}/app`, async () => (await runKubectl((await kit()).bin.kubectl, bed().virtual(t).kubeconfigPath, ['-n', 'app', 'get', 'sa', 'default'])).code === 0);
    }
  });

  describe('bad input gets a Warning Event and no host object', () => {
    beforeAll(async () => {
      await bed().startSyncer('alpha');
    });

    const refused: Array<[string, string, Record<string, unknown>, Record<string, unknown>?]> = [
      ['a privileged container', 'priv', { containers: [{ name: 'c', image: pause, securityContext: { privileged: true } }] }],
      ['added capabilities', 'caps', { containers: [{ name: 'c', image: pause, securityContext: { capabilities: { add: ['NET_ADMIN'] } } }] }],
      ['a hostPath volume', 'hostpath', { volumes: [{ name: 'root', hostPath: { path: '/' } }] }],
      ['host networking', 'hostnet', { hostNetwork: true }],
      ['host PID and IPC', 'hostpid', { hostPID: true, hostIPC: true }],
      ['a chosen node', 'pinned', { nodeName: 'kwok-node-0' }],
    ];
    for (const [what, name, spec, metadata] of refused) {
      it(`refuses ${what}`, async () => {
        await create('alpha', pod(name, spec, metadata));
        const e = await warning('alpha', name, 'SyncRefused');
        expect(e.message).not.toBe('');
        await sleep(500);
        expect(await hostPodNames('alpha')).not.toContain(hostName(name, 'app', 'alpha'));
      });
    }

    it('refuses a name that a foreign host object holds, and leaves that object alone', async () => {
      const squatter = hostName('clash', 'app', 'alpha');
      const foreign = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: squatter, namespace: hostNamespace, labels: { owner: 'someone-else' } }, spec: { containers: [{ name: 'c', image: pause }] } });
      await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['create', '-f', '-'], { input: foreign });
      await create('alpha', pod('clash'));
      const e = await warning('alpha', 'clash', 'NameCollision');
      expect(e.message).toContain(squatter);
      const after = await bed().hostJson<PodJson>('-n', hostNamespace, 'get', 'pod', squatter);
      expect(after.metadata.labels).toEqual({ owner: 'someone-else' });
      expect(after.metadata.annotations ?? {}).toEqual({});
    });

    it('reports a copy the host refuses as too large, without retrying forever', async () => {
      // The tenant's API accepts these annotations (just under the 256 KiB limit); with vnest's
      // marks added the host copy is over it.
      await create('alpha', pod('oversize', {}, { annotations: { big: 'x'.repeat(262_144 - 3 - 60) } }));
      const e = await warning('alpha', 'oversize', 'SyncFailed');
      expect(e.message).toMatch(/too long/i);
      expect(await hostPodNames('alpha')).not.toContain(hostName('oversize', 'app', 'alpha'));
    });

    it('keeps running: a good pod after all that still runs', async () => {
      await create('alpha', pod('good'));
      await eventually('pod good Running', async () => (await bed().virtualJson<PodJson>('alpha', '-n', 'app', 'get', 'pod', 'good')).status.phase === 'Running');
    });

    it('allows a refused field when the configuration allows it (with real nodes and tokens in annotations)', async () => {
      await bed().startSyncer('beta', { allow: 'privileged', nodeSync: 'real', tokenStorage: 'annotation' });
      await create('beta', pod('priv', { containers: [{ name: 'c', image: pause, securityContext: { privileged: true } }] }));
      const v = await eventually('beta priv Running', async () => {
        const p = await bed().virtualJson<PodJson>('beta', '-n', 'app', 'get', 'pod', 'priv');
        return p.status.phase === 'Running' ? p : undefined;
      });
      // Real node mode mirrors the host node's labels and capacity.
      const node = await bed().virtualJson<{ metadata: { labels: Record<string, string> }; status: { capacity: Record<string, string> } }>('beta', 'get', 'node', v.spec.nodeName as string);
      expect(node.metadata.labels.type).toBe('kwok');
      expect(node.status.capacity.pods).toBe('110');
      // Annotation token storage: the host pod carries the token itself.
      const h = await bed().hostJson<PodJson>('-n', hostNamespace, 'get', 'pod', hostName('priv', 'app', 'beta'));
      expect(Object.keys(h.metadata.annotations ?? {}).some((k) => k.startsWith('vnest.dev/token-kube-api-access'))).toBe(true);
    });
  });

  it('keeps tenants in one host namespace apart', async () => {
    await create('beta', pod('shared-name'));
    await create('alpha', pod('shared-name'));
    await eventually('both tenants run shared-name', async () => {
      const [a, b] = await Promise.all([hostPodNames('alpha'), hostPodNames('beta')]);
      return a.includes(hostName('shared-name', 'app', 'alpha')) && b.includes(hostName('shared-name', 'app', 'beta'));
    });
    // Each tenant's host pods carry its own marks, and each tenant sees only its own pods.
    const betaHost = await bed().hostJson<PodJson>('-n', hostNamespace, 'get', 'pod', hostName('shared-name', 'app', 'beta'));
    expect(betaHost.metadata.labels?.['vnest.dev/tenant']).toBe('beta');
    const betaVirtual = await bed().virtualJson<PodJson>('beta', '-n', 'app', 'get', 'pod', 'shared-name');
    expect(betaHost.metadata.annotations?.['vnest.dev/object-uid']).toBe(betaVirtual.metadata.uid);
    const alphaPods = (await bed().virtualJson<List<PodJson>>('alpha', '-n', 'app', 'get', 'pods')).items.map((p) => p.metadata.name);
    expect(alphaPods).not.toContain(hostName('shared-name', 'app', 'beta'));
    // Deleting in one tenant leaves the other's pod alone.
    await bed().virtualKubectl('alpha', '-n', 'app', 'delete', 'pod', 'shared-name', '--wait=true', '--timeout=60s');
    await eventually('alpha host copy gone', async () => !(await hostPodNames('alpha')).includes(hostName('shared-name', 'app', 'alpha')));
    expect(await hostPodNames('beta')).toContain(hostName('shared-name', 'app', 'beta'));
  });
});

describe('syncer: killed mid-rollout', () => {
  const env = useEnvironment(() => TenantBed.start(['gamma']));
  const bed = () => env.current;

  it('converges after SIGKILL and restart with no duplicate or orphaned host object, then writes nothing', async () => {
    await bed().virtualKubectl('gamma', 'create', 'namespace', 'app');
    await eventually('default service account', async () => (await runKubectl((await kit()).bin.kubectl, bed().virtual('gamma').kubeconfigPath, ['-n', 'app', 'get', 'sa', 'default'])).code === 0);
    const first = bed().spawnSyncer('gamma');
    await bed().virtualKubectl('gamma', '-n', 'app', 'create', 'deployment', 'roll', `--image=${pause}`, '--replicas=12');
    await eventually('some host pods', async () => (await bed().hostJson<List<PodJson>>('-n', hostNamespace, 'get', 'pods', '-l', 'vnest.dev/tenant=gamma')).items.length >= 3, 60_000)
      .catch((err: unknown) => { throw new Error(`${(err as Error).message}\nsyncer log:\n${tail(first.logFile, 30)}`, { cause: err }); });
    first.child.kill('SIGKILL');
    // Change the tenant while no syncer runs: a rollout and a scale.
    await bed().virtualKubectl('gamma', '-n', 'app', 'set', 'image', 'deployment/roll', 'pause=registry.k8s.io/pause:3.9');
    await bed().virtualKubectl('gamma', '-n', 'app', 'scale', 'deployment/roll', '--replicas=10');
    const second = bed().spawnSyncer('gamma');
    try {
      await eventually('10 Running virtual pods of the new version, each with exactly one host pod', async () => {
        const v = (await bed().virtualJson<List<PodJson>>('gamma', '-n', 'app', 'get', 'pods', '-l', 'app=roll')).items;
        const h = (await bed().hostJson<List<PodJson>>('-n', hostNamespace, 'get', 'pods', '-l', 'vnest.dev/tenant=gamma')).items;
        const live = v.filter((p) => !p.metadata.deletionTimestamp);
        if (live.length !== 10 || !live.every((p) => p.status.phase === 'Running' && p.spec.containers[0]?.image === 'registry.k8s.io/pause:3.9')) return false;
        const uids = new Set(live.map((p) => p.metadata.uid));
        return h.length === 10 && h.every((p) => uids.has(p.metadata.annotations?.['vnest.dev/object-uid'] ?? ''));
      }, 120_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nsyncer log:\n${tail(second.logFile, 40)}`, { cause: err });
    } finally {
      second.child.kill('SIGTERM');
      await new Promise((resolve) => second.child.once('exit', resolve));
    }
    expect(second.child.exitCode).toBe(0);

    // A restart with nothing to do writes nothing to the host.
    const running = await bed().startSyncer('gamma');
    await sleep(3000);
    expect(running.syncer.context.host.counters.writes).toBe(0);
    await bed().stopSyncer(running);
  });

  it('never adopts the host copy of an earlier object with the same name', async () => {
    const manifest = pod('phoenix');
    const running = await bed().startSyncer('gamma');
    await runKubectl((await kit()).bin.kubectl, bed().virtual('gamma').kubeconfigPath, ['create', '-f', '-'], { input: manifest });
    const first = await eventually('phoenix Running', async () => {
      const p = await bed().virtualJson<PodJson>('gamma', '-n', 'app', 'get', 'pod', 'phoenix');
      return p.status.phase === 'Running' ? p : undefined;
    });
    await bed().stopSyncer(running);
    // Replaced while no syncer runs: same name, new UID.
    await bed().virtualKubectl('gamma', '-n', 'app', 'delete', 'pod', 'phoenix', '--force', '--grace-period=0');
    await runKubectl((await kit()).bin.kubectl, bed().virtual('gamma').kubeconfigPath, ['create', '-f', '-'], { input: manifest });
    const second = await bed().virtualJson<PodJson>('gamma', '-n', 'app', 'get', 'pod', 'phoenix');
    expect(second.metadata.uid).not.toBe(first.metadata.uid);
    await bed().startSyncer('gamma');
    await eventually('phoenix Running with a host copy made for the new UID', async () => {
      const v = await bed().virtualJson<PodJson>('gamma', '-n', 'app', 'get', 'pod', 'phoenix');
      const h = await bed().hostJson<PodJson>('-n', hostNamespace, 'get', 'pod', hostName('phoenix', 'app', 'gamma')).catch(() => undefined);
      return v.status.phase === 'Running' && h?.metadata.annotations?.['vnest.dev/object-uid'] === second.metadata.uid;
    });
  });

  it('keeps the per-pod token Secret of a pod made with --token-storage=pod-secret after a restart with the default; new pods share their account\'s', async () => {
    const kubectl = (await kit()).bin.kubectl;
    type SecretJson = { metadata: { ownerReferences?: Array<{ kind: string; name: string }> } };
    const secretOf = async (name: string) => {
      const r = await runKubectl(kubectl, bed().host.kubeconfigPath, ['-n', hostNamespace, 'get', 'secret', name, '-o', 'json']);
      return r.code === 0 ? (JSON.parse(r.stdout) as SecretJson) : undefined;
    };
    const create = async (name: string) => {
      const r = await runKubectl(kubectl, bed().virtual('gamma').kubeconfigPath, ['create', '-f', '-'], { input: pod(name) });
      expect(r.stderr).toBe('');
    };
    await runKubectl(kubectl, bed().virtual('gamma').kubeconfigPath, ['create', 'namespace', 'app']);
    await eventually('default service account', async () => (await runKubectl(kubectl, bed().virtual('gamma').kubeconfigPath, ['-n', 'app', 'get', 'sa', 'default'])).code === 0);
    // Only the syncer this test starts may copy its pods (the one the test before left running
    // would race it with the default storage).
    await bed().stopSyncers();
    const running = await bed().startSyncer('gamma', { tokenStorage: 'pod-secret' });
    await create('old-style');
    const perPod = `${hostName('old-style', 'app', 'gamma')}-sa-token`;
    const made = await eventually('the per-pod token Secret', () => secretOf(perPod));
    expect(made.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Pod', name: hostName('old-style', 'app', 'gamma') })]);
    // Its token is the pod's, as a kubelet's is: bound to the pod and, once bound, to its node.
    const tokenData = Object.values((await bed().hostJson<{ data: Record<string, string> }>('-n', hostNamespace, 'get', 'secret', perPod)).data)[0] ?? '';
    const reviewed = await bed().kubectlRun('gamma', ['create', '-o', 'json', '-f', '-'], JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: Buffer.from(tokenData, 'base64').toString() } }));
    const review = JSON.parse(reviewed.stdout) as { status: { user: { extra: Record<string, string[]> } } };
    const bound = await bed().virtualJson<PodJson>('gamma', '-n', 'app', 'get', 'pod', 'old-style');
    expect(review.status.user.extra['authentication.kubernetes.io/pod-name']).toEqual(['old-style']);
    expect(review.status.user.extra['authentication.kubernetes.io/node-name']).toEqual([bound.spec.nodeName]);
    await bed().stopSyncer(running);
    await bed().startSyncer('gamma');
    await create('new-style');
    const shared = `${hostName('default', 'app', 'gamma')}-token`;
    await eventually('the shared token Secret', () => secretOf(shared));
    const newHost = await eventually('new-style host pod', () => bed().hostJson<PodJson>('-n', hostNamespace, 'get', 'pod', hostName('new-style', 'app', 'gamma')).catch(() => undefined));
    expect(JSON.stringify(newHost.spec.volumes)).toContain(shared);
    // The old pod still mounts its own Secret, and the syncer still keeps it: removed by hand, it comes back.
    const oldHost = await bed().hostJson<PodJson>('-n', hostNamespace, 'get', 'pod', hostName('old-style', 'app', 'gamma'));
    expect(JSON.stringify(oldHost.spec.volumes)).toContain(perPod);
    await runKubectl(kubectl, bed().host.kubeconfigPath, ['-n', hostNamespace, 'delete', 'secret', perPod]);
    await bed().virtualKubectl('gamma', '-n', 'app', 'annotate', 'pod', 'old-style', 'touched=1');
    await eventually('the per-pod token Secret made again', () => secretOf(perPod));
  });
});

describe('syncer: API outages', () => {
  const env = useEnvironment(() => TenantBed.start(['delta']));
  const bed = () => env.current;
  const converged = (replicas: number) => async () => {
    const v = (await bed().virtualJson<List<PodJson>>('delta', '-n', 'app', 'get', 'pods', '-l', 'app=steady')).items.filter((p) => !p.metadata.deletionTimestamp);
    const h = (await bed().hostJson<List<PodJson>>('-n', hostNamespace, 'get', 'pods', '-l', 'vnest.dev/tenant=delta,app=steady')).items;
    const uids = new Set(v.map((p) => p.metadata.uid));
    return v.length === replicas && v.every((p) => p.status.phase === 'Running') && h.length === replicas && h.every((p) => uids.has(p.metadata.annotations?.['vnest.dev/object-uid'] ?? '')) ? v : undefined;
  };

  it('keeps retrying through a host API outage and converges when it is back', async () => {
    await bed().startSyncer('delta');
    await bed().virtualKubectl('delta', 'create', 'namespace', 'app');
    await eventually('default service account', async () => (await runKubectl((await kit()).bin.kubectl, bed().virtual('delta').kubeconfigPath, ['-n', 'app', 'get', 'sa', 'default'])).code === 0);
    await bed().host.controlPlane.stopApiserver();
    try {
      await bed().virtualKubectl('delta', '-n', 'app', 'create', 'deployment', 'steady', `--image=${pause}`, '--replicas=3');
      await sleep(3000);
    } finally {
      await bed().host.controlPlane.startApiserver();
    }
    await eventually('3 pods Running with one host pod each', converged(3), 120_000);
  });

  it('keeps retrying through a tenant API outage and loses no delete', async () => {
    const before = await eventually('steady state', converged(3));
    const victim = before[0] as PodJson;
    await bed().virtual('delta').stopApiserver();
    try {
      // The host pod goes while the tenant API is down: the syncer must still remove the
      // virtual pod afterwards, so its ReplicaSet replaces it.
      await bed().hostKubectl('-n', hostNamespace, 'delete', 'pod', hostName(victim.metadata.name, 'app', 'delta'), '--wait=true');
      await sleep(3000);
    } finally {
      await bed().virtual('delta').startApiserver();
    }
    const after = await eventually('3 pods Running again, the victim replaced', async () => {
      const v = await converged(3)();
      return v && !v.some((p) => p.metadata.uid === victim.metadata.uid) ? v : undefined;
    }, 120_000);
    expect(after).toHaveLength(3);
  });

  it('started while the host API is down, waits for it instead of exiting, then syncs', async () => {
    await bed().stopSyncers();
    await bed().host.controlPlane.stopApiserver();
    let started: Promise<RunningSyncer> | undefined;
    try {
      started = bed().startSyncer('delta', { startRetrySeconds: 300 });
      await sleep(4000);
      const state = await Promise.race([started.then(() => 'started', (err: unknown) => `failed: ${(err as Error).message}`), sleep(50).then(() => 'starting')]);
      expect(state).toBe('starting');
    } finally {
      await bed().host.controlPlane.startApiserver();
    }
    await started;
    await bed().virtualKubectl('delta', '-n', 'app', 'scale', 'deployment', 'steady', '--replicas=4');
    await eventually('4 pods Running with one host pod each', converged(4), 120_000);
  });
});
