// A host cluster on loopback: a control plane with scheduler, plus kwok simulating N nodes whose
// pods get scheduled, reach Running with pod IPs, and whose kubelet API serves logs, exec and
// port-forward as configured here.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { marks } from '../translate/metadata.ts';
import { ControlPlane, firstServiceIp, virtualControllers, type ControlPlaneOptions } from './control-plane.ts';
import { loadKit } from './kit.ts';
import { kubectlOk } from './kubectl.ts';
import { NodeNetwork } from './node-network.ts';
import type { NodeImage } from './node-images.ts';
import { ProcessGroup } from './process.ts';
import { networkPolicyEnforcerRbac } from './network-policy.ts';
import { RealNode } from './real-node.ts';
import { waitFor } from './wait.ts';

export interface HostClusterOptions extends Omit<ControlPlaneOptions, 'scheduler' | 'nodeAuthorizer'> {
  /** Number of kwok nodes (default 3). */
  nodes?: number;
  /** What `kubectl logs` returns for every container (kwok serves this file). */
  podLogs?: string;
  /** Where `kubectl port-forward` to any pod port connects; none when unset. */
  portForwardTarget?: { address: string; port: number };
  /** Pod IP range kwok allocates from (default 10.244.0.0/16). */
  podCidr?: string;
  /** Pods each node can hold (default 110, as a kubelet's default). */
  podsPerNode?: number;
  /**
   * Real nodes (0 or 1, default 0): kubelet, containerd, CNI bridge and kube-proxy in a network
   * namespace of their own, labelled `type: real` beside the kwok nodes' `type: kwok`. Needs root.
   */
  realNodes?: number;
  /** More image tarballs the real node imports (the vnest image, for example). */
  realNodeImages?: NodeImage[];
  /**
   * metrics-server beside the API server, serving metrics.k8s.io from the kwok nodes' emulated
   * kubelet resource metrics; a pod's usage is its annotations kwok.x-k8s.io/usage-cpu and
   * kwok.x-k8s.io/usage-memory (default 1m and 1Mi).
   */
  metricsServer?: boolean;
}

export const kwokNodeAnnotation = 'kwok.x-k8s.io/node';

type KwokStage = { metadata: { name: string }; spec: { selector: { matchExpressions: Array<{ key: string; operator: string; values?: string[] }> } } };

/**
 * kwok's pod-complete stage finishes the pods a Job owns. A tenant's Job lives in the tenant, so
 * the host copy of its pod has no owner there; it carries the Job's name label instead (copied by
 * default) and the tenant's mark. This stage finishes those the same way, so charts with Job hooks
 * complete in local mode as they would on real nodes.
 */
export function tenantJobStage(podComplete: KwokStage): KwokStage {
  const stage = structuredClone(podComplete);
  stage.metadata.name = 'vnest-tenant-job-pod-complete';
  stage.spec.selector.matchExpressions = [
    ...stage.spec.selector.matchExpressions.filter((e) => !e.key.includes('ownerReferences')),
    { key: '.metadata.labels["batch.kubernetes.io/job-name"]', operator: 'Exists' },
    { key: `.metadata.labels["${marks.tenant}"]`, operator: 'Exists' },
  ];
  return stage;
}
const defaultPodLogs = 'vnest test bed: hello from a kwok container\n';

/** kwok serves log files in the CRI format the kubelet reads: `<time> <stream> F <line>`. */
export function criLog(text: string, at = new Date(0)): string {
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
  return lines.map((line) => `${at.toISOString()} stdout F ${line}\n`).join('');
}

export class HostCluster {
  readonly controlPlane: ControlPlane;
  readonly nodeNames: readonly string[];
  readonly podLogsFile: string;
  readonly execDir: string;
  /** The real node, when one was asked for. */
  readonly realNode: RealNode | undefined;
  private readonly nodeTeardown: () => Promise<void>;

  private constructor(controlPlane: ControlPlane, nodeNames: string[], podLogsFile: string, execDir: string, realNode: RealNode | undefined, nodeTeardown: () => Promise<void>) {
    this.controlPlane = controlPlane;
    this.nodeNames = nodeNames;
    this.podLogsFile = podLogsFile;
    this.execDir = execDir;
    this.realNode = realNode;
    this.nodeTeardown = nodeTeardown;
  }

  get kubeconfigPath(): string {
    return this.controlPlane.kubeconfigPath;
  }

