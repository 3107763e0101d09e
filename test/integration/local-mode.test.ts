// Local mode end to end through the CLI: `vnest up` leaves a host cluster, a tenant and its syncer
// running in the background; kubectl with the printed kubeconfig runs pods that appear in the host
// namespace; `vnest down` stops every process.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { kubectlOk } from '../../src/local/kubectl.ts';
import { waitFor } from '../../src/local/wait.ts';
import { kit } from '../helpers.ts';

const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

async function vnest(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [main, ...args], { env: { ...process.env, ...env }, timeout: 300_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

interface PodList {
  items: Array<{ metadata: { name: string }; status: { phase?: string } }>;
}

describe('local mode (vnest up / vnest down)', async () => {
  const stateDir = await mkdtemp(join(tmpdir(), 'vnest-local-'));
  afterAll(async () => {
    await vnest(['down', `--state-dir=${stateDir}`]);
    await rm(stateDir, { recursive: true, force: true });
  });

  it('rejects a bad tenant name with a message and a non-zero exit', async () => {
    const res = await vnest(['up', `--state-dir=${stateDir}`, '--tenant=Bad_Name']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("tenant name 'Bad_Name' must be lower-case");
  });

  it('comes up, runs a deployment in the tenant on host pods, and goes down leaving no process', async () => {
    const res = await vnest(['up', `--state-dir=${stateDir}`, '--tenant=demo', '--nodes=2']);
    expect(res.stderr).not.toMatch(/error/i);
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    const last = lines[lines.length - 1] ?? '';
    expect(last).toMatch(/^export KUBECONFIG=/);
    const kubeconfig = last.replace('export KUBECONFIG=', '');
    const { bin } = await kit();
    await kubectlOk(bin.kubectl, kubeconfig, ['create', 'deployment', 'hello', '--image=registry.k8s.io/pause:3.10', '--replicas=2']);
    await waitFor('2 Running pods in the tenant', async () => {
      const pods = JSON.parse(await kubectlOk(bin.kubectl, kubeconfig, ['get', 'pods', '-l', 'app=hello', '-o', 'json'])) as PodList;
      return pods.items.length === 2 && pods.items.every((p) => p.status.phase === 'Running');
    }, { timeoutMs: 60_000, intervalMs: 500 });
    // The kubeconfig goes through the front door: logs come from the host pod.
    const pod = (await kubectlOk(bin.kubectl, kubeconfig, ['get', 'pods', '-l', 'app=hello', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
    expect(await kubectlOk(bin.kubectl, kubeconfig, ['logs', pod])).toContain('hello from a kwok container');
    expect((await kubectlOk(bin.kubectl, kubeconfig, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'])).trim()).toBe('vnest-admin');
    const hostPods = JSON.parse(await kubectlOk(bin.kubectl, join(stateDir, 'host.kubeconfig'), ['-n', 'vnest-demo', 'get', 'pods', '-o', 'json'])) as PodList;
    expect(hostPods.items.map((p) => p.metadata.name).filter((n) => n.startsWith('hello-'))).toHaveLength(2);

    // A second `up` finds the running one and says where it is.
    const again = await vnest(['up', `--state-dir=${stateDir}`]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`export KUBECONFIG=${kubeconfig}`);

    const down = await vnest(['down', `--state-dir=${stateDir}`]);
    expect(down.code).toBe(0);
    expect(down.stdout).toContain('local mode stopped');
    const { stdout } = await promisify(execFile)('ps', ['-eo', 'args=']);
    expect(stdout.split('\n').filter((l) => l.includes(stateDir) || l.includes('vnest-local-host-'))).toEqual([]);
    const downAgain = await vnest(['down', `--state-dir=${stateDir}`]);
    expect(downAgain.stdout).toContain('not running');
  });

  it('says what to do when the syncer is misconfigured', async () => {
    const res = await vnest(['syncer', '--tenant=t1']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('pass --virtual-kubeconfig PATH');
  });
});
