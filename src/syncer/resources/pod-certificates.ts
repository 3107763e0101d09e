// Pod certificates (see translate/pod-certificates.ts): the kubelet's part, done against the tenant.
// For each podCertificate source of a bound virtual pod, the syncer makes a key pair and a
// PodCertificateRequest in the tenant (the virtual pod, its service account and virtual node, owned
// by the pod, as a kubelet files it); when a signer issues it, the key and chain go into the host
// Secret `<host pod>-pod-certs` (owned by the host pod), and at the signer's beginRefreshAt a new
// request follows. A denied or failed request is reported on the virtual pod and not retried, as
// the kubelet does. Keys of requests still pending live in memory only: after a restart the syncer
// files new requests.
import { Controller } from '../../controller/controller.ts';
import type { KubeObject, ResourceType } from '../../kube/client.ts';
import { isAlreadyExists, isForbidden, isInvalid } from '../../kube/errors.ts';
import { objectKey, type Informer } from '../../kube/informer.ts';
import { hostMetadata, marks } from '../../translate/metadata.ts';
import { hostName, joinKey } from '../../translate/names.ts';
import { cleanCertificateChain, podCertificateKeyPair, podCertificateKeys, podCertificateKind, podCertificateSecret, podCertificateSources, type PlacedPodCertificateSource } from '../../translate/pod-certificates.ts';
import type { Pod } from '../../translate/pods.ts';
import { types, type SyncContext } from '../context.ts';

export const podCertificateRequests: ResourceType = { group: 'certificates.k8s.io', version: 'v1', plural: 'podcertificaterequests', kind: 'PodCertificateRequest', namespaced: true };

type Pcr = KubeObject & {
  spec: { podUID: string };
  status?: { conditions?: Array<{ type: string; reason?: string; message?: string }>; certificateChain?: string; beginRefreshAt?: string; notAfter?: string };
};
type Secret = KubeObject & { data?: Record<string, string> };

/** Annotation on the host Secret, per source key: when to ask for the next certificate. */
const refreshAnnotation = (key: string) => `vnest.dev/refresh-${key}`;

export class PodCertificates {
  readonly controller: Controller;
  private readonly ctx: SyncContext;
  private readonly pods: Informer<Pod>;
  private readonly hostSecrets: Informer<Secret>;
  private readonly nodes: Informer<KubeObject>;
  private readonly accounts: Informer<KubeObject>;
  private readonly hostPods: Informer<Pod>;
  private requests: Informer<Pcr> | undefined;
  /** Pod UID and source key -> the request filed and its private key (PEM). */
  private readonly pending = new Map<string, { pcr: string; keyPem: string }>();
  /** Pod UID and source key of requests denied or failed: not asked again. */
  private readonly refused = new Set<string>();

  constructor(ctx: SyncContext) {
    this.ctx = ctx;
    this.pods = ctx.informers.virtual<Pod>(types.pods);
    this.hostSecrets = ctx.informers.host<Secret>(types.secrets);
    this.nodes = ctx.informers.virtual(types.nodes);
    this.accounts = ctx.informers.virtual(types.serviceaccounts);
    this.hostPods = ctx.informers.host<Pod>(types.pods);
    this.controller = new Controller({ name: 'pod-certificates', workers: 2, logger: ctx.log, reconcile: (k) => this.reconcile(k) });
    const enqueue = (p: Pod) => {
      if (podCertificateSources(p.spec).length > 0) this.controller.enqueue(objectKey(p));
    };
    this.pods.addHandlers({ onAdd: enqueue, onUpdate: (_, p) => enqueue(p), onDelete: (p) => this.forget(p) });
  }

  private async reconcile(podKey: string): Promise<void> {
    const vPod = this.pods.get(podKey);
    const sources = vPod ? podCertificateSources(vPod.spec) : [];
    // A request names the pod's node: it waits for the binding, as a kubelet's does.
    if (!vPod || sources.length === 0 || !vPod.spec.nodeName || vPod.metadata.deletionTimestamp) return;
    const { config } = this.ctx;
    const hostPodName = hostName(vPod.metadata.name, vPod.metadata.namespace ?? '', config.tenant);
    const hPod = this.hostPods.get(`${config.hostNamespace}/${hostPodName}`);
    if (!hPod || hPod.metadata.annotations?.[marks.objectUid] !== vPod.metadata.uid) return;
    const name = podCertificateSecret(hostPodName);
    const secret = this.hostSecrets.get(`${config.hostNamespace}/${name}`);
    const data: Record<string, string> = {};
    const annotations: Record<string, string> = {};
    const issuedKeys: string[] = [];
    let nextRefresh = Infinity;
    for (const placed of sources) {
      const keys = podCertificateKeys(placed.key);
      const refreshAt = Date.parse(secret?.metadata.annotations?.[refreshAnnotation(placed.key)] ?? '');
      const current = secret?.data?.[keys.chain] !== undefined;
      if (current && Date.now() < refreshAt) {
        nextRefresh = Math.min(nextRefresh, refreshAt);
        continue;
      }
      const issued = await this.issue(vPod, placed);
      if (!issued) continue;
      const b64 = (s: string) => Buffer.from(s).toString('base64');
      Object.assign(data, { [keys.key]: b64(issued.keyPem), [keys.chain]: b64(issued.chain), [keys.bundle]: b64(issued.keyPem + issued.chain) });
      annotations[refreshAnnotation(placed.key)] = issued.beginRefreshAt;
      issuedKeys.push(placed.key);
      nextRefresh = Math.min(nextRefresh, Date.parse(issued.beginRefreshAt));
    }
    if (Number.isFinite(nextRefresh)) this.controller.queue.addAfter(podKey, Math.max(nextRefresh - Date.now(), 1000));
    if (Object.keys(data).length === 0) return;
    const meta = hostMetadata(vPod, podCertificateKind, name, config);
    meta.annotations = { ...meta.annotations, ...annotations };
    // Owned by the host pod alone: the host's garbage collector removes it with the pod.
    meta.ownerReferences = [{ apiVersion: 'v1', kind: 'Pod', name: hPod.metadata.name, uid: hPod.metadata.uid ?? '', blockOwnerDeletion: false }];
    if (secret) {
      await this.ctx.host.patch(types.secrets, config.hostNamespace, name, { metadata: meta, data }, 'merge');
    } else {
      try {
        await this.ctx.host.create(types.secrets, config.hostNamespace, { apiVersion: 'v1', kind: 'Secret', metadata: meta, type: 'Opaque', data });
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        await this.ctx.host.patch(types.secrets, config.hostNamespace, name, { metadata: meta, data }, 'merge');
      }
    }
    for (const key of issuedKeys) this.pending.delete(`${vPod.metadata.uid}/${key}`);
  }