  get server(): string {
    return this.controlPlane.server;
  }

  static async start(opts: HostClusterOptions = {}): Promise<HostCluster> {
    const realNodes = opts.realNodes ?? 0;
    if (realNodes !== 0 && realNodes !== 1) throw new Error(`realNodes is ${realNodes}: a host cluster has at most one real node`);
    if (realNodes === 0) return HostCluster.startWith(await ControlPlane.start({ ...opts, name: opts.name ?? 'host', scheduler: true, nodeAuthorizer: true, aggregator: opts.metricsServer ?? false }), opts);
    if (opts.metricsServer) throw new Error('metricsServer needs kwok nodes only (realNodes: 0)');

    // The real node's network comes first: the API server binds its host address.
    const kit = opts.kit ?? (await loadKit());
    const nodeDir = await mkdtemp(join(opts.baseDir ?? tmpdir(), 'vnest-node-'));
    const nodeProcesses = new ProcessGroup(nodeDir);
    let network: NodeNetwork | undefined;
    let node: RealNode | undefined;
    const teardown = async () => {
      await node?.stop();
      await nodeProcesses.stopAll();
      await network?.release();
      if (!opts.keepDir) await rm(nodeDir, { recursive: true, force: true });
    };
    let cp: ControlPlane | undefined;
    try {
      network = await NodeNetwork.create(nodeProcesses);
      cp = await ControlPlane.start({ ...opts, kit, name: opts.name ?? 'host', scheduler: true, nodeAuthorizer: true, bindAddress: network.hostIp, aggregatorRouting: true });
      await network.guard(Number(new URL(cp.server).port));
      // What the node's NetworkPolicy enforcer may read.
      await kubectlOk(kit.bin.kubectl, cp.kubeconfigPath, ['apply', '-f', '-'], { input: networkPolicyEnforcerRbac().map((o) => JSON.stringify(o)).join('\n') });
      node = await RealNode.start({
        kit, processes: nodeProcesses, dir: join(nodeDir, 'node'), network, name: 'real-node-0', server: cp.server, ca: cp.ca,
        serviceCidr: cp.serviceCidr, clusterDns: clusterDnsIp(cp.serviceCidr), extraImages: opts.realNodeImages,
      });
    } catch (err) {
      const logs = `${cp?.logTails(20) ?? ''}\n${nodeProcesses.logTails(30)}`;
      await teardown();
      await cp?.stop();
      throw new Error(`host cluster did not start: ${(err as Error).message}\n${logs}`, { cause: err });
    }
    return HostCluster.startWith(cp, opts, node, teardown);
  }

