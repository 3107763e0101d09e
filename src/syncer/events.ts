// Records Events on virtual objects: why the syncer refused or could not reify them. Repeats of
// the same reason and message on the same object bump the count of one Event, as kubelets do, and
// like client-go's recorder each object gets at most 25 Event writes at once and one more every five
// minutes after that, so an object that keeps failing does not write to the tenant at every retry.
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { KubeClient, KubeObject, ResourceType } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';

const eventsType: ResourceType = { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true };

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
}

/** client-go's spam filter: a burst of 25 Events per object, then one per 300 s. */
export const eventBurst = 25;
export const eventRefillMs = 300_000;

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly seen = new LRUCache<string, { name: string; namespace: string; count: number }>({ max: 4096 });
  /** Each object's token bucket (by UID): tokens left, and when they were counted. */
  private readonly buckets = new LRUCache<string, { tokens: number; at: number }>({ max: 4096 });
  private readonly component: string;
  private readonly now: () => number;

  constructor(client: KubeClient, log: Logger, component = 'vnest-syncer', now: () => number = Date.now) {
    this.client = client;
    this.log = log;
    this.component = component;
    this.now = now;
  }

  /** Takes a token of the object's bucket; false when it has none left (the Event is dropped). */
  private admit(id: string): boolean {
    const t = this.now();
    const b = this.buckets.get(id) ?? { tokens: eventBurst, at: t };
    b.tokens = Math.min(eventBurst, b.tokens + (t - b.at) / eventRefillMs);
    b.at = t;
    this.buckets.set(id, b);
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
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
    const id = `${namespace}/${obj.metadata.uid ?? obj.metadata.name}`;
    if (!this.admit(id)) {
      this.log.debug({ object: `${namespace}/${obj.metadata.name}`, reason }, 'event dropped: too many for this object (one more every five minutes)');
      return;
    }
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
