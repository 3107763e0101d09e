// RuntimeClasses: the host's RuntimeClasses the operator permits (--runtime-classes) appear
// read-only in the tenant under the same name, with their handler, overhead and scheduling, so the
// tenant's own admission accepts pods naming them. Tenant edits are put back; a tenant's own class
// that holds a permitted name is replaced; copies of classes no longer permitted or gone on the host
// go. Nothing is written on the host: a tenant's own RuntimeClasses never reach it, and a pod
// naming one runs with the permitted host class of the same handler, or is refused (hostRuntimeClass).
import { Controller } from '../../controller/controller.ts';
import type { KubeObject, ResourceType } from '../../kube/client.ts';
import { isAlreadyExists, isNotFound } from '../../kube/errors.ts';
import type { Informer } from '../../kube/informer.ts';
import { marks } from '../../translate/metadata.ts';
import { hostName } from '../../translate/names.ts';
import type { Pod } from '../../translate/pods.ts';
import { types, type SyncContext } from '../context.ts';
import { guardedPatch } from '../patcher.ts';

export type RuntimeClass = KubeObject & { handler?: string; overhead?: unknown; scheduling?: unknown };

export const runtimeClasses: ResourceType = { group: 'node.k8s.io', version: 'v1', plural: 'runtimeclasses', kind: 'RuntimeClass', namespaced: false };

/** The fields a copy takes from the host's class. */
const copied = (rc: RuntimeClass) => ({ handler: rc.handler ?? '', overhead: rc.overhead ?? null, scheduling: rc.scheduling ?? null });

/**
 * The tenant's RuntimeClasses and the host's (all of them: a cluster has few), the latter only
 * when the operator permits some (reading them takes a ClusterRole); and which host class a pod
 * runs with.
 */
export class RuntimeClassIndex {
  readonly host?: Informer<RuntimeClass>;
  readonly virtual: Informer<RuntimeClass>;
  private readonly hostPods: Informer<Pod>;
  private readonly ctx: SyncContext;

  constructor(ctx: SyncContext) {
    this.ctx = ctx;
    if (ctx.config.policy.runtimeClasses.size > 0) this.host = ctx.informers.host<RuntimeClass>(runtimeClasses, {});
    this.virtual = ctx.informers.virtual<RuntimeClass>(runtimeClasses);
    this.hostPods = ctx.informers.host<Pod>(types.pods);
  }

  /** Calls `fn` when a class appears or changes on either side. */
  onChange(fn: () => void): void {
    for (const i of [this.host, this.virtual]) i?.addHandlers({ onAdd: fn, onUpdate: fn });
  }

  /**
   * The pod as the host is to see its runtime class: the class its host copy has (fixed at
   * creation, as admission fixes it on any cluster), or the host class the tenant's class of that
   * name stands for (hostRuntimeClass). Pods naming none are returned as they are.
   */
  forHost(vPod: Pod): Pod {
    const name: string | undefined = vPod.spec.runtimeClassName;
    if (!name) return vPod;
    const { tenant, hostNamespace, policy } = this.ctx.config;
    const hPod = this.hostPods.get(`${hostNamespace}/${hostName(vPod.metadata.name, vPod.metadata.namespace ?? '', tenant)}`);
    const host = hPod?.metadata.annotations?.[marks.objectUid] === vPod.metadata.uid
      ? (hPod?.spec.runtimeClassName ?? name)
      : hostRuntimeClass(name, this, policy.runtimeClasses);
    return host === name ? vPod : { ...vPod, spec: { ...vPod.spec, runtimeClassName: host } };
  }
}

/**
 * The host RuntimeClass a pod naming tenant class `name` runs with, or `name` itself when none
 * fits (the pod policy then refuses it unless it is permitted): the permitted host class of that
 * name when the tenant's class is vnest's copy, or else the permitted host class with the handler
 * of the tenant's own class (of the same name if several have it, else the first by name). The
 * host applies that class's overhead and scheduling, so the tenant gets what the operator permits.
 */
export function hostRuntimeClass(name: string, inf: Pick<RuntimeClassIndex, 'host' | 'virtual'>, permitted: ReadonlySet<string>): string {
  const own = inf.virtual.get(name);
  if (!inf.host || !own || own.metadata.labels?.[marks.managed] === 'true') return name;
  const same = inf.host.list((h) => permitted.has(h.metadata.name) && h.handler === own.handler).map((h) => h.metadata.name).sort();
  return same.includes(name) ? name : (same[0] ?? name);
}

export function createRuntimeClassSync(ctx: SyncContext, inf: RuntimeClassIndex): { controller: Controller } {
  const permitted = ctx.config.policy.runtimeClasses;

  async function reconcile(name: string): Promise<void> {
    const h = permitted.has(name) ? inf.host?.get(name) : undefined;
    const v = inf.virtual.get(name);
    const ours = v?.metadata.labels?.[marks.managed] === 'true';
    if (!h) {
      // Only copies go; a tenant's own class of another name is its business.
      if (v && ours) await remove(v);
      return;
    }
    if (!v) {
      await ctx.virtual.create(runtimeClasses, undefined, { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name, labels: { [marks.managed]: 'true' } }, ...dropNull(copied(h)) })
        .catch((err: unknown) => {
          if (!isAlreadyExists(err)) throw err;
        });
      return;
    }
    if (v.handler !== h.handler) {
      // The handler cannot change in place (and a tenant's class of this name has its own):
      // replace the object; its delete brings it back here.
      ctx.log.info({ runtimeClass: name, tenantMade: !ours }, 'replacing the tenant\'s RuntimeClass with the host\'s');
      await remove(v);
      return;
    }
    const current = { metadata: { labels: v.metadata.labels ?? {} }, ...copied(v) };
    const ops = guardedPatch(current, { metadata: { labels: { [marks.managed]: 'true' } }, ...copied(h) }, v.metadata.resourceVersion);
    if (ops.length > 0) await ctx.virtual.patch(runtimeClasses, undefined, name, ops, 'json');
  }

  async function remove(v: RuntimeClass): Promise<void> {
    await ctx.virtual.delete(runtimeClasses, undefined, v.metadata.name, { uid: v.metadata.uid }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }

  const controller = new Controller({ name: 'runtimeclasses', workers: 2, logger: ctx.log, reconcile });
  const enqueue = (o: RuntimeClass) => {
    if (permitted.has(o.metadata.name)) controller.enqueue(o.metadata.name);
  };
  for (const i of [inf.host, inf.virtual]) i?.addHandlers({ onAdd: enqueue, onUpdate: (_, o) => enqueue(o), onDelete: enqueue });
  // A copy of a class the operator no longer permits is looked at too, and goes.
  inf.virtual.addHandlers({
    onAdd: (o) => {
      if (o.metadata.labels?.[marks.managed] === 'true') controller.enqueue(o.metadata.name);
    },
  });
  return { controller };
}

function dropNull(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null));
}
