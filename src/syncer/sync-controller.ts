// The generic sync controller: one per synced kind, keyed by the virtual `namespace/name`. It reads
// both sides from the caches, settles ownership (never touching foreign host objects, never adopting
// a copy made for an earlier object of the same name), refuses what must not be reified with an
// Event, and hands the rest to the kind's descriptor: syncToHost, sync or syncToVirtual.
import type { Operation } from 'fast-json-patch';
import type { KubeObject, ObjectMeta, ResourceType } from '../kube/client.ts';
import { apiVersionOf } from '../kube/client.ts';
import { isAlreadyExists, isNotFound, isTerminal, isTransientForbidden, KubeApiError } from '../kube/errors.ts';
import { objectKey, type Informer } from '../kube/informer.ts';
import { Controller } from '../controller/controller.ts';
import { hostMetadata, managedMetadata, marks, ownership, virtualKeyOf } from '../translate/metadata.ts';
import { hostName, splitKey } from '../translate/names.ts';
import type { HostScope, SyncContext, VirtualScope } from './context.ts';
import { guardedPatch } from './patcher.ts';

export interface ResourceDescriptor<V extends KubeObject = KubeObject, H extends KubeObject = V> {
  /** Kind written into the vnest.dev/object-kind mark. */
  kind: string;
  virtual: ResourceType;
  /** Which virtual objects the controller looks at (default: all of the kind). */
  virtualScope?: VirtualScope;
  host: ResourceType;
  /** Which host objects the controller looks at (default: this tenant's, by its label, in its host namespace). */
  hostScope?: HostScope;
  /** Whether the virtual object should have a host copy now (default: always). */
  wanted?(vObj: V): boolean;
  /** Why the object must not be reified (each reason naming its field); empty when it may. Checked before any host write. */
  validate?(vObj: V): string[];
  /** Called after a refusal (and after its host copy, if there was one, was deleted). */
  refused?(vObj: V, reason: string, hadHostCopy: boolean): Promise<void>;
  /** The host object to create for `vObj`. */
  toHost(vObj: V): Promise<H> | H;
  /** The virtual object is being deleted (it has a deletionTimestamp). Default: delete the host copy. */
  deleting?(vObj: V, hObj: H | undefined): Promise<void>;
  /** Only the virtual object exists. Default: create the host copy. */
  syncToHost?(vObj: V, create: () => Promise<H | undefined>): Promise<void>;
  /** Both exist and the host copy is ours: bring them in line. */
  sync(vObj: V, hObj: H): Promise<void>;
  /** Only the host copy exists (virtual object gone). Default: delete the host copy. */
  syncToVirtual?(hObj: H, vKey: string): Promise<void>;
}

export class SyncController<V extends KubeObject = KubeObject, H extends KubeObject = V> {
  readonly controller: Controller;
  readonly descriptor: ResourceDescriptor<V, H>;
  readonly vInformer: Informer<V>;
  readonly hInformer: Informer<H>;
  private readonly ctx: SyncContext;
  /**
   * Host objects this controller has sent a delete for, by UID (with the grace period it asked
   * for), until the cache shows them going (a deletionTimestamp) or gone. Until then the cache
   * holds them as they were before the delete, and a reconcile must not act on that old picture
   * (bind a virtual pod to a host pod that is on its way out, for one).
   */
  private readonly deletesSent = new Map<string, number | undefined>();

  constructor(ctx: SyncContext, descriptor: ResourceDescriptor<V, H>) {
    this.ctx = ctx;
    this.descriptor = descriptor;
    this.vInformer = ctx.informers.virtual<V>(descriptor.virtual, descriptor.virtualScope);
    this.hInformer = ctx.informers.host<H>(descriptor.host, descriptor.hostScope);
    this.controller = new Controller({
      name: descriptor.virtual.plural,
      workers: ctx.config.workers,
      logger: ctx.log,
      reconcile: (key) => this.reconcile(key),
    });
    const enqueueVirtual = (obj: V) => this.controller.enqueue(objectKey(obj));
    this.vInformer.addHandlers({ onAdd: enqueueVirtual, onUpdate: (_, o) => enqueueVirtual(o), onDelete: enqueueVirtual });
    const enqueueHost = (obj: H) => {
      const vKey = virtualKeyOf(obj, ctx.config.tenant);
      if (vKey && obj.metadata.annotations?.[marks.objectKind] === descriptor.kind) this.controller.enqueue(vKey);
    };
    this.hInformer.addHandlers({ onAdd: enqueueHost, onUpdate: (_, o) => enqueueHost(o), onDelete: enqueueHost });
    // The cache has caught up with a delete this controller sent (the reconcile queued above runs later).
    this.hInformer.addHandlers({
      onUpdate: (old, o) => {
        if (o.metadata.deletionTimestamp || old.metadata.uid !== o.metadata.uid) this.deletesSent.delete(old.metadata.uid ?? '');
      },
      onDelete: (o) => this.deletesSent.delete(o.metadata.uid ?? ''),
    });
  }

