// Virtual nodes. `fake` and `real` mode: one for every host node that runs a pod of this tenant (or
// to which a virtual pod is still bound), gone when none does; `all` mode: also every host node the
// tenant's pods may run on (those the operator's node selector picks). `fake` mode shows the name,
// readiness and generic capacity; `real` and `all` mode mirror the host node's labels, capacity,
// conditions, taints and unschedulable flag. A tenant's control plane runs without the node
// lifecycle controller (chart and local mode alike), so nothing expects node heartbeats or Leases:
// once in sync, a virtual node costs no writes.
import type { KubeObject } from '../../kube/client.ts';
import { isAlreadyExists, isNotFound } from '../../kube/errors.ts';
import { Controller } from '../../controller/controller.ts';
import type { Informer } from '../../kube/informer.ts';
import { objectKey } from '../../kube/informer.ts';
import { marks } from '../../translate/metadata.ts';
import { jsonEqual } from '../patcher.ts';
import { types, type SyncContext } from '../context.ts';

 
type Node = KubeObject & { spec?: Record<string, any>; status?: Record<string, any> };
type PodLike = KubeObject & { spec?: { nodeName?: string } };

const managedNodeLabel = marks.managed;

class NodeIndex {
  private readonly byNode = new Map<string, Set<string>>();
  private readonly nodeOf = new Map<string, string>();

  /**
   * Records that pod `key` is on `node` (undefined: on none, or gone); returns the nodes that gained
   * their first pod or lost their last, the only changes that make a node needed or not.
   */
  set(key: string, node: string | undefined): string[] {
    const changed: string[] = [];
    const old = this.nodeOf.get(key);
    if (old === node) return changed;
    if (old) {
      const set = this.byNode.get(old);
      set?.delete(key);
      if (set?.size === 0) {
        this.byNode.delete(old);
        changed.push(old);
      }
      this.nodeOf.delete(key);
    }
    if (node) {
      let set = this.byNode.get(node);
      if (!set) {
        this.byNode.set(node, (set = new Set()));
        changed.push(node);
      }
      set.add(key);
      this.nodeOf.set(key, node);
    }
    return changed;
  }

  count(node: string): number {
    return this.byNode.get(node)?.size ?? 0;
  }
}

export class VirtualNodes {
  readonly controller: Controller;
  private readonly ctx: SyncContext;
  private readonly vNodes: Informer<Node>;
  private readonly hNodes: Informer<Node> | undefined;
  private readonly hostPods = new NodeIndex();
  private readonly virtualPods = new NodeIndex();

  constructor(ctx: SyncContext) {
    this.ctx = ctx;
    this.vNodes = ctx.informers.virtual<Node>(types.nodes);
    this.hNodes = ctx.config.nodeSync === 'fake' ? undefined : ctx.informers.host<Node>(types.nodes);
    this.controller = new Controller({ name: 'nodes', workers: 2, logger: ctx.log, reconcile: (name) => this.reconcile(name) });
    const track = (index: NodeIndex) => ({
      onAdd: (p: PodLike) => index.set(objectKey(p), p.spec?.nodeName).forEach((n) => this.controller.enqueue(n)),
      onUpdate: (_: PodLike, p: PodLike) => index.set(objectKey(p), p.spec?.nodeName).forEach((n) => this.controller.enqueue(n)),
      onDelete: (p: PodLike) => index.set(objectKey(p), undefined).forEach((n) => this.controller.enqueue(n)),
    });
    ctx.informers.host<PodLike>(types.pods).addHandlers(track(this.hostPods));
    ctx.informers.virtual<PodLike>(types.pods).addHandlers(track(this.virtualPods));
    const fromHost = (n: Node) => this.controller.enqueue(n.metadata.name);
    this.hNodes?.addHandlers({ onAdd: fromHost, onUpdate: (_, n) => fromHost(n), onDelete: fromHost });
    // After a restart, a virtual node nothing runs on any more must still be looked at (and go);
    // a tenant's change to a node's status or taints is put back.
    this.vNodes.addHandlers({ onAdd: (n) => this.controller.enqueue(n.metadata.name), onUpdate: (_, n) => this.controller.enqueue(n.metadata.name) });
  }

  /** Makes sure virtual node `name` exists, before a pod is bound to it. */
  async ensure(name: string): Promise<void> {
    if (this.vNodes.has(name)) return;
    await this.create(name);
  }

  /** Whether the tenant may run pods on host node `name` (all mode shows every such node). */
  private offered(name: string): boolean {
    const host = this.hNodes?.get(name);
    if (this.ctx.config.nodeSync !== 'all' || !host) return false;
    const labels = host.metadata.labels ?? {};
    return Object.entries(this.ctx.config.policy.nodeSelector).every(([k, v]) => labels[k] === v);
  }

