// The chaos harness: a host cluster (kwok nodes) and a tenant control plane on loopback, the syncer
// as a separate process talking to both APIs through faulty proxies, a workload that never stops
// changing, and rounds of faults injected at moments drawn from a seed. After each round's faults
// have healed, it waits for convergence and checks the invariants (invariants.ts), then checks that
// the syncer writes nothing while nothing changes; at the end, that its memory is back near idle.
// Everything it starts is in process groups with a watchdog, so nothing outlives it.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { KubeClient, type KubeObject } from '../../src/kube/client.ts';
import { Informer } from '../../src/kube/informer.ts';
import { renderKubeconfig } from '../../src/kube/kubeconfig.ts';
import type { ControlPlane } from '../../src/local/control-plane.ts';
import { HostCluster, startVirtualControlPlane } from '../../src/local/host-cluster.ts';
import { loadKit, type Kit } from '../../src/local/kit.ts';
import { PortAllocator } from '../../src/local/ports.ts';
import { ProcessGroup, tail, type Component } from '../../src/local/process.ts';
import { types } from '../../src/syncer/context.ts';
import { continueAll, faultKinds, inject, type FaultContext, type FaultKind, type SyncerControl } from './faults.ts';
import { checkInvariants, noViolations, type CheckContext, type CheckResult, type InvariantName, type Violations } from './invariants.ts';
import { FaultyProxy } from './proxy.ts';
import { Rng } from './rng.ts';
import { Workload } from './workload.ts';

export interface ChaosOptions {
  seed: number;
  rounds: number;
  /** How long the workload changes in each round (faults may make a round longer). */
  roundSeconds: number;
  /** Shortest and longest fault (outages, stalls, refusals), in seconds. */
  faultSeconds: [number, number];
  /** Most faults in one round (at least one), at overlapping moments on different targets. */
  maxFaultsPerRound: number;
  /** Fault kinds to draw from (default all). */
  faults?: readonly FaultKind[];
  namespaces: number;
  maxReplicas: number;
  /**
   * Pods the run creates at least: the last round's workload goes on (without more faults) until
   * the run has created this many, for at most 10 more minutes.
   */
  minPods: number;
  stepMs: number;
  convergeTimeoutSeconds: number;
  /** The quiet window after convergence in which the syncer must write nothing. */
  quietSeconds: number;
  /** The syncer's --resync-seconds (default its own default, 600: a fix that needs a resync is no fix). */
  resyncSeconds: number;
  workers: number;
  /** The syncer's live heap at the end may exceed its idle heap by this much (MiB). */
  memorySlackMb: number;
  kit?: Kit;
  say: (line: string) => void;
  /** Stops the run: the test bed is removed and the run rejects (what is still running of it is the caller's to end, by exiting). */
  signal?: AbortSignal;
}

export const defaultChaosOptions: Omit<ChaosOptions, 'seed' | 'say'> = {
  rounds: 20, roundSeconds: 30, faultSeconds: [5, 60], maxFaultsPerRound: 2, namespaces: 3, maxReplicas: 6, minPods: 1000, stepMs: 700,
  convergeTimeoutSeconds: 300, quietSeconds: 5, resyncSeconds: 600, workers: 16, memorySlackMb: 48,
};

export interface RoundResult {
  round: number;
  faults: string[];
  convergeSeconds: number;
  converged: boolean;
  violations: Violations;
  idleWrites: number;
}

export interface ChaosReport {
  seed: number;
  rounds: number;
  violations: Violations;
  maxConvergeSeconds: number;
  convergeSeconds: number[];
  podsCreated: number;
  faults: Record<string, number>;
  /**
   * Faults of each kind the harness could not inject in full (a defect of the harness, not of the
   * syncer, but the run then proves less than it says): any makes the run fail.
   */
  faultsFailed: Record<string, number>;
  workloadActions: number;
  workloadFailures: number;
  syncerStarts: number;
  syncerExits: number;
  /** Connections the proxies reset (watch streams among them). */
  proxyResets: number;
  /**
   * Watches answered 410 Gone, so that an informer listed afresh (the syncer's /stats, summed over
   * its starts; a lower bound, as a start killed between two reads loses its last count).
   */
  watchesExpired: number;
  idleHeapMb: number;
  finalHeapMb: number;
  seconds: number;
  perRound: RoundResult[];
}

