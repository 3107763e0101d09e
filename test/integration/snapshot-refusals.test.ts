// What `vnest snapshot create` and `vnest restore` refuse before touching a tenant, on a kwok host
// through the CLI: a k3s tenant (its datastore is not supported yet), a tenant whose state is in an
// emptyDir, and a snapshot of the other distro. Each refusal has its exit code and message, and
// the tenant's StatefulSet is never scaled.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostCluster } from '../../src/local/host-cluster.ts';
import { kubectlOk } from '../../src/local/kubectl.ts';
import { encodeSnapshot, type SnapshotInfo } from '../../src/snapshot/file.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';

const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const chart = join(import.meta.dirname, '..', '..', 'charts', 'vnest');

async function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, { env: { ...process.env, ...env }, timeout: 150_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('snapshot and restore refusals', async () => {
  const k = await kit();
  const env = useEnvironment(() => HostCluster.start({ kit: k, ports, nodes: 1 }));
  const vnest = (...args: string[]) => run(process.execPath, [main, ...args, `--kubeconfig=${env.current.kubeconfigPath}`], { VNEST_KUBECTL: k.bin.kubectl, VNEST_HELM: k.bin.helm });
  const replicas = (name: string) => kubectlOk(k.bin.kubectl, env.current.kubeconfigPath, ['-n', name, 'get', 'statefulset', name, '-o', 'jsonpath={.spec.replicas}']);
  let dir = '';
  const snapshotOf = async (distro: 'k8s' | 'k3s') => {
    const info: SnapshotInfo = { tenant: 'elsewhere', namespace: 'elsewhere', distro, revision: 7, createdAt: new Date().toISOString(), vnestVersion: '0.1.0' };
    const file = join(dir, `${distro}.vnest-snapshot`);
    await writeFile(file, encodeSnapshot(info, [{ key: Buffer.from('/registry/namespaces/apps'), value: Buffer.from('x') }]));
    return file;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vnest-snapshot-refusals-'));
    for (const [name, sets] of [['kthree', ['distro=k3s']], ['ephemeral', ['distro=k8s', 'storage.persistence=false']]] as const) {
      const installed = await run(k.bin.helm, ['install', name, chart, '-n', name, '--create-namespace', `--kubeconfig=${env.current.kubeconfigPath}`, '--set', 'coredns.enabled=false', ...sets.flatMap((s) => ['--set', s])]);
      expect(installed.code, installed.stderr).toBe(0);
    }
  }, 300_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('refuses a k3s tenant, for now, with exit 12', async () => {
    const restored = await vnest('restore', 'kthree', '--from', await snapshotOf('k3s'));
    expect(restored.code).toBe(12);
    expect(restored.stderr).toContain('tenant kthree runs the k3s distro, whose datastore (SQLite behind kine) snapshot and restore do not support yet');
    const saved = await vnest('snapshot', 'create', 'kthree', '-o', join(dir, 'kthree.vnest-snapshot'));
    expect(saved.code).toBe(12);
    expect(saved.stderr).toContain('tenant kthree runs the k3s distro');
    expect(await replicas('kthree')).toBe('1');
  });

  it('refuses to restore into a tenant whose state is in an emptyDir (exit 12), or from a snapshot of the other distro (exit 11)', async () => {
    const ephemeral = await vnest('restore', 'ephemeral', '--from', await snapshotOf('k8s'));
    expect(ephemeral.code).toBe(12);
    expect(ephemeral.stderr).toContain('tenant ephemeral keeps its state in an emptyDir (storage.persistence=false)');
    const otherDistro = await vnest('restore', 'ephemeral', '--from', await snapshotOf('k3s'));
    expect(otherDistro.code).toBe(11);
    expect(otherDistro.stderr).toContain('it is a snapshot of a k3s tenant, and tenant ephemeral runs k8s');
    const unknown = await vnest('restore', 'nobody', '--from', await snapshotOf('k8s'));
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain('no tenant "nobody" in namespace "nobody"');
    expect(await replicas('ephemeral')).toBe('1');
  });
});
