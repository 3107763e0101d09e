// The faults a chaos run injects, each of which heals itself when its time is up: the syncer killed
// (at any moment, during its start-up, or during its drain after SIGTERM), an API server or etcd
// stopped (SIGSTOP/SIGCONT) or an API server killed and started again, the loopback proxy between
// the syncer and one API stalling or resetting its connections (watch streams cut mid-event), etcd
// compacted under cut watches (so resumed watches may meet 410 Gone), and the host refusing
// writes in the tenant's host namespace (a ResourceQuota of zero; an admission webhook that is down).
import type { KubeClient, ResourceType } from '../../src/kube/client.ts';
import { isAlreadyExists, isNotFound } from '../../src/kube/errors.ts';
import type { ControlPlane } from '../../src/local/control-plane.ts';
import type { Component } from '../../src/local/process.ts';
import type { FaultyProxy } from './proxy.ts';
import type { Rng } from './rng.ts';

export const faultKinds = [
  'syncer-kill', 'syncer-kill-startup', 'syncer-kill-drain',
  'tenant-apiserver-stop', 'host-apiserver-stop', 'tenant-etcd-stop', 'host-etcd-stop',
  'tenant-apiserver-kill', 'host-apiserver-kill',
  'tenant-proxy-stall', 'host-proxy-stall', 'tenant-proxy-reset', 'host-proxy-reset',
  'tenant-compact', 'host-compact',
  'host-quota', 'host-webhook-down',
] as const;
export type FaultKind = (typeof faultKinds)[number];

export interface SyncerControl {
  /** Kills the running syncer with `signal` and waits for it to exit (SIGKILL after `graceMs`). */
  kill(signal: NodeJS.Signals, graceMs?: number): Promise<void>;
  /** Starts a syncer; resolves once it is spawned (not ready). */
  spawn(): Component;
}

export interface FaultContext {
  host: ControlPlane;
  tenant: ControlPlane;
  hostClient: KubeClient;
  hostNamespace: string;
  proxies: { host: FaultyProxy; tenant: FaultyProxy };
  syncer: SyncerControl;
  say: (line: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The running component of a control plane by name (the newest, after restarts). */
function component(cp: ControlPlane, name: string): Component {
  const c = [...cp.processes.all].reverse().find((x) => x.name === name && x.running);
  if (!c) throw new Error(`${cp.name}: no running ${name}`);
  return c;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // gone
  }
}

/** Processes stopped with SIGSTOP and not yet continued: continued for sure when the run ends. */
export const stoppedGroups = new Set<number>();
export function continueAll(): void {
  for (const pid of stoppedGroups) signalGroup(pid, 'SIGCONT');
  stoppedGroups.clear();
}

const resourceQuotas: ResourceType = { group: '', version: 'v1', plural: 'resourcequotas', kind: 'ResourceQuota', namespaced: true };
const webhooks: ResourceType = { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'validatingwebhookconfigurations', kind: 'ValidatingWebhookConfiguration', namespaced: false };

/**
 * Restarts a control-plane component as it was started. After an API outage the
 * test bed's scheduler and controller manager (no leader election) can stay confused: the host's
 * scheduler, its binding lost with a killed API server, reported its cache corrupted and placed
 * no pod again. In a cluster their lost leader lease makes them exit and the kubelet restarts
 * them; this does the same, so a run measures the syncer, not them.
 */
export async function restartComponent(cp: ControlPlane, name: string): Promise<void> {
  // The newest instance, running or not: one that exited while its API was down (the controller
  // manager gives up after 10 s) is started again, as a kubelet would.
  const c = [...cp.processes.all].reverse().find((x) => x.name === name);
  if (!c) return;
  if (c.running) await c.stop(5000);
  cp.processes.start(c.spec);
}

/**
 * Starts a killed API server again, and again while it exits, as a kubelet restarts a static pod
 * that crashed: an API server that cannot reach its etcd within 20 s exits (etcd stopped by an
 * overlapping fault; seed 2424 lost its host API for the rest of the run that way).
 */
export async function startApiserverAgain(cp: ControlPlane, giveUpMs = 300_000): Promise<void> {
  const deadline = Date.now() + giveUpMs;
  for (let wait = 1000; ; wait = Math.min(wait * 2, 10_000)) {
    try {
      await cp.startApiserver();
      return;
    } catch (err) {
      if (Date.now() + wait > deadline) throw err;
      await sleep(wait);
    }
  }
}

/** etcd's current revision and a compaction to it, over etcd's JSON gateway. */
async function compact(endpoint: string): Promise<number> {
  const range = await fetch(`${endpoint}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) });
  const revision = Number(((await range.json()) as { header?: { revision?: string } }).header?.revision ?? 0);
  const res = await fetch(`${endpoint}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(revision), physical: true }) });
  if (!res.ok) throw new Error(`etcd compaction to ${revision}: HTTP ${res.status} ${await res.text()}`);
  return revision;
}