type Counters = { reads: number; writes: number; writesBy: Record<string, number> };
type Stats = { host: Counters; virtual: Counters; memoryMb: { rss: number; heapUsed: number }; liveHeapKb?: number; watchesExpired?: number; controllers: Record<string, { queued: number; inFlight: number }> };

const tenant = 'chaos';
const hostNamespace = 'tenants';
const ownerService = 'chaos';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Which part of the system a fault disturbs: two faults of one round never share one. */
const targetOf = (k: FaultKind) => (k.startsWith('syncer') ? 'syncer'
  : k.includes('proxy') || k.includes('compact') ? `${k.split('-')[0]}-proxy`
    : k.includes('quota') || k.includes('webhook') ? 'host-admission'
      : k.replace(/-(stop|kill)$/, ''));

/**
 * A copy of the syncer's code (src/ and package.json, with the checkout's node_modules) taken when
 * the run starts, so that every restart of a run runs the same code even if src/ is edited
 * meanwhile. Returns the copy's entry point.
 */
export function snapshotCode(dir: string): string {
  const repo = join(import.meta.dirname, '..', '..');
  cpSync(join(repo, 'src'), join(dir, 'src'), { recursive: true, filter: (from) => !from.endsWith('.test.ts') });
  cpSync(join(repo, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
  return join(dir, 'src', 'cli', 'main.ts');
}

/** The syncer process, restarted like a kubelet would (after a second) when it exits on its own. */
class SyncerSupervisor implements SyncerControl {
  private readonly group: ProcessGroup;
  private readonly args: string[];
  private readonly healthPort: number;
  private readonly say: (line: string) => void;
  current: Component | undefined;
  starts = 0;
  exits = 0;
  private monitor: NodeJS.Timeout | undefined;
  private respawning = false;
  /** The last watchesExpired each start reported. */
  private readonly expired = new Map<string, number>();

  private readonly entry: string;

  constructor(dir: string, args: string[], healthPort: number, say: (line: string) => void) {
    mkdirSync(dir, { recursive: true });
    this.group = new ProcessGroup(dir);
    this.entry = snapshotCode(join(dir, 'code'));
    this.args = args;
    this.healthPort = healthPort;
    this.say = say;
  }

  spawn(): Component {
    const c = this.group.start({ name: `syncer-${this.starts++}`, command: process.execPath, args: ['--expose-gc', this.entry, 'syncer', ...this.args] });
    this.current = c;
    this.monitor ??= setInterval(() => this.watch(), 500);
    return c;
  }

  private watch(): void {
    const c = this.current;
    if (!c || c.running || this.respawning) return;
    this.exits++;
    this.say(`chaos: the syncer exited by itself (${c.name}); started again in 1 s. Its last lines:\n${tail(c.logFile, 8)}`);
    this.respawning = true;
    setTimeout(() => {
      this.respawning = false;
      if (this.current === c) this.spawn();
    }, 1000);
  }

  async kill(signal: NodeJS.Signals, graceMs = 0): Promise<void> {
    const c = this.current;
    this.current = undefined;
    if (!c?.running) return;
    try {
      process.kill(-c.pid, signal);
    } catch {
      // gone
    }
    const deadline = Date.now() + graceMs;
    while (c.running && Date.now() < deadline) await sleep(20);
    if (c.running) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    while (c.running) await sleep(20);
  }

  get watchesExpired(): number {
    return [...this.expired.values()].reduce((a, b) => a + b, 0);
  }

  async stats(gc = false): Promise<Stats | undefined> {
    const c = this.current;
    if (!c?.running) return undefined;
    try {
      const res = await fetch(`http://127.0.0.1:${this.healthPort}/stats${gc ? '?gc=1' : ''}`, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) return undefined;
      const s = (await res.json()) as Stats;
      if (typeof s.watchesExpired === 'number') this.expired.set(c.name, s.watchesExpired);
      return s;
    } catch {
      return undefined;
    }
  }

  async ready(): Promise<boolean> {
    if (!this.current?.running) return false;
    try {
      return (await fetch(`http://127.0.0.1:${this.healthPort}/readyz`, { signal: AbortSignal.timeout(5000) })).ok;
    } catch {
      return false;
    }
  }

  /** Ready, and every work queue empty with nothing in flight. */
  async drained(): Promise<boolean> {
    if (!(await this.ready())) return false;
    const s = await this.stats();
    return !!s && Object.values(s.controllers).every((c) => c.queued === 0 && c.inFlight === 0);
  }

  async stop(): Promise<void> {
    clearInterval(this.monitor);
    await this.current?.stop(10_000);
    await this.group.stopAll();
  }

  logTail(lines: number): string {
    return this.current ? tail(this.current.logFile, lines) : '(no syncer running)';
  }
}

function add(into: Violations, from: Violations): void {
  for (const k of Object.keys(into) as InvariantName[]) into[k] += from[k];
}

/** Runs the whole chaos run and returns its report (it throws only when the test bed itself fails). */
export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const started = performance.now();
  const say = opts.say;
  const rng = new Rng(opts.seed);
  const faultRng = rng.fork();
  const workloadRng = rng.fork();
  const kit = opts.kit ?? (await loadKit());
  const ports = new PortAllocator();
  say(`chaos: seed ${opts.seed}, ${opts.rounds} rounds; starting the test bed ...`);
  const beds = await Promise.allSettled([
    // kwok renews node Leases but, unlike a kubelet, never sets a pod's Ready back: a host outage
    // longer than the node monitor grace period would leave the node lifecycle controller's "not
    // ready" on host pods for ever. The grace period outlasts the longest host outage a round makes
    // (two faults of at most 60 s).
    HostCluster.start({ kit, ports, nodes: 3, podsPerNode: 200, controllerManagerArgs: ['--node-monitor-grace-period=180s'] }),
    startVirtualControlPlane({ kit, ports, name: 'chaos' }),
  ]);
  const failed = beds.find((b) => b.status === 'rejected');
  if (failed || opts.signal?.aborted) {
    await Promise.all(beds.flatMap((b) => (b.status === 'fulfilled' ? [b.value.stop()] : [])));
    throw failed ? failed.reason : new Error('chaos: stopped by a signal');
  }
  const host = (beds[0] as PromiseFulfilledResult<HostCluster>).value;
  const virtual = (beds[1] as PromiseFulfilledResult<ControlPlane>).value;
  say(`chaos: test bed in ${host.controlPlane.dir} (host) and ${virtual.dir} (tenant)`);
  const proxies = {
    host: new FaultyProxy('host', { host: '127.0.0.1', port: Number(new URL(host.server).port) }),
    tenant: new FaultyProxy('tenant', { host: '127.0.0.1', port: Number(new URL(virtual.server).port) }),
  };
  let supervisor: SyncerSupervisor | undefined;
  let podInformer: Informer<KubeObject> | undefined;
  const clients: KubeClient[] = [];
  // The test bed goes at the end, or at once on opts.signal (the run then rejects).
  let down: Promise<void> | undefined;
  const teardown = () => (down ??= (async () => {
    continueAll();
    await podInformer?.stop();
    for (const c of clients) c.close();
    await supervisor?.stop();
    await proxies.host.close();
    await proxies.tenant.close();
    await Promise.all([host.stop(), virtual.stop()]);
  })());
  const stopped = new Promise<never>((_, reject) => {
    opts.signal?.addEventListener('abort', () => {
      say('chaos: stopped by a signal; removing the test bed ...');
      void teardown().finally(() => reject(new Error('chaos: stopped by a signal')));
    }, { once: true });
  });
  try {
    return await Promise.race([stopped, (async (): Promise<ChaosReport> => {
      await proxies.host.listen();
      await proxies.tenant.listen();
      const dir = join(host.controlPlane.dir, 'chaos');
      mkdirSync(dir, { recursive: true });
      const viaProxy = (name: string, cp: ControlPlane, proxy: FaultyProxy) => {
        const path = join(dir, `${name}-via-proxy.kubeconfig`);
        writeFileSync(path, renderKubeconfig({ name, server: proxy.url, caPem: cp.ca.certPem, credentials: cp.admin }), { mode: 0o600 });
        return path;
      };
      const hostClient = await KubeClient.fromKubeconfigFile(host.kubeconfigPath, { qps: 1000, burst: 1000 });
      const virtualClient = await KubeClient.fromKubeconfigFile(virtual.kubeconfigPath, { qps: 1000, burst: 1000 });
      clients.push(hostClient, virtualClient);
      await hostClient.create(types.namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: hostNamespace } });
      await hostClient.create(types.services, hostNamespace, { apiVersion: 'v1', kind: 'Service', metadata: { name: ownerService }, spec: { ports: [{ port: 443, targetPort: 8443 }] } });

      const healthPort = await ports.next();
      supervisor = new SyncerSupervisor(join(dir, 'syncer'), [
        `--tenant=${tenant}`, `--host-namespace=${hostNamespace}`,
        `--virtual-kubeconfig=${viaProxy('tenant', virtual, proxies.tenant)}`, `--host-kubeconfig=${viaProxy('host', host.controlPlane, proxies.host)}`,
        `--owner-service=${ownerService}`, '--listen-port=0', '--coredns=false', `--workers=${opts.workers}`,
        `--resync-seconds=${opts.resyncSeconds}`, `--health-port=${healthPort}`, '--log-level=info',
      ], healthPort, say);
      const sup = supervisor;
      sup.spawn();

      // Pods created in the tenant over the run (each UID once).
      const podUids = new Set<string>();
      podInformer = new Informer<KubeObject>(virtualClient, types.pods, { logger: pino({ level: 'silent' }), resyncMs: 0 });
      podInformer.addHandlers({ onAdd: (p) => podUids.add(p.metadata.uid ?? ''), onUpdate: (_, p) => podUids.add(p.metadata.uid ?? '') });
      podInformer.start();

      const workload = new Workload(virtualClient, hostClient, workloadRng, { namespaces: opts.namespaces, maxReplicas: opts.maxReplicas, stepMs: opts.stepMs }, say);
      await workload.setup();
      const checkCtx: CheckContext = {
        virtual: virtualClient, host: hostClient, tenant, hostNamespace, ownerService,
        hostOwn: { configmaps: ['kube-root-ca.crt'], services: [ownerService], secrets: [] },
      };

      /** Waits until the syncer is drained, the tenant's controllers settled and every invariant holds, twice in a row. */
      const converge = async (label: string): Promise<{ seconds: number; converged: boolean; last: CheckResult | undefined }> => {
        const t0 = performance.now();
        const deadline = t0 + opts.convergeTimeoutSeconds * 1000;
        let last: CheckResult | undefined;
        let clean = 0;
        let cleanAt = t0;
        let lastSaid = t0;
        let why = '';
        while (performance.now() < deadline) {
          try {
            if (!(await sup.drained())) why = 'the syncer is not ready or still working';
            else {
              const unsettled = await workload.settled();
              last = await checkInvariants(checkCtx);
              if (unsettled) why = unsettled;
              else if (last.total > 0) why = `${last.total} violation(s): ${Object.values(last.examples).flat().slice(0, 3).join('; ')}`;
              else if (++clean >= 2) return { seconds: (cleanAt - t0) / 1000, converged: true, last };
              else {
                cleanAt = performance.now();
                why = 'checking again';
              }
              if (unsettled || last.total > 0) clean = 0;
            }
          } catch (err) {
            why = `check failed: ${(err as Error).message.slice(0, 200)}`;
            clean = 0;
          }
          if (performance.now() - lastSaid > 30_000) {
            say(`chaos: ${label}: not converged after ${((performance.now() - t0) / 1000).toFixed(0)} s: ${why}`);
            lastSaid = performance.now();
          }
          await sleep(2000);
        }
        say(`chaos: ${label}: NOT converged after ${opts.convergeTimeoutSeconds} s: ${why}`);
        try {
          last = await checkInvariants(checkCtx);
        } catch {
          // keep the last one
        }
        return { seconds: opts.convergeTimeoutSeconds, converged: false, last };
      };

      const initial = await converge('start');
      if (!initial.converged) throw new Error(`the workload did not converge before any fault: ${JSON.stringify(initial.last?.examples)}\n${sup.logTail(40)}`);
      const idle = await sup.stats(true);
      const idleHeapMb = (idle?.liveHeapKb ?? NaN) / 1024;
      say(`chaos: converged at start in ${initial.seconds.toFixed(1)} s; syncer live heap ${idleHeapMb.toFixed(1)} MiB`);

      const faultCtx: FaultContext = { host: host.controlPlane, tenant: virtual, hostClient, hostNamespace, proxies, syncer: sup, say };
      const allowed = opts.faults ?? faultKinds;
      let evidence: string | undefined;
      const totals = noViolations();
      const perRound: RoundResult[] = [];
      const faultCounts: Record<string, number> = {};
      const faultsFailed: Record<string, number> = {};
      for (let round = 1; round <= opts.rounds; round++) {
        const roundMs = opts.roundSeconds * 1000;
        const plan: Array<{ kind: FaultKind; at: number; ms: number }> = [];
        const n = faultRng.int(1, Math.max(1, opts.maxFaultsPerRound));
        for (let i = 0; i < n; i++) {
          const free = allowed.filter((k) => !plan.some((p) => targetOf(p.kind) === targetOf(k)));
          if (free.length === 0) break;
          const kind = faultRng.pick(free);
          plan.push({ kind, at: faultRng.int(0, Math.floor(roundMs * 0.7)), ms: faultRng.int(opts.faultSeconds[0] * 1000, opts.faultSeconds[1] * 1000) });
        }
        const described = plan.map((p) => `${p.kind} at ${(p.at / 1000).toFixed(1)} s for ${(p.ms / 1000).toFixed(1)} s`);
        say(`chaos: round ${round}/${opts.rounds}: ${described.join(', ')}`);
        for (const p of plan) faultCounts[p.kind] = (faultCounts[p.kind] ?? 0) + 1;
        const t0 = performance.now();
        let faultsDone = false;
        const last = round === opts.rounds;
        const enough = () => !last || podUids.size >= opts.minPods || performance.now() - t0 >= roundMs + 600_000;
        const changing = workload.run(() => faultsDone && performance.now() - t0 >= roundMs && enough());
        await Promise.all(plan.map(async (p) => {
          await sleep(p.at);
          await inject(p.kind, p.ms, faultCtx, faultRng.fork()).catch((err: unknown) => {
            faultsFailed[p.kind] = (faultsFailed[p.kind] ?? 0) + 1;
            say(`chaos: fault ${p.kind} could not be injected in full: ${(err as Error).message.slice(0, 300)}`);
          });
        }));
        faultsDone = true;
        await changing;
        if (last && opts.minPods > 0) say(`chaos: ${podUids.size} pods created in the run (at least ${opts.minPods} wanted; the last round's workload goes on until then, for at most 10 minutes)`);
        continueAll();
        proxies.host.resume();
        proxies.tenant.resume();
        if (!sup.current) sup.spawn();
        const result = await converge(`round ${round}`);
        const violations = noViolations();
        if (!result.converged) {
          violations.notConverged = 1;
          if (result.last) {
            add(violations, { ...result.last.violations, notConverged: 0, idleWrites: 0, memory: 0 });
            for (const [k, ex] of Object.entries(result.last.examples)) say(`chaos:   ${k}: ${ex.join(' | ')}`);
          }
          say(`chaos: syncer log tail:\n${sup.logTail(20)}`);
          if (!evidence) {
            evidence = await keepEvidence(`${opts.seed}-round-${round}`, { host: host.controlPlane, tenant: virtual, syncerDir: join(dir, 'syncer') }, await sup.stats().catch(() => undefined))
              .catch((err: unknown) => `(not kept: ${(err as Error).message})`);
            say(`chaos: evidence of round ${round} (logs, the syncer's /stats, both etcds' snapshots) kept in ${evidence}`);
          }
        }
        let idleWrites = 0;
        if (result.converged) {
          const s0 = await sup.stats();
          await sleep(opts.quietSeconds * 1000);
          const s1 = await sup.stats();
          if (s0 && s1) {
            const by: string[] = [];
            for (const side of ['host', 'virtual'] as const) {
              for (const [k, v] of Object.entries(s1[side].writesBy)) {
                const d = v - (s0[side].writesBy[k] ?? 0);
                if (d > 0) by.push(`${side} ${k}: ${d}`);
              }
            }
            idleWrites = s1.host.writes - s0.host.writes + s1.virtual.writes - s0.virtual.writes;
            if (idleWrites > 0) say(`chaos: round ${round}: ${idleWrites} write(s) while nothing changed: ${by.join(', ')}`);
          }
          violations.idleWrites = idleWrites;
        }
        add(totals, violations);
        perRound.push({ round, faults: described, convergeSeconds: Number(result.seconds.toFixed(1)), converged: result.converged, violations, idleWrites });
        const count = Object.values(violations).reduce((s, v) => s + v, 0);
        say(`chaos: round ${round}: ${result.converged ? `converged in ${result.seconds.toFixed(1)} s` : 'did not converge'}, ${count} violation(s), ${podUids.size} pods so far`);
      }

      const final = await sup.stats(true);
      const finalHeapMb = (final?.liveHeapKb ?? NaN) / 1024;
      if (!(finalHeapMb <= idleHeapMb + opts.memorySlackMb)) {
        totals.memory = 1;
        say(`chaos: the syncer's live heap is ${finalHeapMb.toFixed(1)} MiB at the end, against ${idleHeapMb.toFixed(1)} MiB idle at the start`);
      }
      const convergeSeconds = perRound.map((r) => r.convergeSeconds);
      return {
        seed: opts.seed,
        rounds: opts.rounds,
        violations: totals,
        maxConvergeSeconds: Math.max(0, ...convergeSeconds),
        convergeSeconds,
        podsCreated: podUids.size,
        faults: faultCounts,
        faultsFailed,
        workloadActions: workload.counts.actions,
        workloadFailures: workload.counts.failures,
        syncerStarts: sup.starts,
        syncerExits: sup.exits,
        proxyResets: proxies.host.resets + proxies.tenant.resets,
        watchesExpired: sup.watchesExpired,
        idleHeapMb: Number(idleHeapMb.toFixed(1)),
        finalHeapMb: Number(finalHeapMb.toFixed(1)),
        seconds: Math.round((performance.now() - started) / 1000),
        perRound,
      };
    })()]);
  } finally {
    await teardown();
  }
}

