// A tenant whose API server reaches the cluster only through its syncer's egress socket (local
// mode's and the chart's k8s distro's set-up): exec and port-forward go through the tenant's API
// server, so its admission sees them, and the control plane dials nothing that is not the tenant's.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlOk, runKubectl } from '../../src/local/kubectl.ts';
import type { RunningSyncer } from '../../src/syncer/run.ts';
import { greeter, kit, ports, readThroughPortForward, useEnvironment } from '../helpers.ts';
import { eventually, hostNamespace, TenantBed, type PodJson } from '../tenant-bed.ts';

const tenant = 'egress';
const greeting = 'hello through the egress';

/** How many requests of `pods/<subresource>` an API server has served, from its /metrics. */
function podRequests(metrics: string, subresource: string): number {
  return metrics.split('\n')
    .filter((l) => l.startsWith('apiserver_request_total{') && l.includes('resource="pods"') && l.includes(`subresource="${subresource}"`))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

describe('the control plane\'s egress through the syncer', async () => {
  const target = await greeter(greeting);
  afterAll(() => new Promise<void>((resolve) => target.close(() => resolve())));
  const env = useEnvironment(() => TenantBed.start([tenant], { portForwardTarget: { address: '127.0.0.1', port: target.port } }, { egress: true }));
  const bed = () => env.current;
  let kubeconfig = '';
  let pod = '';
  let running: RunningSyncer | undefined;
  const kubectl = async (...args: string[]) => kubectlOk((await kit()).bin.kubectl, kubeconfig, args);
  const apply = async (obj: unknown) => kubectlOk((await kit()).bin.kubectl, kubeconfig, ['apply', '-f', '-'], { input: JSON.stringify(obj) });
  const virtualMetrics = async () => bed().virtualKubectl(tenant, 'get', '--raw', '/metrics');

  beforeAll(async () => {
    const port = await ports.next();
    const restricted = await bed().restrictedHostKubeconfig(tenant);
    running = await bed().startSyncer(tenant, { hostKubeconfig: restricted, listenPort: port, listenAddress: '127.0.0.1', kubeconfigServer: `https://127.0.0.1:${port}` });
    const secret = await bed().hostJson<{ data: Record<string, string> }>('-n', hostNamespace, 'get', 'secret', `${tenant}-kubeconfig`);
    kubeconfig = join(bed().host.controlPlane.dir, 'egress.kubeconfig');
    await writeFile(kubeconfig, Buffer.from(secret.data.config ?? '', 'base64'));
    await kubectl('create', 'namespace', 'apps');
    await eventually('default service account', async () => (await runKubectl((await kit()).bin.kubectl, kubeconfig, ['-n', 'apps', 'get', 'sa', 'default'])).code === 0);
    await kubectl('-n', 'apps', 'create', 'deployment', 'web', '--image=registry.k8s.io/pause:3.10', '--port=80');
    pod = await eventually('web pod Running', async () => {
      const pods = JSON.parse(await kubectl('-n', 'apps', 'get', 'pods', '-l', 'app=web', '-o', 'json')) as { items: PodJson[] };
      return pods.items.length === 1 && pods.items[0]?.status.phase === 'Running' ? pods.items[0].metadata.name : undefined;
    });
  });

  it('sends exec and port-forward through the tenant\'s API server to the host pod', async () => {
    const before = { exec: podRequests(await virtualMetrics(), 'exec'), portforward: podRequests(await virtualMetrics(), 'portforward') };
    const marker = randomBytes(6).toString('hex');
    await writeFile(join(bed().host.execDir, 'egress-marker'), marker);
    expect(await kubectl('-n', 'apps', 'exec', pod, '--', 'cat', 'egress-marker')).toBe(marker);
    expect(await readThroughPortForward((await kit()).bin.kubectl, kubeconfig, ['-n', 'apps', `pod/${pod}`], 80, greeting.length)).toBe(greeting);
    // The tenant's API server served both (the front door alone would not have asked it).
    const after = await virtualMetrics();
    expect(podRequests(after, 'exec')).toBeGreaterThan(before.exec);
    expect(podRequests(after, 'portforward')).toBeGreaterThan(before.portforward);
  });

  it('lets the tenant\'s admission refuse an exec, which then never runs on the host', async () => {
    await apply({
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name: 'no-forbidden-exec' },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CONNECT'], resources: ['pods/exec'] }] },
        validations: [{ expression: '!(\'forbidden-by-policy\' in object.command)', message: 'this tenant forbids that command' }],
      },
    });
    await apply({
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: 'no-forbidden-exec' },
      spec: { policyName: 'no-forbidden-exec', validationActions: ['Deny'] },
    });
    const touched = join(bed().host.execDir, 'forbidden-by-policy');
    const refused = await eventually('the policy refuses the exec', async () => {
      const r = await runKubectl((await kit()).bin.kubectl, kubeconfig, ['-n', 'apps', 'exec', pod, '--', 'touch', 'forbidden-by-policy']);
      return r.code !== 0 && r.stderr.includes('this tenant forbids that command') ? r : undefined;
    });
    expect(refused.stderr).toContain('no-forbidden-exec');
    // Host side: the command never runs (a try before the policy was active might have: start clean).
    await rm(touched, { force: true });
    expect((await runKubectl((await kit()).bin.kubectl, kubeconfig, ['-n', 'apps', 'exec', pod, '--', 'touch', 'forbidden-by-policy'])).code).not.toBe(0);
    expect(existsSync(touched)).toBe(false);
    // Other commands still run.
    expect(await kubectl('-n', 'apps', 'exec', pod, '--', 'echo', 'allowed')).toBe('allowed\n');
  });

  it('never dials an address the tenant wrote that is not its own pod or Service', async () => {
    const address = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    expect(address, 'this machine needs a non-loopback IPv4 address for this test').toBeDefined();
    const dialled: Socket[] = [];
    const listener = createTcpServer((s) => {
      dialled.push(s);
      s.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '0.0.0.0', resolve));
    const port = (listener.address() as { port: number }).port;
    try {
      // A webhook behind a Service whose hand-written endpoint is an address of the host's network.
      await kubectl('create', 'namespace', 'probe');
      await apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'hook', namespace: 'probe' }, spec: { ports: [{ port: 443, targetPort: port }] } });
      await apply({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'hook', namespace: 'probe' }, subsets: [{ addresses: [{ ip: address }], ports: [{ port }] }] });
      await apply({
        apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'hook' },
        webhooks: [{
          name: 'hook.probe.example', admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail', timeoutSeconds: 5,
          clientConfig: { service: { namespace: 'probe', name: 'hook', port: 443 } },
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'probe' } },
          rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] }],
        }],
      });
      const refused = await eventually('the webhook call is refused', async () => {
        const r = await runKubectl((await kit()).bin.kubectl, kubeconfig, ['-n', 'probe', 'create', 'configmap', `c${randomBytes(3).toString('hex')}`]);
        return r.code !== 0 && r.stderr.includes('hook.probe.example') ? r : undefined;
      });
      expect(refused.stderr).toContain('not a pod or Service of this tenant');
      expect(running?.syncer.context.metrics ? await running.syncer.context.metrics.text() : '').toMatch(/vnest_egress_connections_total\{verdict="refused"\} [1-9]/);
      // A node whose kubelet is that address: the control plane's node proxy is answered by the syncer.
      await apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'rogue' } });
      await bed().virtualKubectl(tenant, 'patch', 'node', 'rogue', '--subresource=status', '--type=merge', '-p', JSON.stringify({
        status: { addresses: [{ type: 'InternalIP', address }], daemonEndpoints: { kubeletEndpoint: { Port: port } } },
      }));
      expect(await bed().virtualKubectl(tenant, 'get', '--raw', '/api/v1/nodes/rogue/proxy/healthz')).toBe('ok');
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(dialled).toHaveLength(0);
    } finally {
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      await runKubectl((await kit()).bin.kubectl, kubeconfig, ['delete', 'validatingwebhookconfiguration', 'hook', '--ignore-not-found']);
      await runKubectl((await kit()).bin.kubectl, kubeconfig, ['delete', 'node', 'rogue', '--wait=false']);
    }
  });
});
