// Host Events about synced objects (scheduling, image pulls, kills, evictions) appear on the
// virtual objects, with the host name replaced by the virtual one.
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

  constructor(ctx: SyncContext) {
    this.ctx = ctx;
    this.hEvents = ctx.informers.host<Event>(types.events);
    this.hostObjects = { Pod: ctx.informers.host(types.pods), PersistentVolumeClaim: ctx.informers.host(types.pvcs) };
    this.virtualObjects = { Pod: ctx.informers.virtual(types.pods), PersistentVolumeClaim: ctx.informers.virtual(types.pvcs) };
    this.controller = new Controller({ name: 'events', workers: 2, logger: ctx.log, reconcile: (k) => this.reconcile(k) });
    const enqueue = (e: Event) => {
      if (this.hostObjects[e.involvedObject?.kind]) this.controller.enqueue(objectKey(e));
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
    try {
      await this.ctx.virtual.create(types.events, vObj.metadata.namespace, body);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      await this.ctx.virtual.patch(types.events, vObj.metadata.namespace, name, { count: body.count, message, lastTimestamp: body.lastTimestamp });
    }
    this.copied.set(e.metadata.uid ?? '', e.count ?? 1);
  }
}
