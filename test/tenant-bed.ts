// A host cluster, one or more tenant control planes, a host namespace with each tenant's owner
// Service, and helpers to run syncers (in this process, or as `vnest syncer` child processes).
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import type { ControlPlane } from '../src/local/control-plane.ts';
import { HostCluster, startVirtualControlPlane, type HostClusterOptions } from '../src/local/host-cluster.ts';
import { kubectlOk, runKubectl, type KubectlResult } from '../src/local/kubectl.ts';
import { tail } from '../src/local/process.ts';
import { waitFor } from '../src/local/wait.ts';
import { renderKubeconfig } from '../src/kube/kubeconfig.ts';
import { resolveSyncerOptions, type SyncerOptions } from '../src/syncer/options.ts';
import { hostClusterRoleRules, hostRoleRules, type PolicyRule } from '../src/syncer/resources/index.ts';
import { startSyncer, type RunningSyncer } from '../src/syncer/run.ts';
import { kit, ports } from './helpers.ts';

export const hostNamespace = 'tenants';

export class TenantBed {
  readonly host: HostCluster;
  readonly virtuals: Map<string, ControlPlane>;
  private readonly running = new Set<RunningSyncer>();
  private readonly children = new Set<ChildProcess>();

  private constructor(host: HostCluster, virtuals: Map<string, ControlPlane>) {
    this.host = host;
    this.virtuals = virtuals;
  }

