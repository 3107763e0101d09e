// Which virtual ConfigMaps, Secrets and PVCs are referenced, by pods and by custom resources that
// name them, kept up to date from their informers. Changes enqueue the referenced objects' keys, so
// they sync while referenced and leave the host when nothing references them.
import type { KubeObject } from '../../kube/client.ts';
import type { Informer } from '../../kube/informer.ts';
import { objectKey } from '../../kube/informer.ts';
import { podProblems, podReferences, type Pod } from '../../translate/pods.ts';
import { types, type SyncContext } from '../context.ts';
import type { RuntimeClassIndex } from './runtime-classes.ts';

export type ReferencedKind = 'configmaps' | 'secrets' | 'pvcs';
export type References = Record<ReferencedKind, Set<string>>;
const kinds = ['configmaps', 'secrets', 'pvcs'] as const;
const none = (): Record<ReferencedKind, string[]> => ({ configmaps: [], secrets: [], pvcs: [] });
const empty = (): References => ({ configmaps: new Set(), secrets: new Set(), pvcs: new Set() });

export class ReferenceIndex {
  private readonly refs: Record<ReferencedKind, Map<string, Set<string>>> = { configmaps: new Map(), secrets: new Map(), pvcs: new Map() };
  private readonly bySource = new Map<string, Record<ReferencedKind, string[]>>();
  private readonly listeners: Record<ReferencedKind, Array<(key: string) => void>> = { configmaps: [], secrets: [], pvcs: [] };

  constructor(ctx: SyncContext, runtimeClasses: RuntimeClassIndex) {
    // A refused pod never reaches the host, and neither does what only it references (podProblems
    // keeps its verdicts per spec generation: pod events are mostly status changes). Whether a pod
    // naming a RuntimeClass is refused depends on the classes, so their changes count too.
    const isRefused = (p: Pod) => podProblems(runtimeClasses.forHost(p), ctx.config.policy).length > 0;
    const pods = ctx.informers.virtual<Pod>(types.pods);
    const update = this.addSource('Pod', pods, (p) => (isRefused(p) ? empty() : podReferences(p)));
    runtimeClasses.onChange(() => pods.list((p) => Boolean(p.spec.runtimeClassName)).forEach(update));
  }

  /** Tracks what objects of one kind reference, by name in their own namespace; returns the update of one object. */
  addSource<T extends KubeObject>(kind: string, informer: Informer<T>, extract: (obj: T) => References): (obj: T) => void {
    const update = (obj: T) => {
      const ns = obj.metadata.namespace ?? '';
      const found = extract(obj);
      const next = none();
      for (const k of kinds) next[k] = [...found[k]].map((n) => `${ns}/${n}`);
      this.apply(`${kind}:${objectKey(obj)}`, next);
    };
    informer.addHandlers({
      onAdd: update,
      onUpdate: (_, o) => update(o),
      onDelete: (o) => {
        const source = `${kind}:${objectKey(o)}`;
        this.apply(source, none());
        this.bySource.delete(source);
      },
    });
    return update;
  }

  onChange(kind: ReferencedKind, fn: (key: string) => void): void {
    this.listeners[kind].push(fn);
  }

  isReferenced(kind: ReferencedKind, key: string): boolean {
    return (this.refs[kind].get(key)?.size ?? 0) > 0;
  }

  /** Keys of the objects of `sourceKind` (as given to addSource; pods: 'Pod') that reference `key`. */
  referencing(kind: ReferencedKind, key: string, sourceKind: string): string[] {
    const prefix = `${sourceKind}:`;
    return [...(this.refs[kind].get(key) ?? [])].filter((s) => s.startsWith(prefix)).map((s) => s.slice(prefix.length));
  }

  private apply(source: string, next: Record<ReferencedKind, string[]>): void {
    const prev = this.bySource.get(source) ?? none();
    for (const kind of kinds) {
      const before = new Set(prev[kind]);
      const after = new Set(next[kind]);
      for (const key of before) {
        if (after.has(key)) continue;
        const set = this.refs[kind].get(key);
        set?.delete(source);
        if (set?.size === 0) this.refs[kind].delete(key);
        this.listeners[kind].forEach((fn) => fn(key));
      }
      for (const key of after) {
        if (before.has(key)) continue;
        let set = this.refs[kind].get(key);
        if (!set) this.refs[kind].set(key, (set = new Set()));
        set.add(source);
        this.listeners[kind].forEach((fn) => fn(key));
      }
    }
    this.bySource.set(source, next);
  }
}
