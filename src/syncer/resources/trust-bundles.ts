// ClusterTrustBundle projections (see translate/trust-bundles.ts): one host ConfigMap per tenant,
// `<tenant>-trust-bundles`, with a key per distinct source the tenant's pods project, filled from
// the tenant's ClusterTrustBundles and kept current as they change (the host's kubelet then
// refreshes the files, as it would for bundles it read itself). A pod's keys are written before its
// host copy is made, so its first mount finds them; the ConfigMap goes when no pod projects a
// bundle. The tenant's bundles are watched only from the first pod that projects one.
import { setTimeout as sleep } from 'node:timers/promises';
import { Controller } from '../../controller/controller.ts';
import type { KubeObject } from '../../kube/client.ts';
import { isAlreadyExists, isNotFound } from '../../kube/errors.ts';
import { objectKey, type Informer } from '../../kube/informer.ts';
import { marks } from '../../translate/metadata.ts';
import type { Pod } from '../../translate/pods.ts';
import { clusterTrustBundles, trustAnchors, trustBundleKey, trustBundleSources, trustBundlesConfigMap, trustBundlesKind, type ClusterTrustBundle, type TrustBundleSource } from '../../translate/trust-bundles.ts';
import { types, type SyncContext } from '../context.ts';
import { jsonEqual } from '../patcher.ts';

type ConfigMap = KubeObject & { data?: Record<string, string> };

const key = 'trust-bundles';
const syncTimeoutMs = 30_000;

export class TrustBundleProjections {
  readonly controller: Controller;
  private readonly ctx: SyncContext;
  private readonly pods: Informer<Pod>;
  private readonly hostConfigMaps: Informer<ConfigMap>;
  private bundles: Informer<ClusterTrustBundle> | undefined;
  /** Reconciles run one at a time, whether a pod's sync or the controller asks. */
  private chain: Promise<void> = Promise.resolve();
  /** The bundle sources of each virtual pod that projects one (a pod's volumes never change). */
  private readonly sourcesByPod = new Map<string, Map<string, TrustBundleSource>>();

  constructor(ctx: SyncContext) {
    this.ctx = ctx;
    this.pods = ctx.informers.virtual<Pod>(types.pods);
    this.hostConfigMaps = ctx.informers.host<ConfigMap>(types.configmaps);
    this.controller = new Controller({ name: 'trust-bundles', workers: 1, logger: ctx.log, reconcile: () => this.run() });
    this.pods.addHandlers({
      onAdd: (p) => this.index(p) && this.enqueue(),
      onDelete: (p) => this.sourcesByPod.delete(objectKey(p)) && this.enqueue(),
    });
    const ours = (cm: ConfigMap) => cm.metadata.name === this.name;
    this.hostConfigMaps.addHandlers({ onUpdate: (_, cm) => ours(cm) && this.enqueue(), onDelete: (cm) => ours(cm) && this.enqueue() });
  }

  private get name(): string {
    return trustBundlesConfigMap(this.ctx.config.tenant);
  }

  private enqueue(): void {
    this.controller.enqueue(key);
  }

  /** Records the pod's sources; whether it has any. */
  private index(pod: Pod): boolean {
    const sources = trustBundleSources(pod.spec);
    if (sources.length === 0) return false;
    this.sourcesByPod.set(objectKey(pod), new Map(sources.map((s) => [trustBundleKey(s), s])));
    return true;
  }

  /** Before the host copy of `vPod` is made: the keys its sources need are in the host ConfigMap. */
  async ensure(vPod: Pod): Promise<void> {
    if (this.index(vPod)) await this.run();
  }

  private run(): Promise<void> {
    const next = this.chain.then(() => this.reconcile());
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async reconcile(): Promise<void> {
    const { config } = this.ctx;
    // A pod indexed by ensure() just as it went is dropped here.
    for (const k of this.sourcesByPod.keys()) if (!this.pods.has(k)) this.sourcesByPod.delete(k);
    const sources = new Map([...this.sourcesByPod.values()].flatMap((m) => [...m]));
    const existing = this.hostConfigMaps.get(`${config.hostNamespace}/${this.name}`);
    if (existing && existing.metadata.labels?.[marks.tenant] !== config.tenant) {
      this.ctx.log.warn({ configMap: this.name }, 'a host ConfigMap not made by this syncer has the name of the trust bundle ConfigMap; leaving it alone');
      return;
    }
    if (sources.size === 0) {
      if (existing) await this.delete(existing);
      return;
    }
    const bundles = (await this.bundleInformer()).list();
    const data: Record<string, string> = {};
    for (const [k, src] of sources) {
      const anchors = trustAnchors(src, bundles);
      if (anchors !== undefined) data[k] = anchors;
    }
    if (existing && jsonEqual(existing.data ?? {}, data)) return;
    const metadata = {
      name: this.name,
      namespace: config.hostNamespace,
      labels: { [marks.tenant]: config.tenant },
      annotations: { [marks.objectKind]: trustBundlesKind },
      ...(config.owner ? { ownerReferences: [config.owner] } : {}),
    };
    if (existing) {
      const removed = Object.fromEntries(Object.keys(existing.data ?? {}).filter((k) => !(k in data)).map((k) => [k, null]));
      await this.ctx.host.patch(types.configmaps, config.hostNamespace, this.name, { metadata, data: { ...removed, ...data } }, 'merge');
    } else {
      try {
        await this.ctx.host.create(types.configmaps, config.hostNamespace, { apiVersion: 'v1', kind: 'ConfigMap', metadata, data });
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        // Made a moment ago and not in the cache yet: write over it.
        await this.ctx.host.patch(types.configmaps, config.hostNamespace, this.name, { metadata, data }, 'merge');
      }
    }
  }

  /** The tenant's ClusterTrustBundles, watched from the first time a pod projects one. */
  private async bundleInformer(): Promise<Informer<ClusterTrustBundle>> {
    if (!this.bundles) {
      this.bundles = this.ctx.informers.virtual<ClusterTrustBundle>(clusterTrustBundles);
      const changed = () => this.enqueue();
      this.bundles.addHandlers({ onAdd: changed, onUpdate: changed, onDelete: changed });
      this.bundles.start();
    }
    const synced = await Promise.race([this.bundles.waitForSync().then(() => true), sleep(syncTimeoutMs, false, { ref: false })]);
    if (!synced) throw new Error(`the tenant's ClusterTrustBundles (certificates.k8s.io/v1) could not be listed within ${syncTimeoutMs / 1000} s`);
    return this.bundles;
  }

  private async delete(existing: ConfigMap): Promise<void> {
    try {
      await this.ctx.host.delete(types.configmaps, this.ctx.config.hostNamespace, this.name, { uid: existing.metadata.uid ?? '' });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
