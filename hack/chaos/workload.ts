// The chaos run's tenant workload, which never stops changing while faults are injected:
// Deployments scaled and rolled, StatefulSets with claims scaled, Jobs run to completion and
// deleted, ConfigMaps and Secrets edited (and deleted and recreated under the same name) while
// pods mount them, Services created and deleted, a bare pod deleted and recreated under its name
// (a new UID) with other references (a standalone claim among them), that claim deleted and made
// again under its name while the pod may still mount it, and whole namespaces created and deleted
// with everything in them. Every choice comes from the run's seeded generator.
import type { KubeClient, KubeObject, ResourceType } from '../../src/kube/client.ts';
import { isAlreadyExists, isNotFound } from '../../src/kube/errors.ts';
import { types } from '../../src/syncer/context.ts';
import type { Rng } from './rng.ts';

export const workloadTypes = {
  deployments: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true },
  statefulsets: { group: 'apps', version: 'v1', plural: 'statefulsets', kind: 'StatefulSet', namespaced: true },
  jobs: { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job', namespaced: true },
  persistentvolumes: { group: '', version: 'v1', plural: 'persistentvolumes', kind: 'PersistentVolume', namespaced: false },
} satisfies Record<string, ResourceType>;

/** The storage class of the workload's claims; the host has PVs of it, made here. */
export const storageClass = 'chaos';

export interface WorkloadOptions {
  /** Long-lived namespaces app-0..N-1, each with a Deployment, a StatefulSet, Jobs, Services and a bare pod. */
  namespaces: number;
  /** Most replicas of each Deployment. */
  maxReplicas: number;
  /** Pause between two changes, in ms. */
  stepMs: number;
}

type Obj = KubeObject & { spec?: any; status?: any; data?: Record<string, string> };

const podTemplate = (labels: Record<string, string>, extra: { cfg?: string; sec?: string; claim?: string; grace?: number; restartPolicy?: string } = {}) => ({
  metadata: { labels },
  spec: {
    terminationGracePeriodSeconds: extra.grace ?? 0,
    ...(extra.restartPolicy ? { restartPolicy: extra.restartPolicy } : {}),
    containers: [{
      name: 'c', image: 'registry.k8s.io/pause:3.10',
      volumeMounts: [
        ...(extra.cfg ? [{ name: 'cfg', mountPath: '/cfg' }] : []),
        ...(extra.sec ? [{ name: 'sec', mountPath: '/sec' }] : []),
        ...(extra.claim ? [{ name: extra.claim, mountPath: '/data' }] : []),
      ],
    }],
    volumes: [
      ...(extra.cfg ? [{ name: 'cfg', configMap: { name: extra.cfg } }] : []),
      ...(extra.sec ? [{ name: 'sec', secret: { secretName: extra.sec } }] : []),
    ],
  },
});

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A claim of its own in each app namespace, which the bare pod mounts now and then. */
const scratchClaim: Obj = {
  apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'scratch' },
  spec: { storageClassName: storageClass, accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Mi' } } },
};

export class Workload {
  private readonly virtual: KubeClient;
  private readonly host: KubeClient;
  private readonly rng: Rng;
  private readonly opts: WorkloadOptions;
  private readonly say: (line: string) => void;
  /** Changes made, and requests that failed (the tenant API may be down: that is the point). */
  readonly counts = { actions: 0, failures: 0 };
  readonly actionsBy: Record<string, number> = {};
  private serial = 0;
  private readonly tmpNamespaces: string[] = [];

  constructor(virtual: KubeClient, host: KubeClient, rng: Rng, opts: WorkloadOptions, say: (line: string) => void) {
    this.virtual = virtual;
    this.host = host;
    this.rng = rng;
    this.opts = opts;
    this.say = say;
  }

  private get appNamespaces(): string[] {
    return Array.from({ length: this.opts.namespaces }, (_, i) => `app-${i}`);
  }

