// `vnest snapshot create` and `vnest restore` as users run them, on a tenant the chart runs on a
// real node (k8s distro, its state on a PersistentVolume): misuse is refused with its exit code and
// changes nothing; a snapshot round trip brings deleted objects and a workload back, with exactly
// one host pod per virtual pod; restoring over running host pods adopts them rather than copying;
// a snapshot restored into another tenant runs there as that tenant's own host objects.
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildVnestImage } from '../../src/local/image-build.ts';
import { HostCluster } from '../../src/local/host-cluster.ts';
import { kubectlOk, runKubectl } from '../../src/local/kubectl.ts';
import { busyboxImage } from '../../src/local/node-images.ts';
import { waitFor } from '../../src/local/wait.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';

const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const tenant = 'alpha';

async function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, { env: { ...process.env, ...env }, timeout: 900_000, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

interface PodList { items: Array<{ metadata: { name: string; uid: string; annotations?: Record<string, string> }; status?: { phase?: string } }> }

describe('vnest snapshot and restore of a k8s tenant on a real node', async () => {
  const k = await kit();
  const image = await buildVnestImage({ kit: k });
  const env = useEnvironment(() => HostCluster.start({ kit: k, ports, nodes: 0, realNodes: 1, realNodeImages: [image] }));
  const tools = { VNEST_HELM: k.bin.helm, VNEST_KUBECTL: k.bin.kubectl };
  const vnest = (...args: string[]) => run(process.execPath, [main, ...args, '--kubeconfig', env.current.kubeconfigPath], tools);
  const host = (...args: string[]) => kubectlOk(k.bin.kubectl, env.current.kubeconfigPath, args);
  let kubeconfig = '';
  let dir = '';
  const kubectl = (...args: string[]) => kubectlOk(k.bin.kubectl, kubeconfig, args);
  const tryKubectl = (...args: string[]) => runKubectl(k.bin.kubectl, kubeconfig, args);
  const controlPlanePod = async () => JSON.parse(await host('-n', tenant, 'get', 'pod', `${tenant}-0`, '-o', 'json')) as { metadata: { uid: string } };
  const hostPods = async (name = tenant) => (JSON.parse(await host('-n', name, 'get', 'pods', '-l', `vnest.dev/tenant=${name}`, '-o', 'json')) as PodList).items;
  const virtualPods = async (file = kubeconfig) => (JSON.parse(await kubectlOk(k.bin.kubectl, file, ['-n', 'apps', 'get', 'pods', '-l', 'app=web', '-o', 'json'])) as PodList).items;

  /** `vnest connect` into its own kubeconfig file (`file`), until `kill`. */
  async function connect(name = tenant, file = kubeconfig): Promise<{ kill: () => void }> {
    const child = spawn(process.execPath, [main, 'connect', name, '--kubeconfig', env.current.kubeconfigPath], { env: { ...process.env, ...tools, KUBECONFIG: file } });
    let said = '';
    child.stdout.on('data', (d: Buffer) => (said += d.toString()));
    child.stderr.on('data', (d: Buffer) => (said += d.toString()));
    await waitFor('vnest connect', async () => said.includes('switched to context'), {
      timeoutMs: 60_000, check: () => {
        if (child.exitCode !== null) throw new Error(`vnest connect exited: ${said}`);
      },
    });
    await waitFor('the tenant API through vnest connect', async () => (await runKubectl(k.bin.kubectl, file, ['get', 'ns', 'default'])).code === 0, { timeoutMs: 30_000, intervalMs: 500 });
    return { kill: () => child.kill('SIGTERM') };
  }

  /** Every virtual pod of the workload has exactly one host pod, and the host has no other. */
  async function oneHostPodEach(name = tenant, file = kubeconfig): Promise<void> {
    await waitFor(`one Running host pod per virtual pod of ${name}`, async () => {
      const v = (await virtualPods(file)).map((p) => p.metadata.uid).sort();
      const h = (await hostPods(name)).filter((p) => p.metadata.annotations?.['vnest.dev/object-namespace'] === 'apps');
      return v.length === 2 && h.length === 2 && h.every((p) => p.status?.phase === 'Running')
        && JSON.stringify(h.map((p) => p.metadata.annotations?.['vnest.dev/object-uid']).sort()) === JSON.stringify(v);
    }, { timeoutMs: 240_000, intervalMs: 2000 });
  }

  beforeAll(async () => {
    dir = env.current.controlPlane.dir;
    kubeconfig = join(dir, 'tenant.kubeconfig');
    await createTenant(tenant);
  }, 900_000);

  /** A k8s tenant whose state is on a volume: a host path on the real node (this machine), claimed by the chart's PVC. */
  async function createTenant(name: string): Promise<void> {
    const volume = join(dir, `pv-${name}`);
    await mkdir(volume, { recursive: true });
    await chmod(volume, 0o777);
    await kubectlOk(k.bin.kubectl, env.current.kubeconfigPath, ['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: `pv-${name}` },
        spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: 'manual', hostPath: { path: volume },
          claimRef: { namespace: name, name: `data-${name}-0` } },
      }),
    });
    const created = await vnest('create', name, '--timeout', '400', '--set', 'distro=k8s', '--set', `serviceCIDR=${env.current.controlPlane.serviceCidr}`,
      '--set', 'storage.storageClass=manual', '--set', 'storage.size=1Gi');
    if (created.code !== 0) {
      const why = await run(k.bin.kubectl, ['--kubeconfig', env.current.kubeconfigPath, '-n', name, 'describe', 'pod', `${name}-0`]);
      throw new Error(`vnest create ${name} failed: ${created.stderr}\n${why.stdout.slice(-3000)}`);
    }
  }

  it('refuses misuse with its exit code and message, and leaves the tenant as it was', async () => {
    const before = (await controlPlanePod()).metadata.uid;
    const unknown = await vnest('snapshot', 'create', 'nobody', '-o', join(dir, 'x.vnest-snapshot'));
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain('no tenant "nobody" in namespace "nobody"');

    const junk = join(dir, 'junk.vnest-snapshot');
    await writeFile(junk, 'not a snapshot');
    const notGzip = await vnest('restore', tenant, '--from', junk);
    expect(notGzip.code).toBe(11);
    expect(notGzip.stderr).toContain(`${junk} is not a snapshot vnest can restore: it is not gzip-compressed`);
    const foreign = join(dir, 'foreign.vnest-snapshot');
    await writeFile(foreign, gzipSync(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap' })));
    const notOurs = await vnest('restore', tenant, '--from', foreign);
    expect(notOurs.code).toBe(11);
    expect(notOurs.stderr).toContain('it is not a TenantSnapshot');
    const missing = await vnest('restore', tenant, '--from', join(dir, 'missing'));
    expect(missing.code).toBe(11);
    expect(missing.stderr).toContain('it cannot be read (ENOENT)');
    const noFrom = await vnest('restore', tenant);
    expect(noFrom.code).toBe(2);
    expect(noFrom.stderr).toContain('required option \'--from <file>\' not specified');

    // The tenant was never stopped.
    expect((await controlPlanePod()).metadata.uid).toBe(before);
    expect(await host('-n', tenant, 'get', 'statefulset', tenant, '-o', 'jsonpath={.spec.replicas}')).toBe('1');

    // A tenant that does not run has no datastore to read.
    expect((await vnest('pause', tenant)).code).toBe(0);
    const paused = await vnest('snapshot', 'create', tenant, '-o', join(dir, 'paused.vnest-snapshot'));
    expect(paused.code).toBe(7);
    expect(paused.stderr).toContain(`tenant "${tenant}" in namespace "${tenant}" is not ready`);
    expect(paused.stderr).toContain(`vnest resume ${tenant}`);
    expect((await vnest('resume', tenant)).code).toBe(0);
    await host('-n', tenant, 'rollout', 'status', `statefulset/${tenant}`, '--timeout=300s');
  }, 600_000);

  it('brings deleted objects and a workload back from a snapshot, one host pod per virtual pod; restoring again adopts the running host pods', async () => {
    let tunnel = await connect();
    try {
      await kubectl('create', 'namespace', 'apps');
      await waitFor('the default ServiceAccount', async () => (await tryKubectl('-n', 'apps', 'get', 'sa', 'default')).code === 0, { timeoutMs: 60_000 });
      await kubectl('-n', 'apps', 'create', 'configmap', 'settings', '--from-literal=colour=blue');
      await kubectl('-n', 'apps', 'create', 'deployment', 'web', `--image=${busyboxImage}`, '--replicas=2', '--', 'sleep', '3600');
      await kubectl('-n', 'apps', 'patch', 'deployment', 'web', '--type=json', '-p', '[{"op":"add","path":"/spec/template/spec/containers/0/imagePullPolicy","value":"IfNotPresent"},{"op":"add","path":"/spec/template/spec/terminationGracePeriodSeconds","value":1}]');
      await kubectl('-n', 'apps', 'rollout', 'status', 'deployment/web', '--timeout=240s');
      await oneHostPodEach();
      const deployment = (await kubectl('-n', 'apps', 'get', 'deployment', 'web', '-o', 'jsonpath={.metadata.uid}')).trim();

      const file = join(dir, 'alpha.vnest-snapshot');
      const saved = await vnest('snapshot', 'create', tenant, '-o', file);
      expect(saved.code, saved.stderr).toBe(0);
      expect(saved.stdout).toMatch(new RegExp(`tenant ${tenant}: \\d+ keys at revision \\d+ written to ${file}`));
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const again = await vnest('snapshot', 'create', tenant, '-o', file);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain(`${file} already exists`);

      await kubectl('-n', 'apps', 'delete', 'deployment', 'web', '--wait=true');
      await kubectl('-n', 'apps', 'delete', 'configmap', 'settings');
      await waitFor('the host pods to go', async () => (await hostPods()).every((p) => p.metadata.annotations?.['vnest.dev/object-namespace'] !== 'apps'), { timeoutMs: 120_000, intervalMs: 1000 });
      tunnel.kill();

      console.log(saved.stdout.trim());
      const started = Date.now();
      const restored = await vnest('restore', tenant, '--from', file);
      expect(restored.code, restored.stderr).toBe(0);
      console.log(`vnest restore (stop, restore pod, write, start, ready) took ${((Date.now() - started) / 1000).toFixed(1)} s`);
      expect(restored.stdout).toContain(`tenant ${tenant} restored from ${file}`);
      // The restore pod is gone, and the tenant runs again.
      expect(await host('-n', tenant, 'get', 'pods', '-l', 'app.kubernetes.io/name=vnest-restore', '-o', 'name')).toBe('');

      tunnel = await connect();
      expect(await kubectl('-n', 'apps', 'get', 'configmap', 'settings', '-o', 'jsonpath={.data.colour}')).toBe('blue');
      expect((await kubectl('-n', 'apps', 'get', 'deployment', 'web', '-o', 'jsonpath={.metadata.uid}')).trim()).toBe(deployment);
      // The restored pods were bound to host pods that are gone: the syncer ends them and their
      // ReplicaSet replaces them, as after a lost node.
      await kubectl('-n', 'apps', 'rollout', 'status', 'deployment/web', '--timeout=240s');
      await oneHostPodEach();

      // A snapshot of the running workload (as an OCI artifact this time), restored over it: its
      // host pods stay, adopted.
      const second = `oci://${join(dir, 'snapshots')}:second`;
      const savedOci = await vnest('snapshot', 'create', tenant, '-o', second);
      expect(savedOci.code, savedOci.stderr).toBe(0);
      const sameTag = await vnest('snapshot', 'create', tenant, '-o', second);
      expect(sameTag.code).toBe(2);
      expect(sameTag.stderr).toContain(`${second} already exists`);
      const running = (await hostPods()).filter((p) => p.metadata.annotations?.['vnest.dev/object-namespace'] === 'apps').map((p) => p.metadata.uid).sort();
      tunnel.kill();
      const over = await vnest('restore', tenant, '--from', second);
      expect(over.code, over.stderr).toBe(0);
      tunnel = await connect();
      await oneHostPodEach();
      expect((await hostPods()).filter((p) => p.metadata.annotations?.['vnest.dev/object-namespace'] === 'apps').map((p) => p.metadata.uid).sort()).toEqual(running);
    } finally {
      tunnel.kill();
    }
  }, 1_200_000);

  it('restores a snapshot of one tenant into another: the workload runs as the second tenant\'s own host pods and Services, and the first keeps its own', async () => {
    const other = 'beta';
    const otherKubeconfig = join(dir, `${other}.kubeconfig`);
    let tunnel = await connect();
    let file: string;
    let alphaPods: string[];
    let alphaIp: string;
    try {
      await kubectl('-n', 'apps', 'expose', 'deployment', 'web', '--port=80', '--target-port=8080');
      alphaIp = (await kubectl('-n', 'apps', 'get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}')).trim();
      await oneHostPodEach();
      alphaPods = (await hostPods()).filter((p) => p.metadata.annotations?.['vnest.dev/object-namespace'] === 'apps').map((p) => p.metadata.uid).sort();
      file = join(dir, 'alpha-for-beta.vnest-snapshot');
      const saved = await vnest('snapshot', 'create', tenant, '-o', file);
      expect(saved.code, saved.stderr).toBe(0);
    } finally {
      tunnel.kill();
    }

    await createTenant(other);
    const restored = await vnest('restore', other, '--from', file);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain(`tenant ${other} restored from ${file}`);
    tunnel = await connect(other, otherKubeconfig);
    try {
      const kubectlOther = (...args: string[]) => kubectlOk(k.bin.kubectl, otherKubeconfig, args);
      expect(await kubectlOther('-n', 'apps', 'get', 'configmap', 'settings', '-o', 'jsonpath={.data.colour}')).toBe('blue');
      await kubectlOther('-n', 'apps', 'rollout', 'status', 'deployment/web', '--timeout=240s');
      await oneHostPodEach(other, otherKubeconfig);
      // The Service's host copy is beta's own, in beta's namespace; the IP alpha's copy holds is
      // not beta's to take, so beta's virtual Service moves to the IP its copy got.
      const copy = await waitFor('beta\'s host copy of Service web', async () => {
        const list = JSON.parse(await host('-n', other, 'get', 'services', '-l', `vnest.dev/tenant=${other}`, '-o', 'json')) as { items: Array<{ metadata: { annotations?: Record<string, string> }; spec: { clusterIP: string } }> };
        return list.items.find((svc) => svc.metadata.annotations?.['vnest.dev/object-name'] === 'web' && svc.metadata.annotations['vnest.dev/object-namespace'] === 'apps');
      }, { timeoutMs: 120_000, intervalMs: 1000 });
      expect(copy.spec.clusterIP).not.toBe(alphaIp);
      await waitFor('beta\'s virtual Service on its host copy\'s IP', async () => (await kubectlOther('-n', 'apps', 'get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}')).trim() === copy.spec.clusterIP, { timeoutMs: 60_000, intervalMs: 1000 });
    } finally {
      tunnel.kill();
    }
    // Alpha was not touched: the same host pods, and its Service keeps its IP.
    expect((await hostPods()).filter((p) => p.metadata.annotations?.['vnest.dev/object-namespace'] === 'apps').map((p) => p.metadata.uid).sort()).toEqual(alphaPods);
    const alphaCopy = JSON.parse(await host('-n', tenant, 'get', 'services', '-l', `vnest.dev/tenant=${tenant}`, '-o', 'json')) as { items: Array<{ metadata: { annotations?: Record<string, string> }; spec: { clusterIP: string } }> };
    expect(alphaCopy.items.find((svc) => svc.metadata.annotations?.['vnest.dev/object-name'] === 'web')?.spec.clusterIP).toBe(alphaIp);
    expect((await vnest('delete', other)).code).toBe(0);
  }, 1_500_000);
});
