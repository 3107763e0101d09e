// Which virtual ConfigMaps, Secrets and PVCs the virtual pods reference, kept up to date from the
// pod informer. Changes enqueue the referenced objects' keys, so they sync while referenced and
// leave the host when nothing references them.
import type { KubeObject } from '../../kube/client.ts';
import { objectKey } from '../../kube/informer.ts';
import { podReferences, type Pod } from '../../translate/pods.ts';
import { types, type SyncContext } from '../context.ts';

export type ReferencedKind = 'configmaps' | 'secrets' | 'pvcs';

export class ReferenceIndex {
  private readonly refs: Record<ReferencedKind, Map<string, Set<string>>> = { configmaps: new Map(), secrets: new Map(), pvcs: new Map() };
  private readonly byPod = new Map<string, Record<ReferencedKind, string[]>>();
  private readonly listeners: Record<ReferencedKind, Array<(key: string) => void>> = { configmaps: [], secrets: [], pvcs: [] };

  constructor(ctx: SyncContext) {
    const pods = ctx.informers.virtual<Pod>(types.pods);
    pods.addHandlers({
      onAdd: (p) => this.update(p),
      onUpdate: (_, p) => this.update(p),
      onDelete: (p) => this.remove(objectKey(p)),
    });
  }

  onChange(kind: ReferencedKind, fn: (key: string) => void): void {
    this.listeners[kind].push(fn);
  }

  isReferenced(kind: ReferencedKind, key: string): boolean {
    return (this.refs[kind].get(key)?.size ?? 0) > 0;
  }

  private update(pod: KubeObject): void {
    const podKey = objectKey(pod);
    const ns = pod.metadata.namespace ?? '';
    // A pod on its way out keeps its references until it is gone: its host pod still uses them.
    const found = podReferences(pod as Pod);
    const next: Record<ReferencedKind, string[]> = {
      configmaps: [...found.configmaps].map((n) => `${ns}/${n}`),
      secrets: [...found.secrets].map((n) => `${ns}/${n}`),
      pvcs: [...found.pvcs].map((n) => `${ns}/${n}`),
    };
    this.apply(podKey, next);
  }

  private remove(podKey: string): void {
    this.apply(podKey, { configmaps: [], secrets: [], pvcs: [] });
    this.byPod.delete(podKey);
  }

  private apply(podKey: string, next: Record<ReferencedKind, string[]>): void {
    const prev = this.byPod.get(podKey) ?? { configmaps: [], secrets: [], pvcs: [] };
    for (const kind of ['configmaps', 'secrets', 'pvcs'] as const) {
      const before = new Set(prev[kind]);
      const after = new Set(next[kind]);
      for (const key of before) {
        if (after.has(key)) continue;
        const set = this.refs[kind].get(key);
        set?.delete(podKey);
        if (set?.size === 0) this.refs[kind].delete(key);
        this.listeners[kind].forEach((fn) => fn(key));
      }
      for (const key of after) {
        if (before.has(key)) continue;
        let set = this.refs[kind].get(key);
        if (!set) this.refs[kind].set(key, (set = new Set()));
        set.add(podKey);
        this.listeners[kind].forEach((fn) => fn(key));
      }
    }
    this.byPod.set(podKey, next);
  }
}
