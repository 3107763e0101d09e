// The tenant API front door through kubectl with the exported kubeconfig and only it: admin work,
// logs, exec and port-forward on a tenant pod, RBAC of a narrow user, service-account tokens, 401
// without credentials, and certificates that survive a syncer restart.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderKubeconfig } from '../../src/kube/kubeconfig.ts';
import { kubectlOk, runKubectl } from '../../src/local/kubectl.ts';
import { httpsGet } from '../../src/local/wait.ts';
import { issueCertificate, loadCertificateAuthority } from '../../src/pki/certs.ts';
import type { RunningSyncer } from '../../src/syncer/run.ts';
import { greeter, kit, ports, readThroughPortForward, useEnvironment } from '../helpers.ts';
import { eventually, hostNamespace, TenantBed, type PodJson } from '../tenant-bed.ts';

const tenant = 'door';
const greeting = 'hello through the front door';

describe('tenant API front door', async () => {
  const target = await greeter(greeting);
  afterAll(() => new Promise<void>((resolve) => target.close(() => resolve())));
  const env = useEnvironment(() => TenantBed.start([tenant], { portForwardTarget: { address: '127.0.0.1', port: target.port }, podLogs: 'front door log line\n' }));
  const bed = () => env.current;
  let port = 0;
  let running: RunningSyncer | undefined;
  let kubeconfig = '';
  const secretData = async (name: string) => (await bed().hostJson<{ data: Record<string, string> }>('-n', hostNamespace, 'get', 'secret', name)).data;
  const kubectl = async (...args: string[]) => kubectlOk((await kit()).bin.kubectl, kubeconfig, args);
  let restricted = '';
  // The syncer runs with only the namespaced host Role it declares, front door included.
  const syncerFlags = () => ({ hostKubeconfig: restricted, listenPort: port, listenAddress: '127.0.0.1', kubeconfigServer: `https://127.0.0.1:${port}`, coredns: true, frontDoorIp: '10.244.250.1' });

  beforeAll(async () => {
    port = await ports.next();
    restricted = await bed().restrictedHostKubeconfig(tenant);
    running = await bed().startSyncer(tenant, syncerFlags());
    const data = await secretData(`${tenant}-kubeconfig`);
    kubeconfig = join(bed().host.controlPlane.dir, 'exported.kubeconfig');
    await writeFile(kubeconfig, Buffer.from(data.config ?? '', 'base64'));
  });

  it('exports a kubeconfig with no host credentials, and serves health without them', async () => {
    const text = Buffer.from((await secretData(`${tenant}-kubeconfig`)).config ?? '', 'base64').toString();
    expect(text).toContain(`server: https://127.0.0.1:${port}`);
    expect(text).not.toContain(bed().host.server);
    expect((await httpsGet(`https://127.0.0.1:${port}/healthz`, { insecure: true })).status).toBe(200);
    expect((await httpsGet(`https://127.0.0.1:${port}/readyz`, { insecure: true })).status).toBe(200);
  });

  it('answers 401 to a request without credentials', async () => {
    const res = await httpsGet(`https://127.0.0.1:${port}/api/v1/namespaces`, { insecure: true });
    expect(res.status).toBe(401);
  });

  it('lets the tenant admin create namespaces, CRDs, RBAC, deployments and services', async () => {
    await kubectl('create', 'namespace', 'apps');
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'notes.tenant.example' },
      spec: { group: 'tenant.example', scope: 'Namespaced', names: { kind: 'Note', plural: 'notes', singular: 'note' }, versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }] },
    };
    await kubectlOk((await kit()).bin.kubectl, kubeconfig, ['apply', '-f', '-'], { input: JSON.stringify(crd) });
    await kubectl('create', 'role', 'pod-reader', '-n', 'apps', '--verb=get,list', '--resource=pods');
    await kubectl('create', 'rolebinding', 'dev-reads-pods', '-n', 'apps', '--role=pod-reader', '--user=dev');
    await eventually('default service account', async () => (await runKubectl((await kit()).bin.kubectl, kubeconfig, ['-n', 'apps', 'get', 'sa', 'default'])).code === 0);
    await kubectl('-n', 'apps', 'create', 'deployment', 'web', '--image=registry.k8s.io/pause:3.10', '--port=80');
    await kubectl('-n', 'apps', 'expose', 'deployment', 'web', '--port=80');
    await eventually('web pod Running', async () => {
      const pods = JSON.parse(await kubectl('-n', 'apps', 'get', 'pods', '-l', 'app=web', '-o', 'json')) as { items: PodJson[] };
      return pods.items.length === 1 && pods.items[0]?.status.phase === 'Running';
    });
    expect(await kubectl('auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}')).toBe('vnest-admin');
  });

  it('serves logs, exec and port-forward of a tenant pod from its host pod', async () => {
    const pod = (await kubectl('-n', 'apps', 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}')).trim();
    expect(await kubectl('-n', 'apps', 'logs', pod)).toBe('front door log line\n');
    const marker = randomBytes(6).toString('hex');
    await writeFile(join(bed().host.execDir, 'marker'), marker);
    expect(await kubectl('-n', 'apps', 'exec', pod, '--', 'cat', 'marker')).toBe(marker);
    expect(await readThroughPortForward((await kit()).bin.kubectl, kubeconfig, ['-n', 'apps', `pod/${pod}`], 80, greeting.length)).toBe(greeting);
  });

  it('lets the tenant\'s RBAC decide for a narrow user, logs and exec included', async () => {
    const certs = await secretData(`${tenant}-certs`);
    const ca = await loadCertificateAuthority({ certPem: Buffer.from(certs['ca.crt'] ?? '', 'base64').toString(), keyPem: Buffer.from(certs['ca.key'] ?? '', 'base64').toString() });
    const dev = await issueCertificate(ca, { commonName: 'dev', usages: ['client'] });
    const devConfig = join(bed().host.controlPlane.dir, 'dev.kubeconfig');
    await writeFile(devConfig, renderKubeconfig({ name: 'dev', server: `https://127.0.0.1:${port}`, caPem: ca.certPem, credentials: dev }));
    const k = (await kit()).bin.kubectl;
    expect((await runKubectl(k, devConfig, ['-n', 'apps', 'get', 'pods'])).code).toBe(0);
    const secrets = await runKubectl(k, devConfig, ['-n', 'apps', 'get', 'secrets']);
    expect(secrets.code).not.toBe(0);
    expect(secrets.stderr).toMatch(/Forbidden|forbidden/);
    const pod = (await kubectl('-n', 'apps', 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}')).trim();
    const exec = await runKubectl(k, devConfig, ['-n', 'apps', 'exec', pod, '--', 'true']);
    expect(exec.code).not.toBe(0);
    expect(exec.stderr).toMatch(/forbidden/i);
    const logs = await runKubectl(k, devConfig, ['-n', 'apps', 'logs', pod]);
    expect(logs.code).not.toBe(0);
    expect(logs.stderr).toMatch(/forbidden/i);
    // kubectl --as needs impersonation rights the narrow user lacks.
    const as = await runKubectl(k, devConfig, ['--as=vnest-admin', 'get', 'namespaces']);
    expect(as.stderr).toMatch(/may not impersonate/);
  });

  it('authenticates service-account tokens of the virtual cluster', async () => {
    await kubectl('-n', 'apps', 'create', 'serviceaccount', 'robot');
    const token = (await kubectl('-n', 'apps', 'create', 'token', 'robot')).trim();
    const res = await runKubectl((await kit()).bin.kubectl, '/dev/null', [`--server=https://127.0.0.1:${port}`, '--insecure-skip-tls-verify', `--token=${token}`, 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
    expect(res.stdout).toBe('system:serviceaccount:apps:robot');
    const bad = await runKubectl((await kit()).bin.kubectl, '/dev/null', [`--server=https://127.0.0.1:${port}`, '--insecure-skip-tls-verify', '--token=not-a-token', 'get', 'pods']);
    expect(bad.stderr).toMatch(/Unauthorized|provide credentials/);
  });

  it('gives a virtual Service and its host copy one cluster IP, and endpoints with the host pod IPs', async () => {
    const v = JSON.parse(await kubectl('-n', 'apps', 'get', 'service', 'web', '-o', 'json')) as { spec: { clusterIP: string; selector: Record<string, string> } };
    const h = await eventually('host copy of service web', async () => {
      const r = await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['-n', hostNamespace, 'get', 'service', `web-x-apps-x-${tenant}`, '-o', 'json']);
      return r.code === 0 ? (JSON.parse(r.stdout) as { spec: { clusterIP: string; selector: Record<string, string>; ports: Array<{ port: number }> } }) : undefined;
    });
    expect(h.spec.clusterIP).toBe(v.spec.clusterIP);
    expect(h.spec.selector).toEqual({ ...v.spec.selector, 'vnest.dev/tenant': tenant, 'vnest.dev/namespace': 'apps' });
    const podIp = (await kubectl('-n', 'apps', 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].status.podIP}')).trim();
    await eventually('virtual EndpointSlice with the pod IP', async () =>
      (await kubectl('-n', 'apps', 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'jsonpath={.items[*].endpoints[*].addresses[*]}')).includes(podIp));
    // Headless and ExternalName Services keep their shape on the host.
    await kubectl('-n', 'apps', 'create', 'service', 'clusterip', 'peers', '--clusterip=None', '--tcp=7000:7000');
    await kubectl('-n', 'apps', 'create', 'service', 'externalname', 'upstream', '--external-name=example.org');
    const peers = await eventually('headless copy', async () => {
      const r = await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['-n', hostNamespace, 'get', 'service', `peers-x-apps-x-${tenant}`, '-o', 'jsonpath={.spec.clusterIP}']);
      return r.code === 0 ? r.stdout : undefined;
    });
    expect(peers).toBe('None');
    const upstream = await eventually('external name copy', async () => {
      const r = await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['-n', hostNamespace, 'get', 'service', `upstream-x-apps-x-${tenant}`, '-o', 'jsonpath={.spec.externalName}']);
      return r.code === 0 ? r.stdout : undefined;
    });
    expect(upstream).toBe('example.org');
  });

  it('follows the host\'s cluster IP when the virtual one is taken on the host', async () => {
    await bed().hostKubectl('-n', 'default', 'create', 'service', 'clusterip', 'squatter', '--clusterip=10.96.200.200', '--tcp=80:80');
    await kubectl('-n', 'apps', 'create', 'service', 'clusterip', 'clash', '--clusterip=10.96.200.200', '--tcp=80:80');
    const ips = await eventually('virtual Service recreated with the host copy\'s IP', async () => {
      const v = await runKubectl((await kit()).bin.kubectl, kubeconfig, ['-n', 'apps', 'get', 'service', 'clash', '-o', 'jsonpath={.spec.clusterIP}']);
      const h = await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['-n', hostNamespace, 'get', 'service', `clash-x-apps-x-${tenant}`, '-o', 'jsonpath={.spec.clusterIP}']);
      return v.code === 0 && h.code === 0 && v.stdout === h.stdout ? v.stdout : undefined;
    });
    expect(ips).not.toBe('10.96.200.200');
  });

  it('points the tenant\'s default/kubernetes Service and in-pod clients at the front door', async () => {
    const hostIp = (await bed().hostKubectl('-n', hostNamespace, 'get', 'service', tenant, '-o', 'jsonpath={.spec.clusterIP}')).trim();
    expect((await kubectl('-n', 'default', 'get', 'service', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}')).trim()).toBe(hostIp);
    expect(await kubectl('-n', 'default', 'get', 'endpointslice', 'kubernetes', '-o', 'jsonpath={.endpoints[0].addresses[0]}:{.ports[0].port}')).toBe(`10.244.250.1:${port}`);
    const pod = (await kubectl('-n', 'apps', 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}')).trim();
    const h = await bed().hostJson<PodJson>('-n', hostNamespace, 'get', 'pod', `${pod}-x-apps-x-${tenant}`);
    expect(h.spec.containers[0]?.env).toEqual(expect.arrayContaining([{ name: 'KUBERNETES_SERVICE_HOST', value: hostIp }, { name: 'KUBERNETES_SERVICE_PORT', value: '443' }]));
  });

  it('runs the tenant\'s own CoreDNS, and gives synced pods its address and search path', async () => {
    const dnsIp = (await kubectl('-n', 'kube-system', 'get', 'service', 'kube-dns', '-o', 'jsonpath={.spec.clusterIP}')).trim();
    expect(dnsIp).toMatch(/^10\.96\./);
    await eventually('CoreDNS Running in the tenant', async () => (await kubectl('-n', 'kube-system', 'get', 'pods', '-l', 'k8s-app=kube-dns', '-o', 'jsonpath={.items[*].status.phase}')) === 'Running');
    const hostDns = await bed().hostJson<{ spec: { clusterIP: string } }>('-n', hostNamespace, 'get', 'service', `kube-dns-x-kube-system-x-${tenant}`);
    expect(hostDns.spec.clusterIP).toBe(dnsIp);
    const corednsIp = (await kubectl('-n', 'kube-system', 'get', 'pods', '-l', 'k8s-app=kube-dns', '-o', 'jsonpath={.items[0].status.podIP}')).trim();
    await eventually('kube-dns EndpointSlice with the CoreDNS pod', async () =>
      (await kubectl('-n', 'kube-system', 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=kube-dns', '-o', 'jsonpath={.items[*].endpoints[*].addresses[*]}')).includes(corednsIp));
    const pod = (await kubectl('-n', 'apps', 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}')).trim();
    const h = await bed().hostJson<PodJson & { spec: { dnsPolicy: string; dnsConfig: { nameservers: string[]; searches: string[] } } }>('-n', hostNamespace, 'get', 'pod', `${pod}-x-apps-x-${tenant}`);
    expect(h.spec.dnsPolicy).toBe('None');
    expect(h.spec.dnsConfig.nameservers).toEqual([dnsIp]);
    expect(h.spec.dnsConfig.searches).toEqual(['apps.svc.cluster.local', 'svc.cluster.local', 'cluster.local']);
  });

  it('keeps the CA and the kubeconfig Secret unchanged across a syncer restart', async () => {
    const before = { certs: await secretData(`${tenant}-certs`), kubeconfig: await secretData(`${tenant}-kubeconfig`) };
    if (running) await bed().stopSyncer(running);
    running = await bed().startSyncer(tenant, syncerFlags());
    expect(await secretData(`${tenant}-certs`)).toEqual(before.certs);
    expect(await secretData(`${tenant}-kubeconfig`)).toEqual(before.kubeconfig);
    expect((await runKubectl((await kit()).bin.kubectl, kubeconfig, ['get', 'namespace', 'apps'])).code).toBe(0);
  });
});