  private static async startWith(cp: ControlPlane, opts: HostClusterOptions, node?: RealNode, teardown: () => Promise<void> = async () => undefined): Promise<HostCluster> {
    try {
      const cluster = await HostCluster.startKwok(cp, opts, node, teardown);
      if (node) {
        await waitFor(`real node ${node.name} Ready`, async () => {
          const out = await kubectlOk(cp.kit.bin.kubectl, cp.kubeconfigPath, ['get', 'node', node.name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
          return out.trim() === 'True';
        }, { timeoutMs: opts.startTimeoutMs ?? 180_000, intervalMs: 500 });
      }
      return cluster;
    } catch (err) {
      const logs = `${cp.logTails(20)}\n${node?.logTails() ?? ''}`;
      await teardown();
      await cp.stop();
      throw new Error(`host cluster did not start: ${(err as Error).message}\n${logs}`, { cause: err });
    }
  }

  private static async startKwok(cp: ControlPlane, opts: HostClusterOptions, node: RealNode | undefined, teardown: () => Promise<void>): Promise<HostCluster> {
    const kwokDir = join(cp.dir, 'kwok');
    const execDir = join(kwokDir, 'exec');
    await mkdir(execDir, { recursive: true });
    const podLogsFile = join(kwokDir, 'pod.log');
    await writeFile(podLogsFile, criLog(opts.podLogs ?? defaultPodLogs));
    const kubeletPort = await cp.ports.next();

    const stages: string[] = [];
    for (const file of (await readdir(cp.kit.kwokStagesDir)).sort()) {
      if (!file.endsWith('.yaml')) continue;
      const stage = await readFile(join(cp.kit.kwokStagesDir, file), 'utf8');
      stages.push(stage);
      if (file === 'pod-complete.yaml') stages.push(stringify(tenantJobStage(parse(stage) as KwokStage)));
    }
    if (opts.metricsServer) {
      for (const file of ['metrics-resource.yaml', 'usage-from-annotation.yaml']) stages.push(await readFile(join(cp.kit.kwokMetricsDir, file), 'utf8'));
    }
    const docs: unknown[] = [
      {
        apiVersion: 'config.kwok.x-k8s.io/v1alpha1',
        kind: 'KwokConfiguration',
        options: {
          cidr: opts.podCidr ?? '10.244.0.0/16',
          nodeIP: '127.0.0.1',
          nodePort: kubeletPort,
          serverAddress: `127.0.0.1:${kubeletPort}`,
          manageAllNodes: false,
          manageNodesWithAnnotationSelector: `${kwokNodeAnnotation}=fake`,
          nodeLeaseDurationSeconds: 40,
          // kwok reads zero as "none" when a config file sets options, so set every worker count.
          nodeLeaseParallelism: 4,
          podPlayStageParallelism: 4,
          nodePlayStageParallelism: 4,
          podsOnNodeSyncParallelism: 4,
          // The kubelet API: logs, exec, attach and port-forward.
          enableDebuggingHandlers: true,
        },
      },
      { apiVersion: 'kwok.x-k8s.io/v1alpha1', kind: 'ClusterLogs', metadata: { name: 'vnest-logs' }, spec: { logs: [{ logsFile: podLogsFile, previousLogsFile: podLogsFile, follow: false }] } },
      { apiVersion: 'kwok.x-k8s.io/v1alpha1', kind: 'ClusterExec', metadata: { name: 'vnest-exec' }, spec: { execs: [{ local: { workDir: execDir } }] } },
    ];
    if (opts.portForwardTarget) {
      docs.push({
        apiVersion: 'kwok.x-k8s.io/v1alpha1', kind: 'ClusterPortForward', metadata: { name: 'vnest-port-forward' },
        spec: { forwards: [{ target: opts.portForwardTarget }] },
      });
    }
    const configFile = join(kwokDir, 'kwok.yaml');
    await writeFile(configFile, [...docs.map((d) => stringify(d)), ...stages].join('\n---\n'));

    const kwok = cp.processes.start({
      name: 'kwok',
      command: cp.kit.bin.kwok,
      args: [`--kubeconfig=${cp.kubeconfigPath}`, `--config=${configFile}`],
    });

    const count = opts.nodes ?? 3;
    const nodeNames = Array.from({ length: count }, (_, i) => `kwok-node-${i}`);
    if (count === 0) return new HostCluster(cp, nodeNames, podLogsFile, execDir, node, teardown);
    const nodes = nodeNames.map((name) => ({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        annotations: {
          [kwokNodeAnnotation]: 'fake', 'node.alpha.kubernetes.io/ttl': '0',
          // All kwok nodes share one kubelet address; metrics-server asks for this node's path there.
          ...(opts.metricsServer ? { 'metrics.k8s.io/resource-metrics-path': `/metrics/nodes/${name}/metrics/resource` } : {}),
        },
        labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
      },
      status: {
        allocatable: { cpu: '32', memory: '256Gi', pods: String(opts.podsPerNode ?? 110) },
        capacity: { cpu: '32', memory: '256Gi', pods: String(opts.podsPerNode ?? 110) },
      },
    }));
    await kubectlOk(cp.kit.bin.kubectl, cp.kubeconfigPath, ['create', '-f', '-'], {
      input: nodes.map((n) => JSON.stringify(n)).join('\n'),
    });
    await waitFor(`${count} kwok nodes Ready`, async () => {
      const out = await kubectlOk(cp.kit.bin.kubectl, cp.kubeconfigPath, ['get', 'nodes', '-o', 'json']);
      const list = JSON.parse(out) as { items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }> };
      const ready = list.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      return ready.length >= count;
    }, { timeoutMs: opts.startTimeoutMs ?? 120_000, intervalMs: 500, check: () => kwok.assertRunning() });
    if (opts.metricsServer) await HostCluster.startMetricsServer(cp, opts.startTimeoutMs ?? 120_000);

    return new HostCluster(cp, nodeNames, podLogsFile, execDir, node, teardown);
  }