/**
 * What a round that did not converge leaves for a post-mortem, in a new folder under the OS temp
 * folder (the test bed goes when the run ends): every component's log, the syncer's /stats (its
 * caches: when each last heard from its API) and a snapshot of each etcd (its revision history
 * shows the order of writes). Returns the folder.
 */
export async function keepEvidence(name: string, bed: { host: ControlPlane; tenant: ControlPlane; syncerDir: string }, stats: unknown): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), `vnest-chaos-evidence-${name}-`));
  writeFileSync(join(out, 'syncer-stats.json'), JSON.stringify(stats ?? null, null, 2));
  const logs = (from: string, to: string) => {
    mkdirSync(join(out, to));
    for (const f of readdirSync(from)) if (f.endsWith('.log')) cpSync(join(from, f), join(out, to, f));
  };
  logs(bed.host.dir, 'host');
  logs(bed.tenant.dir, 'tenant');
  logs(bed.syncerDir, 'syncer');
  for (const [side, cp] of [['host', bed.host], ['tenant', bed.tenant]] as const) {
    // etcd's JSON gateway streams the snapshot as JSON objects, each with a base64 chunk.
    const res = await fetch(`${cp.etcdEndpoint}/v3/maintenance/snapshot`, { method: 'POST', body: '{}' });
    const chunks = (await res.text()).split('\n').filter(Boolean).map((line) => Buffer.from((JSON.parse(line) as { result?: { blob?: string } }).result?.blob ?? '', 'base64'));
    writeFileSync(join(out, side, 'etcd-snapshot.db'), Buffer.concat(chunks));
  }
  return out;
}