/** Injects fault `kind` for about `ms`, then heals it. */
export async function inject(kind: FaultKind, ms: number, ctx: FaultContext, rng: Rng): Promise<void> {
  const side = kind.startsWith('host') ? 'host' : 'tenant';
  const cp = side === 'host' ? ctx.host : ctx.tenant;
  switch (kind) {
    case 'syncer-kill':
      await ctx.syncer.kill('SIGKILL');
      await sleep(rng.int(0, 3000));
      ctx.syncer.spawn();
      return;
    case 'syncer-kill-startup': {
      // Killed again while it lists, waits for caches, or starts its controllers.
      await ctx.syncer.kill('SIGKILL');
      for (let i = rng.int(1, 3); i > 0; i--) {
        ctx.syncer.spawn();
        await sleep(rng.int(100, 4000));
        await ctx.syncer.kill('SIGKILL');
      }
      ctx.syncer.spawn();
      return;
    }
    case 'syncer-kill-drain':
      // SIGTERM starts the drain (reconciles in flight finish); SIGKILL cuts it short.
      await ctx.syncer.kill('SIGTERM', rng.int(0, 1500));
      ctx.syncer.spawn();
      return;
    case 'tenant-apiserver-stop':
    case 'host-apiserver-stop':
    case 'tenant-etcd-stop':
    case 'host-etcd-stop': {
      const c = component(cp, kind.includes('etcd') ? 'etcd' : 'kube-apiserver');
      stoppedGroups.add(c.pid);
      signalGroup(c.pid, 'SIGSTOP');
      await sleep(ms);
      signalGroup(c.pid, 'SIGCONT');
      stoppedGroups.delete(c.pid);
      await restartControllers(cp);
      return;
    }
    case 'tenant-apiserver-kill':
    case 'host-apiserver-kill':
      await cp.stopApiserver();
      await sleep(ms);
      await startApiserverAgain(cp);
      await restartControllers(cp);
      return;
    case 'tenant-proxy-stall':
    case 'host-proxy-stall': {
      const proxy = ctx.proxies[side];
      proxy.stall();
      await sleep(ms);
      // Half the time the stalled connections are cut rather than resumed (a dead peer's timeout).
      if (rng.chance(0.5)) proxy.reset();
      proxy.resume();
      return;
    }
    case 'tenant-proxy-reset':
    case 'host-proxy-reset': {
      const proxy = ctx.proxies[side];
      const end = Date.now() + ms;
      while (Date.now() < end) {
        proxy.reset();
        await sleep(rng.int(200, 5000));
      }
      return;
    }
    case 'tenant-compact':
    case 'host-compact': {
      // Watches stalled, history compacted away, then cut: they resume from a compacted revision.
      const proxy = ctx.proxies[side];
      proxy.stall();
      await sleep(Math.min(ms, rng.int(1000, 5000)));
      await compact(cp.etcdEndpoint).catch((err: unknown) => ctx.say(`chaos: ${(err as Error).message}`));
      proxy.reset();
      proxy.resume();
      await sleep(Math.max(0, ms - 5000));
      return;
    }
    case 'host-quota': {
      const end = Date.now() + ms;
      try {
        await createUntil(end, () => ctx.hostClient.create(resourceQuotas, ctx.hostNamespace, {
          apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'chaos-zero' },
          spec: { hard: { pods: '0', configmaps: '0', secrets: '0', services: '0', persistentvolumeclaims: '0' } },
        }));
        await sleep(Math.max(0, end - Date.now()));
      } finally {
        await deleteUntilGone(() => ctx.hostClient.delete(resourceQuotas, ctx.hostNamespace, 'chaos-zero'));
      }
      return;
    }
    case 'host-webhook-down': {
      const end = Date.now() + ms;
      try {
        await createUntil(end, () => ctx.hostClient.create(webhooks, undefined, {
          apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'chaos-down' },
          webhooks: [{
            name: 'down.chaos.vnest.dev', admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail', timeoutSeconds: 2,
            // Nothing listens there: every call fails, so every matching write is refused.
            clientConfig: { url: 'https://127.0.0.1:9/validate' },
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ctx.hostNamespace } },
            rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['pods', 'configmaps', 'secrets', 'services', 'persistentvolumeclaims'] }],
          }],
        }));
        await sleep(Math.max(0, end - Date.now()));
      } finally {
        await deleteUntilGone(() => ctx.hostClient.delete(webhooks, undefined, 'chaos-down'));
      }
      return;
    }
  }
}

/** The controller manager and the scheduler (on the host) start afresh after an outage of their API. */
async function restartControllers(cp: ControlPlane): Promise<void> {
  await restartComponent(cp, 'kube-controller-manager');
  await restartComponent(cp, 'kube-scheduler');
}

/** Deletes a fault's object, again and again while the host API is down, until it is gone. */
async function deleteUntilGone(remove: () => Promise<unknown>): Promise<void> {
  for (;;) {
    try {
      await remove();
      return;
    } catch (err) {
      if (isNotFound(err)) return;
      await sleep(1000);
    }
  }
}

/**
 * Creates a fault's object, again while the host API is down (another fault), until the fault's
 * end; an object that exists already (an earlier try whose answer was lost) counts. The caller
 * removes it in any case: a create whose answer was lost may have been stored.
 */
async function createUntil(end: number, create: () => Promise<unknown>): Promise<void> {
  for (;;) {
    try {
      await create();
      return;
    } catch (err) {
      if (isAlreadyExists(err)) return;
      if (Date.now() + 1000 > end) throw err;
      await sleep(1000);
    }
  }
}
