// Host Events about synced objects (image pulls, kills, evictions, volume problems) appear on the
// virtual objects, with the host name replaced by the virtual one. The host scheduler's Scheduled
// event is not copied: the syncer's binding of the virtual pod records the same (its node and the
// PodScheduled condition), and copying it would cost the tenant's API a write for every pod. After a
// restart, events copied before are recognised from one list of the tenant's events, not written again.
import { LRUCache } from 'lru-cache';
import type { KubeObject } from '../../kube/client.ts';
import { isAlreadyExists } from '../../kube/errors.ts';
import { objectKey, type Informer } from '../../kube/informer.ts';
import { Controller } from '../../controller/controller.ts';
import { marks, virtualKeyOf } from '../../translate/metadata.ts';
import { types, type SyncContext } from '../context.ts';

 
type Event = KubeObject & Record<string, any>;

export class EventSync {
  readonly controller: Controller;
  private readonly ctx: SyncContext;
  private readonly hEvents: Informer<Event>;
  private readonly hostObjects: Record<string, Informer<KubeObject>>;
  private readonly virtualObjects: Record<string, Informer<KubeObject>>;
  /** Host event uid -> count already copied, so resyncs write nothing. */
  private readonly copied = new LRUCache<string, number>({ max: 20_000 });
  /** The tenant's events when this syncer started (`namespace/name` -> count), loaded once, dropped after a while. */
  private before?: Promise<Map<string, number>>;

  constructor(ctx: SyncContext) {
    this.ctx = ctx;
    this.hEvents = ctx.informers.host<Event>(types.events);
    this.hostObjects = { Pod: ctx.informers.host(types.pods), PersistentVolumeClaim: ctx.informers.host(types.pvcs) };
    this.virtualObjects = { Pod: ctx.informers.virtual(types.pods), PersistentVolumeClaim: ctx.informers.virtual(types.pvcs) };
    this.controller = new Controller({ name: 'events', workers: 2, logger: ctx.log, reconcile: (k) => this.reconcile(k) });
    const enqueue = (e: Event) => {
      if (this.hostObjects[e.involvedObject?.kind] && !(e.reason === 'Scheduled' && e.involvedObject?.kind === 'Pod')) this.controller.enqueue(objectKey(e));
    };
    this.hEvents.addHandlers({ onAdd: enqueue, onUpdate: (_, e) => enqueue(e) });
  }

  private async reconcile(key: string): Promise<void> {
    const e = this.hEvents.get(key);
    if (!e || this.copied.get(e.metadata.uid ?? '') === (e.count ?? 1)) return;
    const kind: string = e.involvedObject.kind;
    const hObj = this.hostObjects[kind]?.get(`${this.ctx.config.hostNamespace}/${e.involvedObject.name}`);
    const vKey = hObj && virtualKeyOf(hObj, this.ctx.config.tenant);
    const vObj = vKey ? this.virtualObjects[kind]?.get(vKey) : undefined;
    if (!vObj || vObj.metadata.uid !== hObj?.metadata.annotations?.[marks.objectUid]) return;
    const suffix = e.metadata.name.slice(e.metadata.name.lastIndexOf('.') + 1);
    const name = `${vObj.metadata.name}.${suffix}`;
    const hostName = e.involvedObject.name as string;
    const vName = vObj.metadata.name;
    const message = typeof e.message === 'string'
      ? e.message.split(`${this.ctx.config.hostNamespace}/${hostName}`).join(`${vObj.metadata.namespace}/${vName}`).split(hostName).join(vName)
      : e.message;
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: vObj.metadata.namespace },
      involvedObject: { apiVersion: 'v1', kind, name: vObj.metadata.name, namespace: vObj.metadata.namespace, uid: vObj.metadata.uid, fieldPath: e.involvedObject.fieldPath },
      reason: e.reason,
      message,
      type: e.type,
      count: e.count ?? 1,
      source: e.source ?? {},
      firstTimestamp: e.firstTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp,
      lastTimestamp: e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp,
      reportingComponent: e.reportingComponent ?? '',
      reportingInstance: e.reportingInstance ?? '',
    };
    const copiedBefore = (await this.eventsBefore()).get(`${vObj.metadata.namespace}/${name}`);
    if (copiedBefore === body.count) {
      this.copied.set(e.metadata.uid ?? '', body.count);
      return;
    }
    try {
      await this.ctx.virtual.create(types.events, vObj.metadata.namespace, body);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      await this.ctx.virtual.patch(types.events, vObj.metadata.namespace, name, { count: body.count, message, lastTimestamp: body.lastTimestamp });
    }
    this.copied.set(e.metadata.uid ?? '', e.count ?? 1);
  }

  /** The counts of the tenant's events as they were when this syncer started copying (one paged list). */
  private eventsBefore(): Promise<Map<string, number>> {
    this.before ??= (async () => {
      const counts = new Map<string, number>();
      let next: string | undefined;
      do {
        const page = await this.ctx.virtual.list<Event>(types.events, undefined, { limit: 500, ...(next ? { continue: next } : {}) });
        for (const ev of page.items) counts.set(`${ev.metadata.namespace}/${ev.metadata.name}`, ev.count ?? 1);
        next = page.metadata?.continue || undefined;
      } while (next);
      // Events copied before a restart are recognised in the first minutes; after that the map only costs memory.
      setTimeout(() => counts.clear(), 600_000).unref();
      return counts;
    })().catch((err: unknown) => {
      this.before = undefined;
      throw err;
    });
    return this.before;
  }
}
