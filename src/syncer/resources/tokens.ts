// Service-account tokens for host pods, one host Secret per service account and namespace
// (`--token-storage=secret`, the default): the Secret `<host name of the account>-token` holds one
// token per audience and lifetime the account's pods ask for, requested from the tenant's API and
// bound to the service account. Pods of one account share it, so a pod costs the host one write
// (the pod) instead of two, and no host pod carries a token. The Secret is renewed at 80 % of its
// tokens' life, re-issued when the account is recreated, and deleted when no pod needs it or the
// account is gone.
//
// Why shared and not per pod: a pod's token grants exactly its service account's permissions, which
// every other pod of that account already holds, so sharing exposes nothing new; reading it still
// needs the host Secret, as before. What is given up is the pod binding: a pod-bound token dies with
// its pod, a shared one lives until it expires (at most --token-expiration-seconds, or the lifetime
// the pod asked for) or until its account is deleted. `--token-storage=pod-secret` keeps one
// pod-bound Secret per pod for those who need that.
import type { KubeObject } from '../../kube/client.ts';
import { isAlreadyExists, isNotFound } from '../../kube/errors.ts';
import { objectKey, type Informer } from '../../kube/informer.ts';
import { Controller } from '../../controller/controller.ts';
import { hostMetadata, marks } from '../../translate/metadata.ts';
import { hostName, joinKey, splitKey } from '../../translate/names.ts';
import { audienceTokenKey, tokenSources, type Pod } from '../../translate/pods.ts';
import { types, type SyncContext } from '../context.ts';

/** The kind mark of a service account's shared token Secret. */
export const sharedTokenKind = 'ServiceAccountTokens';

type Secret = KubeObject & { data?: Record<string, string> };
interface Source { audience?: string; expirationSeconds: number }

/** Host name of the shared token Secret of service account `sa` in virtual namespace `ns`. */
export const sharedTokenSecretName = (sa: string, ns: string, tenant: string) => `${hostName(sa, ns, tenant)}-token`;

const serviceAccountOf = (pod: Pod) => joinKey(pod.metadata.namespace, pod.spec.serviceAccountName ?? 'default');
const finished = (pod: Pod) => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed' || Boolean(pod.metadata.deletionTimestamp);

export class ServiceAccountTokens {
  readonly controller: Controller;
  private readonly ctx: SyncContext;
  private readonly accounts: Informer<KubeObject>;
  private readonly secrets: Informer<Secret>;
  /** Service account key -> the tokens its live pods need, by key, with how many pods need each. */
  private readonly wanted = new Map<string, Map<string, Source & { pods: number }>>();
  /** Pod key -> the token keys it needs. */
  private readonly needs = new Map<string, string[]>();
  /** Service account key -> when its renewal is scheduled. */
  private readonly renewals = new Map<string, number>();

  constructor(ctx: SyncContext) {
    this.ctx = ctx;
    this.accounts = ctx.informers.virtual(types.serviceaccounts);
    this.secrets = ctx.informers.host<Secret>(types.secrets);
    this.controller = new Controller({ name: 'serviceaccount-tokens', workers: 2, logger: ctx.log, reconcile: (k) => this.reconcile(k) });
    // Other storages track only the pods whose host copies use a shared Secret (see need()).
    const pods = ctx.informers.virtual<Pod>(types.pods);
    const shared = ctx.config.tokenStorage === 'secret';
    pods.addHandlers({ onAdd: (p) => shared && this.need(p), onUpdate: (_, p) => (shared || this.needs.has(objectKey(p))) && this.need(p), onDelete: (p) => this.untrack(p) });
    const enqueue = (o: KubeObject) => this.controller.enqueue(objectKey(o));
    this.accounts.addHandlers({ onAdd: enqueue, onUpdate: (o, n) => o.metadata.uid !== n.metadata.uid && enqueue(n), onDelete: enqueue });
    const enqueueSecret = (s: Secret) => {
      const ann = s.metadata.annotations ?? {};
      const name = ann[marks.objectName];
      if (ann[marks.objectKind] === sharedTokenKind && name) this.controller.enqueue(joinKey(ann[marks.objectNamespace], name));
    };
    this.secrets.addHandlers({ onAdd: enqueueSecret, onDelete: enqueueSecret });
  }