  /**
   * metrics-server as a process of the cluster, registered as the metrics.k8s.io APIService through
   * an ExternalName Service (kube-apiserver proxies an aggregated API to a loopback name, which it
   * would not to a pod or Endpoints address). It scrapes the kwok nodes every 10 s.
   */
  private static async startMetricsServer(cp: ControlPlane, timeoutMs: number): Promise<void> {
    const port = await cp.ports.next();
    const server = cp.processes.start({
      name: 'metrics-server',
      command: cp.kit.metricsServer,
      args: [
        '--bind-address=127.0.0.1', `--secure-port=${port}`, `--cert-dir=${join(cp.dir, 'metrics-server-certs')}`,
        `--kubeconfig=${cp.kubeconfigPath}`, `--authentication-kubeconfig=${cp.kubeconfigPath}`, `--authorization-kubeconfig=${cp.kubeconfigPath}`,
        '--kubelet-insecure-tls', '--kubelet-use-node-status-port', '--kubelet-preferred-address-types=InternalIP',
        '--metric-resolution=10s', '--kubelet-request-timeout=5s', '--profiling=false',
      ],
    });
    const service = {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'metrics-server', namespace: 'kube-system' },
      spec: { type: 'ExternalName', externalName: 'localhost', ports: [{ name: 'https', port, protocol: 'TCP' }] },
    };
    const apiService = {
      apiVersion: 'apiregistration.k8s.io/v1', kind: 'APIService', metadata: { name: 'v1beta1.metrics.k8s.io' },
      spec: { group: 'metrics.k8s.io', version: 'v1beta1', service: { name: 'metrics-server', namespace: 'kube-system', port }, insecureSkipTLSVerify: true, groupPriorityMinimum: 100, versionPriority: 100 },
    };
    await kubectlOk(cp.kit.bin.kubectl, cp.kubeconfigPath, ['apply', '-f', '-'], { input: [service, apiService].map((o) => JSON.stringify(o)).join('\n') });
    await waitFor('the metrics.k8s.io APIService Available', async () => {
      const out = await kubectlOk(cp.kit.bin.kubectl, cp.kubeconfigPath, ['get', 'apiservice', 'v1beta1.metrics.k8s.io', '-o', 'jsonpath={.status.conditions[?(@.type=="Available")].status}']);
      return out.trim() === 'True';
    }, { timeoutMs, intervalMs: 500, check: () => server.assertRunning() });
  }

  /**
   * Makes Service `namespace/name` (port 443) lead to `port` on this machine's end of the real
   * node's link, where a process here (a syncer's front door) listens: the Service loses its
   * selector and gets an EndpointSlice with that address, and the node's guard lets pods through.
   * Returns the address to listen on.
   */
  async routeServiceHere(namespace: string, name: string, port: number): Promise<string> {
    const net = this.realNode?.network;
    if (!net) throw new Error('routeServiceHere needs a real node');
    await net.allow(port);
    const kubectl = (args: string[], input?: string) => kubectlOk(this.controlPlane.kit.bin.kubectl, this.kubeconfigPath, args, input === undefined ? {} : { input });
    const service = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ name: 'https', port: 443, targetPort: port, protocol: 'TCP' }] } };
    const slice = {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${name}-here`, namespace, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4', endpoints: [{ addresses: [net.hostIp] }], ports: [{ name: 'https', port, protocol: 'TCP' }],
    };
    await kubectl(['-n', namespace, 'patch', 'service', name, '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/selector' }])]).catch(() => undefined);
    await kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], [service, slice].map((o) => JSON.stringify(o)).join('\n'));
    return net.hostIp;
  }

  async stop(): Promise<void> {
    await this.nodeTeardown();
    await this.controlPlane.stop();
  }

  logTails(lines = 40): string {
    return this.controlPlane.logTails(lines);
  }
}

/** The cluster DNS Service IP: the tenth address of the service CIDR, as kubeadm picks it. */
export function clusterDnsIp(serviceCidr: string): string {
  const first = firstServiceIp(serviceCidr).split('.').map(Number);
  first[3] = (first[3] ?? 0) + 9;
  return first.join('.');
}

/** A tenant's metadata-only control plane: no scheduler, no kubelet; same service CIDR as its host. */
export function startVirtualControlPlane(opts: Omit<ControlPlaneOptions, 'scheduler' | 'nodeAuthorizer'> = {}): Promise<ControlPlane> {
  return ControlPlane.start({ controllers: virtualControllers, ...opts, name: opts.name ?? 'virtual', scheduler: false, nodeAuthorizer: false });
}