/** The report as a table (one row per round, then one per invariant) for people; the JSON line is for tools. */
export function reportTable(r: ChaosReport): string {
  const lines = ['| round | faults | converged (s) | violations | idle writes |', '| --- | --- | --- | --- | --- |'];
  for (const p of r.perRound) {
    const v = Object.values(p.violations).reduce((s, n) => s + n, 0);
    lines.push(`| ${p.round} | ${p.faults.join('; ')} | ${p.converged ? p.convergeSeconds : `no (${p.convergeSeconds})`} | ${v} | ${p.idleWrites} |`);
  }
  lines.push('', '| invariant | violations |', '| --- | --- |');
  for (const [k, v] of Object.entries(r.violations)) lines.push(`| ${k} | ${v} |`);
  const failed = Object.entries(r.faultsFailed);
  if (failed.length > 0) lines.push('', `faults the harness could not inject in full: ${failed.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  lines.push('', `seed ${r.seed}, ${r.rounds} rounds, ${r.podsCreated} pods created, max convergence ${r.maxConvergeSeconds} s, syncer started ${r.syncerStarts} times (${r.syncerExits} exits by itself), ${r.watchesExpired} watches answered 410 Gone, live heap ${r.idleHeapMb} MiB idle / ${r.finalHeapMb} MiB at the end, ${r.seconds} s`);
  return lines.join('\n');
}