  /** The starting state, and PVs on the host for every claim the workload can make. */
  async setup(): Promise<void> {
    // Two StatefulSet replicas and one standalone claim per namespace, and some to spare.
    const pvs = this.opts.namespaces * 3 + 3;
    for (let i = 0; i < pvs; i++) {
      await this.ensure(this.host, workloadTypes.persistentvolumes, undefined, {
        apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: `chaos-pv-${i}` },
        spec: { storageClassName: storageClass, capacity: { storage: '1Mi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: `/tmp/chaos-pv-${i}` } },
      });
    }
    for (const ns of this.appNamespaces) await this.populate(ns, true);
  }

  /** A namespace with its objects: ConfigMap, Secret, Deployment, Service; app namespaces also a StatefulSet, a claim and a bare pod. */
  private async populate(ns: string, app: boolean): Promise<void> {
    const v = this.virtual;
    await this.ensure(v, types.namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await this.ensure(v, types.configmaps, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { v: '0' } });
    await this.ensure(v, types.secrets, ns, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'sec' }, data: { v: b64('0') } });
    for (const name of ['extra-a', 'extra-b']) await this.ensure(v, types.configmaps, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { v: name } });
    await this.ensure(v, workloadTypes.deployments, ns, {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
      spec: {
        replicas: app ? Math.min(2, this.opts.maxReplicas) : 1, selector: { matchLabels: { app: 'web' } },
        strategy: { rollingUpdate: { maxSurge: '50%', maxUnavailable: '50%' } },
        template: podTemplate({ app: 'web' }, { cfg: 'cfg', sec: 'sec' }),
      },
    });
    await this.ensure(v, types.services, ns, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } });
    if (!app) return;
    await this.ensure(v, types.services, ns, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db' }, spec: { clusterIP: 'None', selector: { app: 'db' }, ports: [{ port: 5432 }] } });
    await this.ensure(v, workloadTypes.statefulsets, ns, {
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db' },
      spec: {
        replicas: 1, serviceName: 'db', podManagementPolicy: 'Parallel', selector: { matchLabels: { app: 'db' } },
        template: podTemplate({ app: 'db' }, { cfg: 'cfg', claim: 'data', grace: 1 }),
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { storageClassName: storageClass, accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Mi' } } } }],
      },
    });
    await this.ensure(v, types.pvcs, ns, scratchClaim);
    await this.ensure(v, types.pods, ns, this.soloPod('extra-a', true));
  }

  /** The bare pod: a ConfigMap key in its environment, the Secret mounted, and maybe the standalone claim. */
  private soloPod(ref: string, claim: boolean): Obj {
    const t = podTemplate({ app: 'solo' }, { sec: 'sec', ...(claim ? { claim: 'scratch' } : {}) });
    return {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo', labels: t.metadata.labels },
      spec: {
        ...t.spec,
        containers: [{ ...t.spec.containers[0], env: [{ name: 'V', valueFrom: { configMapKeyRef: { name: ref, key: 'v' } } }] }],
        volumes: [...t.spec.volumes, ...(claim ? [{ name: 'scratch', persistentVolumeClaim: { claimName: 'scratch' } }] : [])],
      },
    };
  }

  private async ensure(client: KubeClient, rt: ResourceType, ns: string | undefined, obj: Obj): Promise<void> {
    try {
      await client.create(rt, ns, obj);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }

  /** Makes changes one after another until `until()` says stop. */
  async run(until: () => boolean): Promise<void> {
    while (!until()) {
      await this.step();
      await new Promise((r) => setTimeout(r, this.opts.stepMs));
    }
  }

  /** One change, chosen by the generator. Failures are counted, not thrown. */
  async step(): Promise<void> {
    const actions: Array<[string, number, () => Promise<void>]> = [
      ['scale', 3, () => this.scale()],
      ['roll', 4, () => this.roll()],
      ['edit-config', 2, () => this.editConfig()],
      ['recreate-config', 1, () => this.recreateConfig()],
      ['scale-statefulset', 1, () => this.scaleStatefulSet()],
      ['job', 2, () => this.job()],
      ['service', 1, () => this.service()],
      ['recreate-pod', 2, () => this.recreatePod()],
      ['recreate-claim', 1, () => this.recreateClaim()],
      ['namespace', 1, () => this.namespace()],
    ];
    const total = actions.reduce((s, a) => s + a[1], 0);
    let r = this.rng.next() * total;
    const chosen = actions.find((a) => (r -= a[1]) < 0) ?? actions[0];
    if (!chosen) return;
    const [name, , act] = chosen;
    this.counts.actions++;
    this.actionsBy[name] = (this.actionsBy[name] ?? 0) + 1;
    try {
      await act();
    } catch (err) {
      this.counts.failures++;
      if (process.env.VNEST_CHAOS_DEBUG) this.say(`workload: ${name} failed: ${(err as Error).message.slice(0, 200)}`);
    }
  }

  private ns(): string {
    return this.rng.pick(this.appNamespaces);
  }

  private async scale(): Promise<void> {
    const ns = this.rng.chance(0.8) || this.tmpNamespaces.length === 0 ? this.ns() : this.rng.pick(this.tmpNamespaces);
    await this.virtual.patch(workloadTypes.deployments, ns, 'web', { spec: { replicas: this.rng.int(0, this.opts.maxReplicas) } });
  }

  private async roll(): Promise<void> {
    await this.virtual.patch(workloadTypes.deployments, this.ns(), 'web', { spec: { template: { metadata: { annotations: { 'chaos/rollout': String(++this.serial) } } } } });
  }

  private async editConfig(): Promise<void> {
    const ns = this.ns();
    const value = String(++this.serial);
    if (this.rng.chance(0.5)) await this.virtual.patch(types.configmaps, ns, this.rng.pick(['cfg', 'extra-a', 'extra-b']), { data: { v: value } });
    else await this.virtual.patch(types.secrets, ns, 'sec', { data: { v: b64(value) } });
  }

  /** Deleted and created again under the same name while pods mount it: a new UID. */
  private async recreateConfig(): Promise<void> {
    const ns = this.ns();
    const secret = this.rng.chance(0.5);
    const value = String(++this.serial);
    if (secret) {
      await this.virtual.delete(types.secrets, ns, 'sec').catch((err: unknown) => { if (!isNotFound(err)) throw err; });
      await this.virtual.create(types.secrets, ns, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'sec' }, data: { v: b64(value) } });
    } else {
      await this.virtual.delete(types.configmaps, ns, 'cfg').catch((err: unknown) => { if (!isNotFound(err)) throw err; });
      await this.virtual.create(types.configmaps, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { v: value } });
    }
  }

  private async scaleStatefulSet(): Promise<void> {
    await this.virtual.patch(workloadTypes.statefulsets, this.ns(), 'db', { spec: { replicas: this.rng.int(0, 2) } });
  }

  /** A new Job (its pods complete at once on the simulated nodes); finished Jobs are deleted. */
  private async job(): Promise<void> {
    const ns = this.ns();
    const jobs = await this.virtual.list<Obj>(workloadTypes.jobs, ns);
    for (const j of jobs.items) {
      if (j.metadata.deletionTimestamp) continue;
      const done = (j.status?.conditions ?? []).some((c: { type: string; status: string }) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
      if (done) await this.virtual.delete(workloadTypes.jobs, ns, j.metadata.name, { propagationPolicy: 'Background' });
    }
    const completions = this.rng.int(1, 3);
    await this.virtual.create(workloadTypes.jobs, ns, {
      apiVersion: 'batch/v1', kind: 'Job', metadata: { name: `job-${++this.serial}` },
      spec: { completions, parallelism: completions, backoffLimit: 2, template: podTemplate({ app: 'job' }, { cfg: 'cfg', restartPolicy: 'Never' }) },
    });
  }

  private async service(): Promise<void> {
    const ns = this.ns();
    const name = `svc-${this.rng.int(0, 2)}`;
    try {
      await this.virtual.create(types.services, ns, { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: this.rng.pick(['web', 'db']) }, ports: [{ port: 8080 }] } });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      await this.virtual.delete(types.services, ns, name);
    }
  }

  /** The bare pod, deleted and created again at once under the same name, referring to another ConfigMap. */
  private async recreatePod(): Promise<void> {
    const ns = this.ns();
    await this.virtual.delete(types.pods, ns, 'solo', { gracePeriodSeconds: 0 }).catch((err: unknown) => { if (!isNotFound(err)) throw err; });
    await this.virtual.create(types.pods, ns, this.soloPod(this.rng.pick(['extra-a', 'extra-b']), this.rng.chance(0.5)));
  }

  /**
   * The standalone claim deleted and made again under its name (a new UID). While the bare pod
   * mounts it, the deletion waits for the pod (claim protection) and the create is refused. A
   * released host PV is made available again, as an operator would, so new claims can bind.
   */
  private async recreateClaim(): Promise<void> {
    const ns = this.ns();
    await this.virtual.delete(types.pvcs, ns, 'scratch').catch((err: unknown) => { if (!isNotFound(err)) throw err; });
    for (const pv of (await this.host.list<Obj>(workloadTypes.persistentvolumes, undefined)).items) {
      if (pv.spec?.storageClassName === storageClass && pv.status?.phase === 'Released') {
        await this.host.patch(workloadTypes.persistentvolumes, undefined, pv.metadata.name, [{ op: 'remove', path: '/spec/claimRef' }], 'json');
      }
    }
    await this.ensure(this.virtual, types.pvcs, ns, scratchClaim);
  }

  /** A short-lived namespace: made with objects in it, or deleted with everything in it. */
  private async namespace(): Promise<void> {
    if (this.tmpNamespaces.length >= 2 || (this.tmpNamespaces.length > 0 && this.rng.chance(0.5))) {
      const ns = this.tmpNamespaces.splice(this.rng.int(0, this.tmpNamespaces.length - 1), 1)[0];
      if (ns) await this.virtual.delete(types.namespaces, undefined, ns);
      return;
    }
    const ns = `tmp-${++this.serial}`;
    this.tmpNamespaces.push(ns);
    await this.populate(ns, false);
  }

  /** Whether the tenant's controllers are done: rollouts finished, Jobs finished, no namespace terminating. */
  async settled(): Promise<string | undefined> {
    const v = this.virtual;
    const namespaces = await v.list<Obj>(types.namespaces, undefined);
    const terminating = namespaces.items.filter((n) => n.metadata.deletionTimestamp);
    if (terminating.length) return `namespace ${terminating[0]?.metadata.name} terminating`;
    for (const d of (await v.list<Obj>(workloadTypes.deployments, undefined)).items) {
      const s = d.status ?? {};
      const want = d.spec?.replicas ?? 1;
      if ((s.observedGeneration ?? 0) < (d.metadata.generation ?? 1) || (s.replicas ?? 0) !== want || (s.updatedReplicas ?? 0) !== want || (s.availableReplicas ?? 0) !== want) {
        return `Deployment ${d.metadata.namespace}/${d.metadata.name} rolling out`;
      }
    }
    for (const st of (await v.list<Obj>(workloadTypes.statefulsets, undefined)).items) {
      const s = st.status ?? {};
      const want = st.spec?.replicas ?? 1;
      if ((s.observedGeneration ?? 0) < (st.metadata.generation ?? 1) || (s.replicas ?? 0) !== want || (s.readyReplicas ?? 0) !== want) {
        return `StatefulSet ${st.metadata.namespace}/${st.metadata.name} not ready`;
      }
    }
    for (const j of (await v.list<Obj>(workloadTypes.jobs, undefined)).items) {
      const done = (j.status?.conditions ?? []).some((c: { type: string; status: string }) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
      if (!done && !j.metadata.deletionTimestamp) return `Job ${j.metadata.namespace}/${j.metadata.name} running`;
    }
    return undefined;
  }
}