  /** The key and chain of a source once issued; files the request first when none is pending. */
  private async issue(vPod: Pod, placed: PlacedPodCertificateSource): Promise<{ keyPem: string; chain: string; beginRefreshAt: string } | undefined> {
    const id = `${vPod.metadata.uid}/${placed.key}`;
    if (this.refused.has(id)) return undefined;
    const requests = this.requestInformer();
    const pending = this.pending.get(id);
    if (pending) {
      const pcr = requests.get(joinKey(vPod.metadata.namespace, pending.pcr));
      const done = pcr?.status?.conditions?.find((c) => ['Issued', 'Denied', 'Failed'].includes(c.type));
      if (!pcr || !done) return undefined; // its next change enqueues the pod
      if (done.type !== 'Issued') {
        this.refused.add(id);
        this.pending.delete(id);
        await this.warn(vPod, done.type, `PodCertificateRequest ${vPod.metadata.namespace}/${pending.pcr} was ${done.type.toLowerCase()}, reason="${done.reason ?? ''}", message="${done.message ?? ''}"`);
        return undefined;
      }
      return { keyPem: pending.keyPem, chain: cleanCertificateChain(pcr.status?.certificateChain ?? ''), beginRefreshAt: pcr.status?.beginRefreshAt ?? new Date(Date.now() + 3600_000).toISOString() };
    }
    const sa = vPod.spec.serviceAccountName ?? 'default';
    const account = this.accounts.get(joinKey(vPod.metadata.namespace, sa));
    const node = this.nodes.get(vPod.spec.nodeName ?? '');
    if (!account || !node) {
      this.controller.queue.addAfter(objectKey(vPod), 2000); // not in the caches yet
      return undefined;
    }
    const src = placed.source;
    const { keyPem, stubPkcs10Request } = await podCertificateKeyPair(src.keyType);
    let pcr: Pcr;
    try {
      pcr = await this.create(vPod, {
        signerName: src.signerName,
        podName: vPod.metadata.name, podUID: vPod.metadata.uid,
        serviceAccountName: sa, serviceAccountUID: account.metadata.uid,
        nodeName: vPod.spec.nodeName, nodeUID: node.metadata.uid,
        ...(src.maxExpirationSeconds !== undefined ? { maxExpirationSeconds: src.maxExpirationSeconds } : {}),
        stubPKCS10Request: stubPkcs10Request,
        ...(src.userAnnotations ? { unverifiedUserAnnotations: src.userAnnotations } : {}),
      });
    } catch (err) {
      if (!isInvalid(err) && !isForbidden(err)) throw err;
      // The tenant's API refuses it (as it would the kubelet's): said once, not asked again.
      this.refused.add(id);
      await this.warn(vPod, 'PodCertificateRequestRefused', `the tenant's API refused the PodCertificateRequest for ${placed.key}: ${(err as Error).message}`);
      return undefined;
    }
    this.pending.set(id, { pcr: pcr.metadata.name, keyPem });
    return undefined;
  }

  private create(vPod: Pod, spec: Record<string, unknown>): Promise<Pcr> {
    return this.ctx.virtual.create<Pcr>(podCertificateRequests, vPod.metadata.namespace, {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'PodCertificateRequest',
      metadata: { name: '', generateName: 'req-', namespace: vPod.metadata.namespace, ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: vPod.metadata.name, uid: vPod.metadata.uid ?? '' }] },
      spec,
    });
  }

  private warn(vPod: Pod, reason: string, message: string): Promise<void> {
    return this.ctx.events.warning(vPod, { apiVersion: 'v1', kind: 'Pod' }, reason, message).catch(() => undefined);
  }

  /** The tenant's PodCertificateRequests, watched from the first pod that projects a certificate. */
  private requestInformer(): Informer<Pcr> {
    if (!this.requests) {
      this.requests = this.ctx.informers.virtual<Pcr>(podCertificateRequests);
      const changed = (pcr: Pcr) => {
        const owner = pcr.metadata.ownerReferences?.find((o) => o.kind === 'Pod');
        if (owner) this.controller.enqueue(joinKey(pcr.metadata.namespace, owner.name));
      };
      this.requests.addHandlers({ onAdd: changed, onUpdate: (_, p) => changed(p) });
      this.requests.start();
    }
    return this.requests;
  }

  private forget(pod: Pod): void {
    for (const placed of podCertificateSources(pod.spec)) {
      this.pending.delete(`${pod.metadata.uid}/${placed.key}`);
      this.refused.delete(`${pod.metadata.uid}/${placed.key}`);
    }
  }
}