  /**
   * This virtual pod needs its service account's tokens while it runs. The account's Secret is
   * reconciled only when the set of tokens it must hold changes, not for every pod.
   */
  need(pod: Pod): void {
    if (finished(pod)) return this.untrack(pod);
    const podKey = objectKey(pod);
    if (this.needs.has(podKey)) return; // a pod's volumes and service account do not change
    const sources = tokenSources(pod);
    if (sources.length === 0) return;
    const saKey = serviceAccountOf(pod);
    const defaultSeconds = this.ctx.config.tokenExpirationSeconds;
    let tokens = this.wanted.get(saKey);
    if (!tokens) this.wanted.set(saKey, (tokens = new Map()));
    const byKey = new Map(sources.map((s) => [audienceTokenKey(s, defaultSeconds), s]));
    let changed = false;
    for (const [key, s] of byKey) {
      const have = tokens.get(key);
      if (have) {
        have.pods++;
        continue;
      }
      tokens.set(key, { ...(s.audience ? { audience: s.audience } : {}), expirationSeconds: Math.max(s.expirationSeconds ?? defaultSeconds, 600), pods: 1 });
      changed = true;
    }
    this.needs.set(podKey, [...byKey.keys()]);
    if (changed) this.controller.enqueue(saKey);
  }

  private untrack(pod: Pod): void {
    const podKey = objectKey(pod);
    const keys = this.needs.get(podKey);
    if (!keys) return;
    this.needs.delete(podKey);
    const saKey = serviceAccountOf(pod);
    const tokens = this.wanted.get(saKey);
    let changed = false;
    for (const key of keys) {
      const have = tokens?.get(key);
      if (have && --have.pods === 0) {
        tokens?.delete(key);
        changed = true;
      }
    }
    if (tokens?.size === 0) this.wanted.delete(saKey);
    if (changed) this.controller.enqueue(saKey);
  }

  private async reconcile(saKey: string): Promise<void> {
    const { config } = this.ctx;
    const { namespace, name: sa } = splitKey(saKey);
    const name = sharedTokenSecretName(sa, namespace, config.tenant);
    const existing = this.secrets.get(`${config.hostNamespace}/${name}`);
    const ours = existing?.metadata.labels?.[marks.tenant] === config.tenant && existing?.metadata.annotations?.[marks.objectKind] === sharedTokenKind;
    if (existing && !ours) {
      this.ctx.log.warn({ secret: name }, 'a host Secret not made by this syncer has the name of a shared token Secret; leaving it alone');
      return;
    }
    const account = this.accounts.get(saKey);
    const wanted = this.wanted.get(saKey) ?? new Map<string, Source>();
    if (!account || wanted.size === 0) {
      this.renewals.delete(saKey);
      if (existing) await this.deleteSecret(name, existing);
      return;
    }
    const ann = existing?.metadata.annotations ?? {};
    const issued = Date.parse(ann[marks.tokenIssued] ?? '');
    const expiry = Date.parse(ann[marks.tokenExpiry] ?? '');
    const renewAt = issued + (expiry - issued) * 0.8;
    const current = ann[marks.objectUid] === account.metadata.uid;
    if (current && Date.now() < renewAt && [...wanted.keys()].every((k) => existing?.data?.[k])) {
      this.renewAt(saKey, renewAt);
      return;
    }
    const data: Record<string, string | null> = {};
    let earliest = Infinity;
    for (const [key, src] of wanted) {
      const req = await this.ctx.virtual.create<KubeObject & { status: { token: string; expirationTimestamp: string } }>(types.serviceaccounts, namespace, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        metadata: { name: sa },
        spec: { ...(src.audience ? { audiences: [src.audience] } : {}), expirationSeconds: src.expirationSeconds },
      }, 'token', sa);
      data[key] = Buffer.from(req.status.token).toString('base64');
      earliest = Math.min(earliest, Date.parse(req.status.expirationTimestamp));
    }
    for (const k of Object.keys(existing?.data ?? {})) if (!(k in data)) data[k] = null;
    const now = Date.now();
    const meta = hostMetadata(account, sharedTokenKind, name, config);
    meta.annotations = { ...meta.annotations, [marks.tokenIssued]: new Date(now).toISOString(), [marks.tokenExpiry]: new Date(earliest).toISOString() };
    if (existing) {
      await this.ctx.host.patch(types.secrets, config.hostNamespace, name, { metadata: { ...meta, resourceVersion: existing.metadata.resourceVersion }, data }, 'merge');
    } else {
      try {
        await this.ctx.host.create(types.secrets, config.hostNamespace, { apiVersion: 'v1', kind: 'Secret', metadata: meta, type: 'Opaque', data });
      } catch (err) {
        // Written a moment ago and not yet in our cache: the next reconcile sees it.
        if (!isAlreadyExists(err)) throw err;
      }
    }
    this.renewAt(saKey, now + (earliest - now) * 0.8);
  }

  /** Schedules the renewal once per time, however many pods asked. */
  private renewAt(saKey: string, at: number): void {
    if (this.renewals.get(saKey) === at) return;
    this.renewals.set(saKey, at);
    this.controller.queue.addAfter(saKey, at - Date.now());
  }

  private async deleteSecret(name: string, existing: Secret): Promise<void> {
    try {
      await this.ctx.host.delete(types.secrets, this.ctx.config.hostNamespace, name, { uid: existing.metadata.uid ?? '' });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