  private async reconcile(name: string): Promise<void> {
    const needed = this.hostPods.count(name) > 0 || this.virtualPods.count(name) > 0 || this.offered(name);
    const vNode = this.vNodes.get(name);
    if (!needed) {
      if (vNode?.metadata.labels?.[managedNodeLabel] === 'true') {
        await this.ctx.virtual.delete(types.nodes, undefined, name, { uid: vNode.metadata.uid }).catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
      }
      return;
    }
    if (!vNode) await this.create(name);
    else if (vNode.metadata.labels?.[managedNodeLabel] === 'true') await this.updateStatus(vNode);
  }

  private desiredStatus(name: string, now: string): Record<string, any> {
    const host = this.hNodes?.get(name);
    if (host?.status) {
      const { capacity, allocatable, conditions, nodeInfo, addresses } = host.status;
      return { capacity, allocatable, conditions, nodeInfo, addresses };
    }
    return {
      capacity: { cpu: '32', memory: '128Gi', pods: '110' },
      allocatable: { cpu: '32', memory: '128Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True', reason: 'VnestHostNodeReady', message: 'pods of this tenant run on this host node', lastHeartbeatTime: now, lastTransitionTime: now }],
      nodeInfo: { kubeletVersion: 'vnest', kubeProxyVersion: 'vnest', operatingSystem: 'linux', architecture: 'amd64', containerRuntimeVersion: 'vnest', kernelVersion: '', osImage: 'vnest virtual node', machineID: '', systemUUID: '', bootID: '' },
      addresses: [{ type: 'Hostname', address: name }],
    };
  }

  private labels(name: string): Record<string, string> {
    const host = this.hNodes?.get(name);
    const base = host?.metadata.labels ?? { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' };
    return { ...base, [managedNodeLabel]: 'true' };
  }

  private async create(name: string): Promise<void> {
    let created: Node | undefined;
    try {
      created = await this.ctx.virtual.create<Node>(types.nodes, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: this.labels(name) }, spec: {} });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    await this.ctx.virtual.patch(types.nodes, undefined, name, { status: this.desiredStatus(name, new Date().toISOString()) }, 'merge', 'status');
    if (created) await this.alignSpec(created);
  }

  /** The host node's taints (none in fake mode) without their times, and whether it is cordoned. */
  private desiredSpec(name: string): { taints: Array<Record<string, string>>; unschedulable: boolean } {
    const spec = this.hNodes?.get(name)?.spec;
    return { taints: plainTaints(spec?.taints), unschedulable: spec?.unschedulable === true };
  }

  /**
   * A new node gets `node.kubernetes.io/not-ready:NoSchedule` from the API server, and the
   * controller that lifts it once the node is Ready does not run in a tenant: the syncer sets the
   * taints the host node has instead (and its unschedulable flag), so clients waiting for
   * schedulable nodes see what the host scheduler sees. A tenant's change is put back.
   */
  private async alignSpec(vNode: Node): Promise<void> {
    const want = this.desiredSpec(vNode.metadata.name);
    const have = { taints: plainTaints(vNode.spec?.taints), unschedulable: vNode.spec?.unschedulable === true };
    if (jsonEqual(have, want)) return;
    await this.ctx.virtual.patch(types.nodes, undefined, vNode.metadata.name, {
      spec: { taints: want.taints.length > 0 ? want.taints : null, unschedulable: want.unschedulable ? true : null },
    }, 'merge');
  }

  /** Mirrored nodes carry the host node's labels, and only those (plus vnest's mark). */
  private async alignLabels(vNode: Node): Promise<void> {
    if (!this.hNodes?.get(vNode.metadata.name)) return;
    const want = this.labels(vNode.metadata.name);
    const have = vNode.metadata.labels ?? {};
    if (jsonEqual(have, want)) return;
    const gone = Object.fromEntries(Object.keys(have).filter((k) => !(k in want)).map((k) => [k, null]));
    await this.ctx.virtual.patch(types.nodes, undefined, vNode.metadata.name, { metadata: { labels: { ...gone, ...want } } }, 'merge');
  }

  private async updateStatus(vNode: Node): Promise<void> {
    const name = vNode.metadata.name;
    await this.alignSpec(vNode);
    await this.alignLabels(vNode);
    const desired = this.desiredStatus(name, new Date().toISOString());
    const current = vNode.status ?? {};
    // In real and all mode, follow the host node. Only the fields vnest sets are compared (the API
    // server adds others, daemonEndpoints for one), and conditions without their times.
    const strip = (s: Record<string, any>) => ({
      ...Object.fromEntries(Object.keys(desired).map((k) => [k, s[k] ?? null])),
      conditions: (s.conditions ?? []).map((c: any) => ({ type: c.type, status: c.status, reason: c.reason })),
    });
    if (jsonEqual(strip(current), strip(desired))) return;
    await this.ctx.virtual.patch(types.nodes, undefined, name, { status: desired }, 'merge', 'status');
  }
}

/** Taints as key, value (when set) and effect, without the time a NoExecute taint was added. */
function plainTaints(taints: unknown): Array<Record<string, string>> {
  return ((taints ?? []) as Array<Record<string, string>>).map(({ key, value, effect }) => ({ key: key ?? '', ...(value ? { value } : {}), effect: effect ?? '' }));
}