  /** `virtualOptions.egress`: the tenants' API servers reach the cluster through their syncers (startSyncer passes the socket). */
  static async start(tenants: string[], hostOptions: Omit<HostClusterOptions, 'kit' | 'ports'> = {}, virtualOptions: { egress?: boolean } = {}): Promise<TenantBed> {
    const k = await kit();
    const started = await Promise.allSettled([
      HostCluster.start({ kit: k, ports, nodes: 3, ...hostOptions }),
      ...tenants.map((t) => startVirtualControlPlane({ kit: k, ports, name: `tenant-${t}`, ...virtualOptions })),
    ]);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) {
      await Promise.all(started.flatMap((s) => (s.status === 'fulfilled' ? [s.value.stop()] : [])));
      throw failed.reason;
    }
    const [host, ...cps] = started.map((s) => (s as PromiseFulfilledResult<HostCluster | ControlPlane>).value) as [HostCluster, ...ControlPlane[]];
    const bed = new TenantBed(host, new Map(tenants.map((t, i) => [t, cps[i] as ControlPlane])));
    await bed.hostKubectl('create', 'namespace', hostNamespace);
    for (const t of tenants) await bed.hostKubectl('-n', hostNamespace, 'create', 'service', 'clusterip', t, '--tcp=443:8443');
    return bed;
  }

  virtual(tenant: string): ControlPlane {
    const cp = this.virtuals.get(tenant);
    if (!cp) throw new Error(`no tenant ${tenant}`);
    return cp;
  }

  async hostKubectl(...args: string[]): Promise<string> {
    return kubectlOk((await kit()).bin.kubectl, this.host.kubeconfigPath, args);
  }

  async virtualKubectl(tenant: string, ...args: string[]): Promise<string> {
    return kubectlOk((await kit()).bin.kubectl, this.virtual(tenant).kubeconfigPath, args);
  }

  /** kubectl against `tenant`'s cluster, or the host's when `tenant` is undefined: the result, for the caller to judge. */
  async kubectlRun(tenant: string | undefined, args: string[], input?: string): Promise<KubectlResult> {
    const kubeconfig = tenant === undefined ? this.host.kubeconfigPath : this.virtual(tenant).kubeconfigPath;
    return runKubectl((await kit()).bin.kubectl, kubeconfig, args, input === undefined ? {} : { input });
  }

  async hostJson<T>(...args: string[]): Promise<T> {
    return JSON.parse(await this.hostKubectl(...args, '-o', 'json')) as T;
  }

  async virtualJson<T>(tenant: string, ...args: string[]): Promise<T> {
    return JSON.parse(await this.virtualKubectl(tenant, ...args, '-o', 'json')) as T;
  }

  /**
   * A host kubeconfig for a service account bound only to the Role the syncer needs in the host
   * namespace (hostRoleRules), and to `clusterRules` cluster-wide (hostClusterRoleRules) when
   * given, and to what resource metrics add when asked, to prove it needs nothing more.
   */
  async restrictedHostKubeconfig(tenant: string, { clusterRules = [], resourceMetrics = false }: { clusterRules?: PolicyRule[]; resourceMetrics?: boolean } = {}): Promise<string> {
    const sa = `vnest-${tenant}`;
    const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: sa, namespace: hostNamespace }, rules: hostRoleRules([], hostNamespace, resourceMetrics) };
    const subjects = [{ kind: 'ServiceAccount', name: sa, namespace: hostNamespace }];
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: sa, namespace: hostNamespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: sa }, subjects,
    };
    const rules = [...clusterRules, ...(resourceMetrics ? hostClusterRoleRules('fake', [], { resourceMetrics }) : [])];
    const cluster = rules.length === 0 ? [] : [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: `${hostNamespace}-${sa}` }, rules },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `${hostNamespace}-${sa}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${hostNamespace}-${sa}` }, subjects,
      },
    ];
    await this.hostKubectl('-n', hostNamespace, 'create', 'serviceaccount', sa);
    await kubectlOk((await kit()).bin.kubectl, this.host.kubeconfigPath, ['apply', '-f', '-'], { input: [role, binding, ...cluster].map((o) => JSON.stringify(o)).join('\n') });
    const token = (await this.hostKubectl('-n', hostNamespace, 'create', 'token', sa, '--duration=2h')).trim();
    const path = join(this.host.controlPlane.dir, `${sa}.kubeconfig`);
    await writeFile(path, renderKubeconfig({ name: sa, server: this.host.server, caPem: this.host.controlPlane.ca.certPem, credentials: { token }, namespace: hostNamespace }), { mode: 0o600 });
    return path;
  }

  syncerArgs(tenant: string, extra: string[] = []): string[] {
    return [
      `--tenant=${tenant}`, `--host-namespace=${hostNamespace}`,
      `--virtual-kubeconfig=${this.virtual(tenant).kubeconfigPath}`, `--host-kubeconfig=${this.host.kubeconfigPath}`,
      '--resync-seconds=30', '--listen-port=0', '--coredns=false', ...extra,
    ];
  }

  options(tenant: string, flags: Record<string, unknown> = {}): SyncerOptions {
    const egressSocket = this.virtual(tenant).egressSocket;
    return resolveSyncerOptions({
      tenant, hostNamespace, virtualKubeconfig: this.virtual(tenant).kubeconfigPath, hostKubeconfig: this.host.kubeconfigPath,
      resyncSeconds: 30, listenPort: 0, coredns: false, ...(egressSocket ? { egressSocket } : {}), ...flags,
    }, {});
  }


  /** A syncer in this process (quiet unless VNEST_TEST_LOG is set). */
  async startSyncer(tenant: string, flags: Record<string, unknown> = {}): Promise<RunningSyncer> {
    const logger = pino({ level: process.env.VNEST_TEST_LOG ?? 'silent' });
    const running = await startSyncer(this.options(tenant, flags), logger);
    this.running.add(running);
    return running;
  }

  /** Stops every syncer this bed started in this process. */
  async stopSyncers(): Promise<void> {
    for (const r of [...this.running]) await this.stopSyncer(r);
  }

  async stopSyncer(running: RunningSyncer): Promise<void> {
    this.running.delete(running);
    await running.stop();
  }

  /** `vnest syncer` as a child process, logging to a file in the host cluster's folder. */
  spawnSyncer(tenant: string, extra: string[] = []): { child: ChildProcess; logFile: string } {
    const logFile = join(this.host.controlPlane.dir, `syncer-${tenant}-${Date.now()}.log`);
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, [join(import.meta.dirname, '..', 'src', 'cli', 'main.ts'), 'syncer', ...this.syncerArgs(tenant, extra)], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return { child, logFile };
  }

  async stop(): Promise<void> {
    for (const r of this.running) await r.stop().catch(() => undefined);
    for (const c of this.children) c.kill('SIGKILL');
    await Promise.all([this.host.stop(), ...[...this.virtuals.values()].map((v) => v.stop())]);
  }

  logTails(lines = 40): string {
    return [this.host.logTails(lines), ...[...this.virtuals.values()].map((v) => v.logTails(lines))].join('\n');
  }
}

export interface PodJson {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; annotations?: Record<string, string>; deletionTimestamp?: string; ownerReferences?: Array<{ kind: string; name: string }> };
  spec: { nodeName?: string; volumes?: Array<Record<string, any>>; containers: Array<Record<string, any>>; serviceAccountName?: string; automountServiceAccountToken?: boolean };  
  status: { phase?: string; podIP?: string; hostIP?: string; conditions?: Array<{ type: string; status: string }> };
}

export interface List<T> {
  items: T[];
}

/** Waits for `probe` with the syncer-test defaults. */
export function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  return waitFor(what, probe, { timeoutMs, intervalMs: 300 });
}

export { tail };
