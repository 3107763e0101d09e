// Local mode end to end through the CLI: `vnest up` leaves a host cluster, a tenant and its syncer
// running in the background; kubectl with the printed kubeconfig runs pods that appear in the host
// namespace; `vnest down` stops every process.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

  it('rejects a bad policy flag as a usage error, starting nothing', async () => {
    const res = await vnest(['up', `--state-dir=${stateDir}`, '--allow=everything']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--allow: unknown value(s) everything; choose from');
    expect(existsSync(join(stateDir, 'state.json'))).toBe(false);
  });

  it('comes up, runs a deployment in the tenant on host pods, and goes down leaving no process', async () => {
    const res = await vnest(['up', `--state-dir=${stateDir}`, '--tenant=demo', '--nodes=2', '--allow=hostPorts']);
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

    // The policy flag reached the syncer: a host port (refused by the default baseline policy
    // without the exception) is copied.
    await kubectlOk(bin.kubectl, kubeconfig, ['create', '-f', '-'], { input: JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'ported' },
      spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10', ports: [{ containerPort: 80, hostPort: 8080 }] }] },
    }) });
    await waitFor('the pod with a host port Running', async () => (await kubectlOk(bin.kubectl, kubeconfig, ['get', 'pod', 'ported', '-o', 'jsonpath={.status.phase}'])).trim() === 'Running', { timeoutMs: 60_000, intervalMs: 500 });

    // kubectl port-forward to a simulated pod opens, and what answers says what it is.
    const forward = spawn(bin.kubectl, [`--kubeconfig=${kubeconfig}`, 'port-forward', `pod/${pod}`, ':80'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        forward.stdout.on('data', (d: Buffer) => {
          const m = /127\.0\.0\.1:(\d+)/.exec(d.toString());
          if (m) resolve(Number(m[1]));
        });
        forward.once('exit', (code) => reject(new Error(`kubectl port-forward exited ${code}`)));
      });
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toContain('this pod runs on a simulated node');
    } finally {
      forward.kill();
    }

    // A second `up` finds the running one, checks it, and says where it is.
    const again = await vnest(['up', `--state-dir=${stateDir}`, '--nodes=2', '--allow=hostPorts']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already running and is healthy');
    expect(again.stdout).toContain(`export KUBECONFIG=${kubeconfig}`);
    // Another tenant, or other options, are refused while it runs (exit 10), saying what to do.
    const other = await vnest(['up', `--state-dir=${stateDir}`, '--tenant=other']);
    expect(other.code).toBe(10);
    expect(other.stderr).toContain('local mode already runs tenant "demo"');
    expect(other.stderr).toContain('vnest down');
    const otherOptions = await vnest(['up', `--state-dir=${stateDir}`, '--nodes=2']);
    expect(otherOptions.code).toBe(10);
    expect(otherOptions.stderr).toContain('with other options');

    // A local mode whose daemon died (this test's own daemon, killed by its pid) is reported and
    // started again by the next `up`.
    const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as { pid: number };
    const workDir = readFileSync(join(stateDir, 'work-dir'), 'utf8').trim();
    expect(readdirSync(workDir).sort().map((d) => d.replace(/-[^-]+$/, ''))).toEqual(['vnest-local-demo', 'vnest-local-host']);
    process.kill(state.pid, 'SIGKILL');
    const restarted = await vnest(['up', `--state-dir=${stateDir}`, '--tenant=demo', '--nodes=2', '--allow=hostPorts']);
    expect(restarted.code).toBe(0);
    expect(restarted.stderr).toContain(`local mode had stopped (its daemon, pid ${state.pid}, is gone`);
    // The killed daemon's clusters' folders are gone with it; the new one has its own.
    expect(existsSync(workDir)).toBe(false);
    const newWorkDir = readFileSync(join(stateDir, 'work-dir'), 'utf8').trim();
    expect(existsSync(newWorkDir)).toBe(true);
    expect(await kubectlOk(bin.kubectl, kubeconfig, ['get', 'ns', 'default', '-o', 'name'])).toContain('namespace/default');

    const down = await vnest(['down', `--state-dir=${stateDir}`]);
    expect(down.code).toBe(0);
    expect(down.stdout).toContain('local mode stopped');
    const { stdout } = await promisify(execFile)('ps', ['-eo', 'args=']);
    expect(stdout.split('\n').filter((l) => l.includes(stateDir) || l.includes('vnest-local-host-'))).toEqual([]);
    expect(existsSync(newWorkDir)).toBe(false);
    expect(existsSync(join(stateDir, 'work-dir'))).toBe(false);
    const downAgain = await vnest(['down', `--state-dir=${stateDir}`]);
    expect(downAgain.stdout).toContain('not running');
  });

  it('says what to do when the syncer is misconfigured', async () => {
    const res = await vnest(['syncer', '--tenant=t1']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('pass --virtual-kubeconfig PATH');
  });
});