  enqueue(vKey: string): void {
    this.controller.enqueue(vKey);
  }

  /** Host key (`hostNamespace/hostName`) of a virtual key. */
  hostKey(vKey: string): string {
    const { namespace, name } = splitKey(vKey);
    return `${this.ctx.config.hostNamespace}/${hostName(name, namespace, this.ctx.config.tenant)}`;
  }

  hostNameOf(vObj: KubeObject): string {
    return hostName(vObj.metadata.name, vObj.metadata.namespace ?? '', this.ctx.config.tenant);
  }

  private async reconcile(vKey: string): Promise<void> {
    const d = this.descriptor;
    const vObj = this.vInformer.get(vKey);
    const hObj = this.hInformer.get(this.hostKey(vKey));

    if (hObj) {
      const owner = ownership(hObj, this.ctx.config.tenant, d.kind, vObj?.metadata.uid);
      if (owner === 'foreign') {
        // Informers only see this tenant's labelled objects; a foreign one here shares the label
        // but not the marks. Leave it alone.
        if (vObj) await this.warn(vObj, 'NameCollision', `host object ${hObj.metadata.name} exists and is not this object's copy; not syncing`);
        return;
      }
      if (owner === 'stale') {
        // A copy made for an earlier object of the same name: delete it (only that one) and
        // create a fresh copy when the delete is observed.
        await this.deleteHost(hObj);
        return;
      }
    }

    if (!vObj) {
      if (hObj) await (d.syncToVirtual ? d.syncToVirtual(hObj, vKey) : this.deleteHost(hObj));
      return;
    }
    if (d.wanted && !d.wanted(vObj)) {
      if (hObj) await this.deleteHost(hObj);
      return;
    }
    if (vObj.metadata.deletionTimestamp) {
      // Going away: a deletion always reaches the host, whatever the object says.
      if (d.deleting) await d.deleting(vObj, hObj);
      else if (hObj) await this.deleteHost(hObj);
      return;
    }
    const refusal = this.refusal(vObj);
    if (refusal) {
      // A refused object has no host copy: one made before (under another policy, or before a
      // change made it refused) goes, so nothing is left unmanaged on the host.
      if (hObj && !hObj.metadata.deletionTimestamp) await this.deleteHost(hObj);
      await this.warn(vObj, 'SyncRefused', refusal);
      await d.refused?.(vObj, refusal, hObj !== undefined);
      return;
    }
    if (!hObj) {
      if (d.syncToHost) await d.syncToHost(vObj, () => this.createHost(vObj));
      else await this.createHost(vObj);
      return;
    }
    if (this.deletePending(hObj)) {
      // Deleted by this controller a moment ago; the cache still shows it as it was. It is not
      // synced with (a pod not bound to it, say) until the cache catches up; the delete is sent
      // again (its answer may have been lost; a copy going or gone answers 404 or 409).
      await this.deleteHost(hObj, this.deletesSent.get(hObj.metadata.uid ?? ''));
      return;
    }
    try {
      await d.sync(vObj, hObj);
    } catch (err) {
      if (!isTerminal(err)) throw err;
      await this.warn(vObj, 'SyncFailed', `the host refused the update: ${(err as Error).message}`);
    }
  }

  /** Why `vObj` must not have a host copy. */
  private refusal(vObj: V): string | undefined {
    const problems = this.descriptor.validate?.(vObj) ?? [];
    return problems.length ? `not synced to the host: ${problems.join('; ')}` : undefined;
  }

