// The conformance harness's parts: the upstream e2e binary (built by hack/build-e2e.sh), the list of
// its conformance tests, the subset kept in subset.txt, a run of chosen tests against one cluster
// (ginkgo in parallel, ended for sure after a deadline) and the comparison of two runs.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { defaultServiceCidr } from '../../src/local/control-plane.ts';
import { clusterDnsIp } from '../../src/local/host-cluster.ts';
import { loadKit } from '../../src/local/kit.ts';
import { kubectlOk } from '../../src/local/kubectl.ts';
import { readState, runLocal } from '../../src/local/local-mode.ts';
import { pauseImage, type NodeImage } from '../../src/local/node-images.ts';
import { ProcessGroup, tail } from '../../src/local/process.ts';
import { waitFor } from '../../src/local/wait.ts';
import { corednsObjects, defaultCorednsImage } from '../../src/syncer/coredns.ts';

export const subsetFile = join(import.meta.dirname, 'subset.txt');
const buildScript = join(import.meta.dirname, '..', 'build-e2e.sh');

export interface E2e {
  /** The folder holding them and the test images' programs (agnhost, nnp). */
  dir: string;
  /** The e2e test binary. */
  binary: string;
  /** The ginkgo CLI that runs it in parallel. */
  ginkgo: string;
}

/** Runs hack/build-e2e.sh (a warm cache only checks) and returns its binaries; progress goes to stderr. */
export function buildE2e(): Promise<E2e> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [buildScript, '--print-dir'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', (err) => reject(new Error(`could not run ${buildScript}: ${err.message}`, { cause: err })));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`hack/build-e2e.sh exited ${code}: the e2e binary could not be built (see its output above)`));
      const dir = out.trim();
      resolve({ dir, binary: join(dir, 'e2e.test'), ginkgo: join(dir, 'ginkgo') });
    });
  });
}

/** The folder of the pinned Kubernetes source in Go's module cache (build-e2e.sh downloaded it). */
export async function kubernetesSource(): Promise<string> {
  const { stdout } = await promisify(execFile)('go', ['list', '-m', '-f', '{{.Dir}}', 'k8s.io/kubernetes'], {
    cwd: join(import.meta.dirname, '..', 'tools', 'e2e'), env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly' },
  });
  return stdout.trim();
}

