// The chart the way users run it: `helm install` of charts/vnest with the k8s distro on a real
// node, with the vnest image built from the project's Dockerfile. The StatefulSet becomes Ready for
// real (etcd, kube-apiserver, kube-controller-manager and the syncer running, probes passing), the
// kubeconfig Secret appears, `vnest connect` and kubectl work, and in-pod clients use the tenant
// API with their mounted token and cannot use it against the host. The chart's NetworkPolicies are
// on (the real node enforces them), as a platform team would run it: none of this may need more.
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildVnestImage } from '../../src/local/image-build.ts';
import { HostCluster } from '../../src/local/host-cluster.ts';
import { kubectlOk, runKubectl } from '../../src/local/kubectl.ts';
import { busyboxImage } from '../../src/local/node-images.ts';
import { waitFor } from '../../src/local/wait.ts';
import { hostName } from '../../src/translate/names.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';

const chart = join(import.meta.dirname, '..', '..', 'charts', 'vnest');
const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const tenant = 'alpha';

async function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, { env: { ...process.env, ...env }, timeout: 300_000, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** What an in-pod client does: the tenant API via KUBERNETES_SERVICE_HOST with its mounted token and CA. */
const inPodClient = `
const fs = require('node:fs');
const https = require('node:https');
const dir = '/var/run/secrets/kubernetes.io/serviceaccount';
const token = fs.readFileSync(dir + '/token', 'utf8');
const ca = fs.readFileSync(dir + '/ca.crt');
const get = (host, path, verify) => new Promise((resolve) => {
  const req = https.get({ host, port: host === process.env.KUBERNETES_SERVICE_HOST ? Number(process.env.KUBERNETES_SERVICE_PORT) : 443, path,
    headers: { Authorization: 'Bearer ' + token }, ca, rejectUnauthorized: verify, timeout: 5000 }, (res) => { res.resume(); resolve(res.statusCode); });
  req.on('error', (e) => resolve(e.code || e.message));
  req.on('timeout', () => req.destroy(new Error('timeout')));
});
(async () => {
  // A new pod's address reaches the NetworkPolicy enforcer's rules a moment after the pod starts;
  // until then the front door refuses it (as on any cluster that enforces policy): retry as
  // client-go does, and say how long it took.
  const started = Date.now();
  let own = await get(process.env.KUBERNETES_SERVICE_HOST, '/api/v1/namespaces/apps/pods', true);
  while (own === 'ECONNREFUSED' && Date.now() - started < 30000) {
    await new Promise((r) => setTimeout(r, 200));
    own = await get(process.env.KUBERNETES_SERVICE_HOST, '/api/v1/namespaces/apps/pods', true);
  }
  const waitedMs = Date.now() - started;
  const cluster = await get(process.env.KUBERNETES_SERVICE_HOST, '/api/v1/namespaces', true);
  const host = await get(process.argv[1], '/api/v1/namespaces/apps/pods', false);
  console.log(JSON.stringify({ own, cluster, host, waitedMs }));
})();
`;

describe('the chart on a real node', async () => {
  const k = await kit();
  const image = await buildVnestImage({ kit: k });
  const env = useEnvironment(() => HostCluster.start({ kit: k, ports, nodes: 0, realNodes: 1, realNodeImages: [image] }));
  const host = (...args: string[]) => kubectlOk(k.bin.kubectl, env.current.kubeconfigPath, args);
  let kubeconfig = '';
  const kubectl = (...args: string[]) => kubectlOk(k.bin.kubectl, kubeconfig, args);
  const tryKubectl = (...args: string[]) => runKubectl(k.bin.kubectl, kubeconfig, args);

  beforeAll(async () => {
    await host('create', 'namespace', tenant);
    const res = await run(k.bin.helm, ['--kubeconfig', env.current.kubeconfigPath, 'install', tenant, chart, '-n', tenant,
      '--set', 'distro=k8s', '--set', `serviceCIDR=${env.current.controlPlane.serviceCidr}`, '--set', 'storage.persistence=false',
      '--set', 'isolation.networkPolicy.enabled=true']);
    expect(res.code, res.stderr).toBe(0);
    const rollout = await run(k.bin.kubectl, ['--kubeconfig', env.current.kubeconfigPath, '-n', tenant, 'rollout', 'status', `statefulset/${tenant}`, '--timeout=300s']);
    if (rollout.code !== 0) {
      const why = await run(k.bin.kubectl, ['--kubeconfig', env.current.kubeconfigPath, '-n', tenant, 'describe', 'pod', `${tenant}-0`]);
      const logs = await run(k.bin.kubectl, ['--kubeconfig', env.current.kubeconfigPath, '-n', tenant, 'logs', `${tenant}-0`, '-c', 'syncer', '--tail=40']);
      throw new Error(`the StatefulSet did not become Ready: ${rollout.stderr}\n${why.stdout}\n${logs.stdout}${logs.stderr}`);
    }
    kubeconfig = join(env.current.controlPlane.dir, 'tenant.kubeconfig');
  }, 600_000);

  it('runs every container of the tenant pod for real, the syncer as 65532 on a read-only root', async () => {
    const pod = JSON.parse(await host('-n', tenant, 'get', 'pod', `${tenant}-0`, '-o', 'json')) as {
      spec: { nodeName: string };
      status: { containerStatuses: Array<{ name: string; ready: boolean; image: string }> };
    };
    expect(pod.spec.nodeName).toBe('real-node-0');
    expect(pod.status.containerStatuses.map((c) => [c.name, c.ready]).sort()).toEqual([['control-plane', true], ['controller-manager', true], ['etcd', true], ['syncer', true]]);
    expect(pod.status.containerStatuses.find((c) => c.name === 'syncer')?.image).toBe(image.ref);
    const id = await host('-n', tenant, 'exec', `${tenant}-0`, '-c', 'syncer', '--', 'node', '-e', 'console.log(process.getuid() + ":" + process.getgid())');
    expect(id.trim()).toBe('65532:65532');
    const write = await run(k.bin.kubectl, ['--kubeconfig', env.current.kubeconfigPath, '-n', tenant, 'exec', `${tenant}-0`, '-c', 'syncer', '--', 'node', '-e', 'require("fs").writeFileSync("/opt/vnest/x", "x")']);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toMatch(/EROFS|read-only/);
  });

  it('runs the image on its own: --version as 65532 with a read-only root file system', async () => {
    const pod = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'vnest-version', namespace: tenant },
      spec: {
        restartPolicy: 'Never', nodeSelector: { type: 'real' },
        containers: [{ name: 'vnest', image: image.ref, imagePullPolicy: 'IfNotPresent', args: ['--version'], securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false } }],
      },
    };
    await kubectlOk(k.bin.kubectl, env.current.kubeconfigPath, ['apply', '-f', '-'], { input: JSON.stringify(pod) });
    await waitFor('vnest --version to finish', async () => (await host('-n', tenant, 'get', 'pod', 'vnest-version', '-o', 'jsonpath={.status.phase}')) === 'Succeeded', { timeoutMs: 60_000, intervalMs: 500 });
    const version = (JSON.parse(await readFile(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
    expect((await host('-n', tenant, 'logs', 'vnest-version')).trim()).toBe(version);
  });

  it('exports the kubeconfig Secret, and vnest connect runs kubectl against the tenant', async () => {
    const secret = await host('-n', tenant, 'get', 'secret', `${tenant}-kubeconfig`, '-o', 'jsonpath={.data.config}');
    expect(Buffer.from(secret, 'base64').toString()).toContain('server: https://');
    const res = await run(process.execPath, [main, 'connect', tenant, '-n', tenant, '--kubeconfig', env.current.kubeconfigPath, '--', k.bin.kubectl, 'get', 'namespaces', '-o', 'name']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('namespace/kube-system');
    // The command's exit code is connect's.
    const failed = await run(process.execPath, [main, 'connect', tenant, '-n', tenant, '--kubeconfig', env.current.kubeconfigPath, '--', 'sh', '-c', 'exit 3']);
    expect(failed.code).toBe(3);
  });

  it('connects as a service account of the tenant: refused while it does not exist, then created and bound with --cluster-role', async () => {
    const connectAs = (...extra: string[]) => run(process.execPath, [main, 'connect', tenant, '-n', tenant, '--kubeconfig', env.current.kubeconfigPath, '--service-account', 'default/viewer', ...extra,
      '--', k.bin.kubectl, 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    const missing = await connectAs();
    expect(missing.code).toBe(13);
    expect(missing.stderr).toContain('service account default/viewer does not exist in the tenant');
    const noRole = await connectAs('--cluster-role', 'no-such-role');
    expect(noRole.code).toBe(13);
    expect(noRole.stderr).toContain('ClusterRole "no-such-role" does not exist');
    const viewer = await connectAs('--cluster-role', 'view', '--token-expiration', '3600');
    expect(viewer.code, viewer.stderr).toBe(0);
    expect(viewer.stdout).toBe('system:serviceaccount:default:viewer');
    // The token carries the role's rights and no more; the kubeconfig holds no certificate.
    // (--print would keep its port-forward open until Ctrl-C: the command reads the file instead.)
    const printed = await run(process.execPath, [main, 'connect', tenant, '-n', tenant, '--kubeconfig', env.current.kubeconfigPath, '--service-account', 'default/viewer', '--', 'sh', '-c', 'cat "$KUBECONFIG"']);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toContain('token: ');
    expect(printed.stdout).not.toContain('client-key-data');
    const write = await run(process.execPath, [main, 'connect', tenant, '-n', tenant, '--kubeconfig', env.current.kubeconfigPath, '--service-account', 'default/viewer', '--', k.bin.kubectl, 'create', 'namespace', 'not-allowed']);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toContain('forbidden');
    const read = await run(process.execPath, [main, 'connect', tenant, '-n', tenant, '--kubeconfig', env.current.kubeconfigPath, '--service-account', 'default/viewer', '--', k.bin.kubectl, 'get', 'namespace', 'default', '-o', 'name']);
    expect([read.code, read.stdout]).toEqual([0, 'namespace/default\n']);
  });

  it('runs tenant workloads for real: DNS through the tenant\'s CoreDNS, an in-pod client with its token', async () => {
    const connect = await startConnect();
    try {
      // A client that resets its connection can end kubectl port-forward (it did in this test's
      // workload before vnest connect restarted it); the tenant API stays reachable.
      const server = new URL((await kubectl('config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}')).trim());
      await new Promise<void>((resolve) => {
        const raw = createConnection(Number(server.port), server.hostname);
        const secure = tlsConnect({ socket: raw, rejectUnauthorized: false }, () => secure.write('GET /healthz HTTP/1.1\r\nHost: front-door\r\n\r\n'));
        // Reset in the middle of a conversation, as a client that crashes does.
        secure.once('data', () => raw.resetAndDestroy());
        raw.once('close', () => resolve());
        secure.once('error', () => undefined);
      });
      await waitFor('the tenant API after a reset connection', async () => (await tryKubectl('get', 'ns', 'default')).code === 0, { timeoutMs: 30_000, intervalMs: 500 });
      await kubectl('create', 'namespace', 'apps');
      await waitFor('the default ServiceAccount', async () => (await tryKubectl('-n', 'apps', 'get', 'sa', 'default')).code === 0, { timeoutMs: 60_000 });
      await kubectl('-n', 'apps', 'create', 'role', 'pod-reader', '--verb=get,list', '--resource=pods');
      await kubectl('-n', 'apps', 'create', 'rolebinding', 'default-reads-pods', '--role=pod-reader', '--serviceaccount=apps:default');
      await kubectl('-n', 'apps', 'run', 'dns', `--image=${busyboxImage}`, '--image-pull-policy=IfNotPresent', '--', 'sleep', '3600');
      await kubectl('-n', 'apps', 'wait', '--for=condition=Ready', 'pod/dns', '--timeout=180s');
      const lookup = await waitFor('nslookup kubernetes.default', async () => {
        const r = await tryKubectl('-n', 'apps', 'exec', 'dns', '--', 'nslookup', 'kubernetes.default.svc.cluster.local');
        return r.code === 0 ? r.stdout : undefined;
      }, { timeoutMs: 120_000, intervalMs: 2000 });
      expect(lookup).toContain(`Address: ${await kubectl('get', 'service', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}')}`);

      const hostApi = await host('get', 'service', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.spec.clusterIP}');
      await kubectl('-n', 'apps', 'run', 'client', `--image=${image.ref}`, '--image-pull-policy=IfNotPresent', '--restart=Never', '--command', '--', 'node', '-e', inPodClient, hostApi);
      await waitFor('the in-pod client to finish', async () => ['Succeeded', 'Failed'].includes(await kubectl('-n', 'apps', 'get', 'pod', 'client', '-o', 'jsonpath={.status.phase}')), { timeoutMs: 120_000, intervalMs: 1000 });
      const { waitedMs, ...result } = JSON.parse(await kubectl('-n', 'apps', 'logs', 'client')) as { own: number; cluster: number; host: number | string; waitedMs: number };
      console.log(`the in-pod client's first answer from the tenant API came after ${waitedMs} ms`);
      // Its RBAC lets it list pods in its namespace, not namespaces; the host does not know its token.
      expect(result).toEqual({ own: 200, cluster: 403, host: 401 });
    } finally {
      connect.kill();
    }
  });

  it('runs a tenant inside the tenant, made by vnest create with the same chart: its pods run on the real node two levels down', async () => {
    const alpha = await startConnect();
    const childConfig = join(env.current.controlPlane.dir, 'child.kubeconfig');
    let beta: Awaited<ReturnType<typeof startConnect>> | undefined;
    try {
      const tools = { VNEST_HELM: k.bin.helm, VNEST_KUBECTL: k.bin.kubectl };
      const created = await run(process.execPath, [main, 'create', 'beta', '-n', 'team', '--kubeconfig', kubeconfig, '--timeout', '400',
        '--set', 'distro=k8s', '--set', `serviceCIDR=${env.current.controlPlane.serviceCidr}`, '--set', 'storage.persistence=false', '--set', 'isolation.networkPolicy.enabled=true'], tools);
      if (created.code !== 0) {
        const pods = await run(k.bin.kubectl, ['--kubeconfig', env.current.kubeconfigPath, '-n', tenant, 'get', 'pods', '-l', 'vnest.dev/namespace=team', '-o', 'wide']);
        const cpPod = hostName('beta-0', 'team', tenant);
        const logs = await run(k.bin.kubectl, ['--kubeconfig', env.current.kubeconfigPath, '-n', tenant, 'logs', cpPod, '-c', 'syncer', '--tail=40']);
        const events = await run(k.bin.kubectl, ['--kubeconfig', env.current.kubeconfigPath, '-n', tenant, 'describe', 'pod', cpPod]);
        throw new Error(`vnest create beta failed: ${created.stderr}\n${pods.stdout}\n${logs.stdout}${logs.stderr}\n${events.stdout.slice(-3000)}`);
      }
      // beta's control plane is a pod of alpha's, running on the host under alpha's marks.
      const cp = JSON.parse(await host('-n', tenant, 'get', 'pods', '-l', 'vnest.dev/namespace=team,vnest.dev/nested-control-plane=beta', '-o', 'json')) as { items: Array<{ spec: { nodeName: string }; status: { phase: string } }> };
      expect(cp.items.map((p) => [p.spec.nodeName, p.status.phase])).toEqual([['real-node-0', 'Running']]);

      beta = await startConnect('beta', 'team', kubeconfig, childConfig);
      const inBeta = (...args: string[]) => kubectlOk(k.bin.kubectl, childConfig, args);
      await inBeta('create', 'namespace', 'apps');
      await waitFor('the default ServiceAccount in beta', async () => (await runKubectl(k.bin.kubectl, childConfig, ['-n', 'apps', 'get', 'sa', 'default'])).code === 0, { timeoutMs: 60_000 });
      await inBeta('-n', 'apps', 'run', 'leaf', `--image=${busyboxImage}`, '--image-pull-policy=IfNotPresent', '--', 'sleep', '3600');
      await inBeta('-n', 'apps', 'wait', '--for=condition=Ready', 'pod/leaf', '--timeout=180s');
      // On the host: the leaf's name within 63 characters, alpha's marks, beta's under nested- keys.
      const hostPod = JSON.parse(await host('-n', tenant, 'get', 'pod', hostName(hostName('leaf', 'apps', 'beta'), 'team', tenant), '-o', 'json')) as { metadata: { labels: Record<string, string> }; spec: { nodeName: string }; status: { phase: string } };
      expect(hostPod.spec.nodeName).toBe('real-node-0');
      expect(hostPod.status.phase).toBe('Running');
      expect(hostPod.metadata.labels).toMatchObject({ 'vnest.dev/tenant': tenant, 'vnest.dev/namespace': 'team', 'vnest.dev/nested-tenant': 'beta', 'vnest.dev/nested-namespace': 'apps' });
      // The leaf resolves names through beta's own CoreDNS, which reads beta's API from its pod:
      // in-pod API access works two levels down.
      const betaApi = await inBeta('get', 'service', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}');
      let lastTry = '';
      const lookup = await waitFor('nslookup in beta', async () => {
        const r = await runKubectl(k.bin.kubectl, childConfig, ['-n', 'apps', 'exec', 'leaf', '--', 'nslookup', 'kubernetes.default.svc.cluster.local']);
        lastTry = r.stdout + r.stderr;
        return r.code === 0 ? r.stdout : undefined;
      }, { timeoutMs: 180_000, intervalMs: 2000 }).catch(async (err: unknown) => {
        const say = async (...args: string[]) => { const r = await runKubectl(k.bin.kubectl, childConfig, args); return `$ kubectl ${args.join(' ')}\n${r.stdout}${r.stderr}`; };
        const why = [
          await say('-n', 'kube-system', 'get', 'pods,services,endpointslices', '-o', 'wide'),
          await say('-n', 'kube-system', 'logs', '-l', 'k8s-app=kube-dns', '--tail=20'),
          await say('-n', 'apps', 'exec', 'leaf', '--', 'cat', '/etc/resolv.conf'),
          await host('-n', tenant, 'get', 'pods,services,networkpolicies', '-o', 'wide'),
        ];
        throw new Error(`${(err as Error).message}; last try: ${lastTry}\n${why.join('\n')}`);
      });
      expect(lookup).toContain(`Address: ${betaApi}`);
      beta.kill();
      beta = undefined;

      const deleted = await run(process.execPath, [main, 'delete', 'beta', '-n', 'team', '--kubeconfig', kubeconfig], tools);
      expect(deleted.code, deleted.stderr).toBe(0);
      await waitFor('nothing of beta left on the host', async () => {
        const left = await host('-n', tenant, 'get', 'pods,services,configmaps,secrets,networkpolicies', '-l', 'vnest.dev/namespace=team', '-o', 'name');
        return left.trim() === '';
      }, { timeoutMs: 180_000, intervalMs: 2000 });
    } finally {
      beta?.kill();
      alpha.kill();
    }
  }, 900_000);

  /**
   * `vnest connect` as users run it: it switches the kubeconfig (a new file here) to the tenant and
   * keeps a port-forward to the front door up until it is stopped.
   */
  async function startConnect(name = tenant, namespace = tenant, hostKubeconfig = env.current.kubeconfigPath, out = kubeconfig): Promise<{ kill: () => void; said: () => string }> {
    const child = spawn(process.execPath, [main, 'connect', name, '-n', namespace, '--kubeconfig', hostKubeconfig], { env: { ...process.env, KUBECONFIG: out } });
    let said = '';
    child.stdout.on('data', (d: Buffer) => (said += d.toString()));
    child.stderr.on('data', (d: Buffer) => (said += d.toString()));
    await waitFor('vnest connect to switch the kubeconfig', async () => said.includes('switched to context'), {
      timeoutMs: 60_000, check: () => {
        if (child.exitCode !== null) throw new Error(`vnest connect exited: ${said}`);
      },
    });
    await waitFor('the tenant API through vnest connect', async () => (await runKubectl(k.bin.kubectl, out, ['get', 'ns', 'default'])).code === 0, { timeoutMs: 30_000, intervalMs: 500 });
    return { kill: () => child.kill('SIGTERM'), said: () => said };
  }
});
