// Local mode with a real node (`vnest up --real-node`): a tenant whose pods run for real on this
// machine, offline, with busybox preloaded under its usual name; `vnest down` removes it all.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { kubectlOk, runKubectl } from '../../src/local/kubectl.ts';
import { tail } from '../../src/local/process.ts';
import type { LocalState } from '../../src/local/local-mode.ts';
import { waitFor } from '../../src/local/wait.ts';
import { kit } from '../helpers.ts';

const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

async function vnest(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const k = await kit();
    const env = { ...process.env, VNEST_HELM: k.bin.helm, VNEST_KUBECTL: k.bin.kubectl };
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [main, ...args], { timeout: 400_000, env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('local mode with a real node (vnest up --real-node)', async () => {
  const k = await kit();
  const stateDir = await mkdtemp(join(tmpdir(), 'vnest-local-real-'));
  afterAll(async () => {
    await vnest(['down', `--state-dir=${stateDir}`]);
    await rm(stateDir, { recursive: true, force: true });
  });
  let kubeconfig = '';
  const nodeCgroups = () => readdirSync('/sys/fs/cgroup').flatMap((h) => {
    try {
      return readdirSync(`/sys/fs/cgroup/${h}`).filter((d) => d.startsWith('vnest-node-')).map((d) => `${h}/${d}`);
    } catch {
      return [];
    }
  });
  const before = new Set(nodeCgroups());
  const kubectl = (...args: string[]) => kubectlOk(k.bin.kubectl, kubeconfig, args);

  it('refuses --nodes beside --real-node, saying why, with exit code 2', async () => {
    const res = await vnest(['up', `--state-dir=${stateDir}`, '--real-node', '--nodes=2']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--nodes and --real-node cannot be combined');
  });

  it('starts a tenant whose pods run for real, offline, with busybox and the vnest image preloaded', async () => {
    const res = await vnest(['up', `--state-dir=${stateDir}`, '--real-node', '--tenant=demo']);
    expect(res.code, res.stderr).toBe(0);
    const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as LocalState;
    kubeconfig = state.tenantKubeconfig;
    await kubectl('-n', 'kube-system', 'wait', '--for=condition=Ready', 'pod', '-l', 'k8s-app=kube-dns', '--timeout=120s');
    // A version tag: IfNotPresent is the default pull policy, so the preloaded image is used.
    await kubectl('run', 'hello', '--image=busybox:1.35', '--restart=Never', '--', 'sh', '-c', 'nslookup kubernetes.default.svc.cluster.local >/dev/null && echo "resolved; I am $(hostname)"');
    const phase = await waitFor('pod hello to finish', async () => {
      const p = await kubectl('get', 'pod', 'hello', '-o', 'jsonpath={.status.phase}');
      return ['Succeeded', 'Failed'].includes(p) ? p : undefined;
    }, { timeoutMs: 180_000, intervalMs: 1000 });
    expect(phase, await kubectl('logs', 'hello')).toBe('Succeeded');
    expect(await kubectl('logs', 'hello')).toBe('resolved; I am hello\n');
    const hostPods = await kubectlOk(k.bin.kubectl, state.hostKubeconfig, ['get', 'pods', '-A', '-o', 'jsonpath={.items[*].spec.nodeName}']);
    expect(new Set(hostPods.split(' '))).toEqual(new Set(['real-node-0']));
    // Pulling is not possible here: an image that is not preloaded fails at once.
    await kubectl('run', 'nope', '--image=quay.io/no/such-image:1', '--restart=Never');
    const reason = await waitFor('the pull to fail', async () =>
      (await runKubectl(k.bin.kubectl, kubeconfig, ['get', 'pod', 'nope', '-o', 'jsonpath={.status.containerStatuses[0].state.waiting.reason}'])).stdout.match(/ErrImagePull|ImagePullBackOff/)?.[0],
    { timeoutMs: 90_000, intervalMs: 1000 });
    expect(reason).toMatch(/ErrImagePull|ImagePullBackOff/);
  }, 600_000);

  it('lets vnest create install a second tenant (k8s distro) on the local cluster, offline', async () => {
    const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as LocalState;
    const res = await vnest(['create', 'second', `--kubeconfig=${state.hostKubeconfig}`, '--set', 'distro=k8s', '--set', 'serviceCIDR=10.96.0.0/16',
      '--set', 'storage.persistence=false', '--timeout=300']);
    expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
    const pod = await kubectlOk(k.bin.kubectl, state.hostKubeconfig, ['-n', 'second', 'get', 'pod', 'second-0', '-o', 'jsonpath={.spec.nodeName} {.status.containerStatuses[*].ready}']);
    expect(pod).toBe('real-node-0 true true true true');
  }, 600_000);

  it('stops everything with vnest down, the node\'s cgroups and links included', async () => {
    const res = await vnest(['down', `--state-dir=${stateDir}`]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('local mode stopped');
    expect(nodeCgroups().filter((c) => !before.has(c))).toEqual([]);
    expect(existsSync(join(stateDir, 'state.json')), tail(join(stateDir, 'daemon.log'), 30)).toBe(false);
  }, 120_000);
});