  /**
   * Creates the host copy and returns it; a refusal by the host API becomes an Event, not a retry
   * loop, and returns undefined.
   */
  async createHost(vObj: V): Promise<H | undefined> {
    const desired = await this.descriptor.toHost(vObj);
    try {
      return await this.ctx.host.create<H>(this.descriptor.host, this.ctx.config.hostNamespace, desired);
    } catch (err) {
      if (isAlreadyExists(err)) {
        // Off the normal path: our cache lags, or an object without our marks (which our informer
        // cannot see) holds the name. Only a read tells which.
        const existing = await this.ctx.host.get<H>(this.descriptor.host, this.ctx.config.hostNamespace, desired.metadata.name);
        if (ownership(existing, this.ctx.config.tenant, this.descriptor.kind) === 'foreign') {
          await this.warn(vObj, 'NameCollision', `host object ${desired.metadata.name} exists and is not this object's copy; not syncing`);
          return undefined;
        }
        throw new KubeApiError(`host ${this.descriptor.kind} ${desired.metadata.name} already exists; waiting for the cache`, 409, 'Conflict');
      }
      if (isTerminal(err)) {
        await this.warn(vObj, 'SyncFailed', `the host refused the copy: ${(err as Error).message}`);
        return undefined;
      }
      if (isTransientForbidden(err) && this.controller.queue.numRequeues(objectKey(vObj)) === 0) {
        // Retried with backoff until the host has room; the tenant learns why its object waits.
        await this.warn(vObj, 'HostQuotaExceeded', `the host refused the copy for now; retrying: ${(err as Error).message}`).catch(() => undefined);
      }
      throw err;
    }
  }

  /** Whether this controller has sent a delete for host object `hObj` that the cache does not show yet. */
  private deletePending(hObj: H): boolean {
    return !hObj.metadata.deletionTimestamp && this.deletesSent.has(hObj.metadata.uid ?? '');
  }

  async deleteHost(hObj: H, gracePeriodSeconds?: number): Promise<void> {
    // Marked before it is sent (a delete whose answer is lost may still have been carried out),
    // while the cache holds this very object (once it has moved on, nothing would clear the mark).
    const uid = hObj.metadata.uid ?? '';
    const cached = this.hInformer.get(objectKey(hObj));
    if (uid && cached?.metadata.uid === uid && !cached.metadata.deletionTimestamp) this.deletesSent.set(uid, gracePeriodSeconds);
    try {
      await this.ctx.host.delete(this.descriptor.host, hObj.metadata.namespace, hObj.metadata.name, {
        uid: hObj.metadata.uid,
        ...(gracePeriodSeconds !== undefined ? { gracePeriodSeconds } : {}),
      });
    } catch (err) {
      if (isNotFound(err) || (err instanceof KubeApiError && err.status === 409)) return;
      // Refused for good (a webhook, RBAC): not deleted, so synced with as before.
      if (isTerminal(err)) this.deletesSent.delete(uid);
      throw err;
    }
  }

  /** The host copy of `vObj` with this kind's marks: its metadata, then `body` (spec, data, ...). */
  hostCopy(vObj: V, body: Record<string, unknown>): H {
    return { apiVersion: apiVersionOf(this.descriptor.host), kind: this.descriptor.host.kind, metadata: this.hostMeta(vObj, this.hostNameOf(vObj)), ...body } as H;
  }

  /** Metadata of the host copy of `vObj` named `name` (hostMetadata with this kind's mark). */
  hostMeta(vObj: V, name: string): ObjectMeta {
    return hostMetadata(vObj, this.descriptor.kind, name, this.ctx.config);
  }

  /**
   * The JSON patch that brings host copy `hObj` in line: its labels and annotations as `want`
   * has them (only the keys vnest manages are compared, so keys host controllers add stay), and
   * the fields in `current` (read from the copy) as in `desired`. Pass only fields vnest sets.
   * Guarded by the copy's resourceVersion.
   */
  hostPatch(hObj: H, want: ObjectMeta, current: Record<string, unknown>, desired: Record<string, unknown>): Operation[] {
    return guardedPatch(
      { metadata: managedMetadata(hObj.metadata, this.ctx.config.policy), ...current },
      { metadata: { labels: want.labels ?? {}, annotations: want.annotations ?? {} }, ...desired },
      hObj.metadata.resourceVersion,
    );
  }

  async patchHost(hObj: H, ops: Operation[]): Promise<void> {
    if (ops.length === 0) return;
    await this.ctx.host.patch(this.descriptor.host, hObj.metadata.namespace, hObj.metadata.name, ops, 'json');
  }

  warn(vObj: V, reason: string, message: string): Promise<void> {
    return this.ctx.events.warning(vObj, { apiVersion: apiVersionOf(this.descriptor.virtual), kind: this.descriptor.virtual.kind }, reason, message);
  }
}