/** The full names of the binary's conformance tests, from its `--list-tests`. */
export function listConformanceTests(e2e: E2e): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(e2e.binary, ['--list-tests'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${e2e.binary} --list-tests exited ${code}: ${err.trim()}`));
      // Lines are "    <file>:<line>: <full name>".
      const names = out.split('\n').flatMap((l) => /^\s+\S+:\d+: (.*\[Conformance\].*)$/.exec(l)?.[1] ?? []);
      resolve([...new Set(names)]);
    });
  });
}

export const verdicts = ['run', 'container', 'webhook', 'serial', 'slow', 'loopback'] as const;
export type Verdict = (typeof verdicts)[number];

/** subset.txt: a verdict per conformance test. Throws on a malformed line or a test named twice. */
export function readSubset(text: string): Map<string, Verdict> {
  const subset = new Map<string, Verdict>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const m = /^(\S+)\s+(\S.*?)\s*$/.exec(line);
    const verdict = m?.[1] as Verdict | undefined;
    if (!m || !verdict || !verdicts.includes(verdict)) {
      throw new Error(`subset.txt line ${i + 1}: expected "<verdict> <test name>" with a verdict among ${verdicts.join(', ')}; got: ${line}`);
    }
    if (subset.has(m[2]!)) throw new Error(`subset.txt line ${i + 1}: "${m[2]}" is listed twice`);
    subset.set(m[2]!, verdict);
  });
  return subset;
}

/**
 * The tests to run: those marked with one of `runnable` (default `run`). Throws when the binary has a conformance test the file does
 * not classify (it must say why a test is left out), or the file names one the binary lacks.
 */
export function testsToRun(subset: Map<string, Verdict>, listed: string[], runnable: Verdict[] = ['run']): string[] {
  const missing = listed.filter((n) => !subset.has(n));
  const unknown = [...subset.keys()].filter((n) => !listed.includes(n));
  if (missing.length || unknown.length) {
    throw new Error([
      missing.length ? `the e2e binary has ${missing.length} conformance test(s) that hack/conformance/subset.txt does not list; add each with a verdict:\n  ${missing.join('\n  ')}` : '',
      unknown.length ? `hack/conformance/subset.txt lists ${unknown.length} test(s) the e2e binary does not have; remove them:\n  ${unknown.join('\n  ')}` : '',
    ].filter(Boolean).join('\n'));
  }
  return listed.filter((n) => runnable.includes(subset.get(n)!));
}

export type Outcome = 'passed' | 'failed' | 'timedout' | 'interrupted' | 'skipped' | 'not run';

export interface TestResult {
  outcome: Outcome;
  seconds: number;
  /** The first line of the failure message. */
  message?: string;
}

export interface RunResult {
  results: Map<string, TestResult>;
  seconds: number;
  /** The run was ended by the harness's deadline (ginkgo's own timeout did not end it). */
  killed: boolean;
  reportDir: string;
}

export interface RunOptions {
  e2e: E2e;
  kubeconfig: string;
  kubectl: string;
  tests: string[];
  /** Parallel ginkgo processes. */
  procs: number;
  /** ginkgo's suite timeout; the harness ends the run a minute after it if ginkgo has not. */
  timeoutSeconds: number;
  /** Where the reports and the run's log go. */
  reportDir: string;
  /** Extra environment of the e2e processes. */
  env?: NodeJS.ProcessEnv;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Runs `tests` against the cluster of `kubeconfig`; every test gets an outcome, `not run` when the run ended first. */
export async function runE2e(opts: RunOptions): Promise<RunResult> {
  mkdirSync(opts.reportDir, { recursive: true });
  const started = Date.now();
  const group = new ProcessGroup(opts.reportDir);
  // ginkgo matches the focus against "<suite description> <full name>".
  const focus = opts.tests.map((t) => ` ${escapeRegExp(t)}$`).join('|');
  const run = group.start({
    name: 'ginkgo',
    command: opts.e2e.ginkgo,
    args: [
      `--procs=${opts.procs}`, `--timeout=${opts.timeoutSeconds}s`, '--no-color', '--silence-skips',
      `--output-dir=${opts.reportDir}`, '--json-report=report.json', '--junit-report=junit.xml',
      `--focus=${focus}`,
      opts.e2e.binary, '--',
      `--kubeconfig=${opts.kubeconfig}`, '--provider=skeleton', `--kubectl-path=${opts.kubectl}`,
      `--e2e-output-dir=${opts.reportDir}`, '--dump-logs-on-failure=false',
    ],
    env: { ...process.env, ...opts.env },
    cwd: opts.reportDir,
  });
  const deadline = started + (opts.timeoutSeconds + 60) * 1000;
  while (run.running && Date.now() < deadline) await sleep(1000);
  const killed = run.running;
  await group.stopAll();
  const results = readReport(join(opts.reportDir, 'report.json'), opts.tests);
  if (results.size === 0 && !killed) {
    throw new Error(`ginkgo wrote no report; the last lines of ${run.logFile}:\n${tail(run.logFile, 30)}`);
  }
  const all = new Map(opts.tests.map((t): [string, TestResult] => [t, results.get(t) ?? { outcome: 'not run', seconds: 0 }]));
  return { results: all, seconds: (Date.now() - started) / 1000, killed, reportDir: opts.reportDir };
}

interface SpecReport {
  ContainerHierarchyTexts?: string[] | null;
  LeafNodeText: string;
  LeafNodeType: string;
  State: string;
  RunTime: number;
  Failure?: { Message?: string };
}

/** Outcomes of `tests` from ginkgo's JSON report (an array of suite reports); none when there is no report. */
export function readReport(path: string, tests: string[]): Map<string, TestResult> {
  const out = new Map<string, TestResult>();
  if (!existsSync(path)) return out;
  const wanted = new Set(tests);
  const suites = JSON.parse(readFileSync(path, 'utf8')) as Array<{ SpecReports?: SpecReport[] | null }>;
  for (const spec of suites.flatMap((s) => s.SpecReports ?? [])) {
    if (spec.LeafNodeType !== 'It') continue;
    const name = [...(spec.ContainerHierarchyTexts ?? []), spec.LeafNodeText].filter(Boolean).join(' ');
    if (!wanted.has(name)) continue;
    const outcome: Outcome = spec.State === 'passed' ? 'passed'
      : spec.State === 'skipped' || spec.State === 'pending' ? 'skipped'
        : spec.State === 'timedout' ? 'timedout'
          : spec.State === 'interrupted' || spec.State === 'aborted' ? 'interrupted' : 'failed';
    const message = spec.Failure?.Message?.trim().split('\n')[0];
    out.set(name, { outcome, seconds: Math.round(spec.RunTime / 1e8) / 10, ...(message ? { message } : {}) });
  }
  return out;
}

export interface Comparison {
  tests: number;
  hostPassed: number;
  tenantPassed: number;
  /** Tests that pass on the host and not in the tenant: the tenant's own failures. */
  tenantOnlyFailures: string[];
  /** Tests that fail on the host (and so say nothing about the tenant). */
  hostFailures: string[];
}

export function compare(host: Map<string, TestResult>, tenant: Map<string, TestResult>): Comparison {
  const names = [...host.keys()];
  const passed = (m: Map<string, TestResult>, n: string) => m.get(n)?.outcome === 'passed';
  return {
    tests: names.length,
    hostPassed: names.filter((n) => passed(host, n)).length,
    tenantPassed: names.filter((n) => passed(tenant, n)).length,
    tenantOnlyFailures: names.filter((n) => passed(host, n) && !passed(tenant, n)),
    hostFailures: names.filter((n) => !passed(host, n)),
  };
}

/** The side-by-side table: one row per test (failures first), host and tenant outcome and seconds. */
export function table(host: Map<string, TestResult>, tenant: Map<string, TestResult>): string {
  const cell = (r: TestResult | undefined) => (r ? `${r.outcome}${r.outcome === 'not run' ? '' : ` ${r.seconds}s`}` : '-').padEnd(16);
  const rank = (n: string) => (host.get(n)?.outcome === 'passed' ? 0 : 1) + (tenant.get(n)?.outcome === 'passed' ? 0 : 2);
  const names = [...host.keys()].sort((a, b) => rank(b) - rank(a) || a.localeCompare(b));
  const rows = names.map((n) => {
    const why = tenant.get(n)?.outcome !== 'passed' && host.get(n)?.outcome === 'passed' ? tenant.get(n)?.message : undefined;
    return `${cell(host.get(n))}${cell(tenant.get(n))}${n}${why ? `\n${' '.repeat(32)}tenant: ${why.slice(0, 200)}` : ''}`;
  });
  return [`${'HOST'.padEnd(16)}${'TENANT'.padEnd(16)}TEST`, ...rows].join('\n');
}

export interface Clusters {
  hostKubeconfig: string;
  tenantKubeconfig: string;
  kubectl: string;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Simulated (kwok) nodes; ignored with `realNode`. */
  nodes?: number;
  /** One real node instead (needs root), with these images besides its own. */
  realNode?: { images: NodeImage[] };
}

/**
 * Local mode's host (kwok nodes, or one real node) and one tenant with its syncer and front door,
 * run in this process with state, ports and folders of its own, so a user's `vnest up` is left
 * alone. The tenant's kubeconfig reaches it through the front door, as a user's does. With a real
 * node, the host gets the DNS a cluster has (CoreDNS behind kube-dns at the kubelet's cluster DNS
 * address), as the tenant has its own.
 */
export async function startClusters(stateDir: string, logger: Logger, opts: ClusterOptions = {}): Promise<Clusters> {
  const kit = await loadKit();
  const nodes = opts.realNode ? 1 : opts.nodes ?? 3;
  const abort = new AbortController();
  let failed: unknown;
  // The tenant sees every host node (the suite wants ready, untainted nodes before it starts), and
  // may use the host RuntimeClass of the handler the RuntimeClass tests name. On a real node, its
  // pods may be what the host's are: the suite runs some privileged or host-network pods (in
  // namespaces it labels for that) and pins pods to the node by name, which the host allows; and
  // its Services keep the node ports the tenant's API server gave (the suite dials the port it read
  // at creation); its pods tolerate taints of any key, as the host lets them.
  const realNodePolicy = { podSecurity: 'privileged', allow: 'nodeName', allowFields: 'Service.spec.ports[*].nodePort', tolerations: '*' };
  // Its pods' tokens are bound to the pod, as a kubelet's are (the suite checks that a mounted
  // token names its pod); the default shares one token per service account to save a host write.
  const policy = { nodeSync: 'all', runtimeClasses: runtimeClassHandler, tokenStorage: 'pod-secret', ...opts.realNode ? realNodePolicy : {} };
  const local = opts.realNode ? { realNode: true, realNodeImages: opts.realNode.images } : {};
  const running = runLocal({ stateDir, tenant: 'conformance', nodes, policy, ...local }, logger, abort.signal).catch((err: unknown) => {
    failed = err;
  });
  const stop = async () => {
    abort.abort();
    await running;
  };
  const state = await waitFor('the host and the tenant to start', async () => readState(stateDir), {
    timeoutMs: 900_000, intervalMs: 500,
    check: () => {
      if (failed) throw new Error('local mode failed to start', { cause: failed });
    },
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  try {
    const hostRuntimeClass = { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: runtimeClassHandler }, handler: runtimeClassHandler };
    await kubectlOk(kit.bin.kubectl, state.hostKubeconfig, ['apply', '-f', '-'], { input: JSON.stringify(hostRuntimeClass) });
    if (opts.realNode) await installHostDns(kit.bin.kubectl, state.hostKubeconfig);
    await anchorNodes(kit.bin.kubectl, state.tenantKubeconfig, nodes);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    hostKubeconfig: state.hostKubeconfig,
    tenantKubeconfig: state.tenantKubeconfig,
    kubectl: kit.bin.kubectl,
    stop,
  };
}

/** CoreDNS in the host's kube-system (the tenant's own recipe), its kube-dns Service at the kubelet's cluster DNS address. */
async function installHostDns(kubectl: string, kubeconfig: string): Promise<void> {
  // Local mode's host has the default service range; its kubelet's cluster DNS address is the tenth.
  const objects = corednsObjects(defaultCorednsImage).map(({ body }) => body.kind === 'Service'
    ? { ...body, spec: { ...(body.spec as object), clusterIP: clusterDnsIp(defaultServiceCidr) } }
    : body);
  await kubectlOk(kubectl, kubeconfig, ['apply', '-f', '-'], { input: objects.map((o) => JSON.stringify(o)).join('\n') });
  await kubectlOk(kubectl, kubeconfig, ['-n', 'kube-system', 'rollout', 'status', 'deployment/coredns', '--timeout=180s'], { timeoutMs: 200_000 });
}

export const anchorNamespace = 'vnest-conformance-anchors';

/** The handler the e2e framework's RuntimeClass tests name (its PreconfiguredRuntimeClassHandler). */
const runtimeClassHandler = 'test-handler';

/**
 * The e2e suite does not start without ready schedulable nodes (one test wants two). The tenant
 * sees every host node (node sync `all`); a pause pod of its own on each, in a namespace no test
 * touches, also keeps them for the run, and the wait below makes sure they are Ready first.
 */
async function anchorNodes(kubectl: string, kubeconfig: string, nodes: number): Promise<void> {
  const labels = { app: 'node-anchor' };
  const objects = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: anchorNamespace } },
    {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'node-anchor', namespace: anchorNamespace },
      spec: {
        replicas: nodes, selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: labels } }] } },
            containers: [{ name: 'pause', image: pauseImage }],
          },
        },
      },
    },
  ];
  await kubectlOk(kubectl, kubeconfig, ['apply', '-f', '-'], { input: objects.map((o) => JSON.stringify(o)).join('\n') });
  await waitFor(`${nodes} ready virtual nodes in the tenant`, async () => {
    const list = JSON.parse(await kubectlOk(kubectl, kubeconfig, ['get', 'nodes', '-o', 'json'])) as { items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }> };
    return list.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length >= nodes;
  }, { timeoutMs: 180_000, intervalMs: 1000 });
}
