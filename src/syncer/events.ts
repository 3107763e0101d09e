// Records Events on virtual objects: why the syncer refused or could not reify them. Repeats of
// the same reason and message on the same object bump the count of one Event, as kubelets do.
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { KubeClient, KubeObject, ResourceType } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';

const eventsType: ResourceType = { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true };

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
}

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly seen = new LRUCache<string, { name: string; namespace: string; count: number }>({ max: 4096 });
  private readonly component: string;

  constructor(client: KubeClient, log: Logger, component = 'vnest-syncer') {
    this.client = client;
    this.log = log;
    this.component = component;
  }

  warning(obj: KubeObject, type: InvolvedObject, reason: string, message: string): Promise<void> {
    return this.record(obj, type, 'Warning', reason, message);
  }

  normal(obj: KubeObject, type: InvolvedObject, reason: string, message: string): Promise<void> {
    return this.record(obj, type, 'Normal', reason, message);
  }

  /** Writes or bumps the Event; failures are logged, never thrown: an Event is best effort. */
  async record(obj: KubeObject, type: InvolvedObject, eventType: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const namespace = obj.metadata.namespace || 'default';
    const key = `${obj.metadata.uid ?? obj.metadata.name}|${eventType}|${reason}|${message}`;
    const now = new Date().toISOString();
    const prior = this.seen.get(key);
    try {
      if (prior) {
        prior.count++;
        try {
          await this.client.patch(eventsType, prior.namespace, prior.name, { count: prior.count, lastTimestamp: now });
          return;
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      const created = await this.client.create(eventsType, namespace, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${obj.metadata.name}.`, namespace, name: '' },
        involvedObject: {
          apiVersion: type.apiVersion,
          kind: type.kind,
          name: obj.metadata.name,
          namespace: obj.metadata.namespace,
          uid: obj.metadata.uid,
          resourceVersion: obj.metadata.resourceVersion,
        },
        reason,
        message: message.slice(0, 1024),
        type: eventType,
        source: { component: this.component },
        reportingComponent: 'vnest.dev/syncer',
        reportingInstance: this.component,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
      this.seen.set(key, { name: created.metadata.name, namespace, count: 1 });
    } catch (err) {
      this.log.warn({ err: (err as Error).message, object: `${namespace}/${obj.metadata.name}`, reason }, 'could not record event');
    }
  }
}
