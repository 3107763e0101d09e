// The tenant API front door through kubectl with the exported kubeconfig and only it: admin work,
// logs, exec and port-forward on a tenant pod, RBAC of a narrow user, service-account tokens, 401
// without credentials, certificates that survive a syncer restart, and no way to make the tenant's
// control plane dial a node or pod (node proxy refused, pod and service proxy served by the host).
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderKubeconfig } from '../../src/kube/kubeconfig.ts';
import { kubectlOk, runKubectl } from '../../src/local/kubectl.ts';
import { httpsGet } from '../../src/local/wait.ts';
import { issueCertificate, loadCertificateAuthority } from '../../src/pki/certs.ts';
import type { RunningSyncer } from '../../src/syncer/run.ts';
import { greeter, kit, ports, readThroughPortForward, useEnvironment } from '../helpers.ts';
import { eventually, hostNamespace, TenantBed, type PodJson } from '../tenant-bed.ts';

const tenant = 'door';
const greeting = 'hello through the front door';

interface Credentials {
  caPem: string;
  certPem?: string;
  keyPem?: string;
}

/**
 * One request to the front door with the path exactly as given: kubectl and URL parsers would
 * clean up the hostile spellings these tests need. An upgrade answered 101 is closed at once.
 */
function doorRequest(port: number, path: string, creds: Credentials, opts: { method?: string; upgrade?: boolean } = {}): Promise<{ status: number; body: string }> {
  const upgrade = opts.upgrade ? { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': randomBytes(16).toString('base64') } : {};
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', ca: creds.caPem, cert: creds.certPem, key: creds.keyPem, headers: upgrade, timeout: 20_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: '' });
    });
    req.on('timeout', () => req.destroy(new Error(`${opts.method ?? 'GET'} ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** How many pods/proxy or services/proxy requests an apiserver has served, from its /metrics. */
function proxyRequests(metrics: string, resource: 'pods' | 'services'): number {
  return metrics.split('\n')
    .filter((l) => l.startsWith('apiserver_request_total{') && l.includes(`resource="${resource}"`) && l.includes('subresource="proxy"'))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** An address of this machine that kube-apiserver would proxy to (it refuses loopback). */
function proxyableAddress(): string | undefined {
  return Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

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

  it('opens quiet watches at once, and many of them leave the tenant API and the syncer room', async () => {
    const doc = parse(await readFile(kubeconfig, 'utf8')) as { clusters: Array<{ cluster: Record<string, string> }>; users: Array<{ user: Record<string, string> }> };
    const b64 = (v: string | undefined) => Buffer.from(v ?? '', 'base64').toString();
    const creds = { ca: b64(doc.clusters[0]?.cluster['certificate-authority-data']), cert: b64(doc.users[0]?.user['client-certificate-data']), key: b64(doc.users[0]?.user['client-key-data']) };
    // A watch that matches nothing has no event to send: its headers must get through anyway.
    const open = () => new Promise<ReturnType<typeof request>>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/v1/namespaces/default/configmaps?watch=1&labelSelector=nothing%3Dmatches', ...creds }, (res) => {
        if (res.statusCode === 200) resolve(req);
        else reject(new Error(`watch answered ${res.statusCode}`));
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
      req.end();
    });
    const watches: Array<ReturnType<typeof request>> = [];
    try {
      // More than the syncer's own connection pool holds (64).
      for (let i = 0; i < 80; i++) watches.push(await open());
      expect(watches).toHaveLength(80);
      // With all of them open, the tenant's other requests and the syncer's work still go through.
      expect(await kubectl('get', 'namespace', 'default', '-o', 'name')).toBe('namespace/default\n');
      await kubectl('create', 'namespace', 'watched');
      await kubectl('-n', 'watched', 'create', 'configmap', 'c', '--from-literal=k=v');
      await bed().virtualKubectl(tenant, '-n', 'watched', 'get', 'configmap', 'c');
    } finally {
      for (const w of watches) w.destroy();
    }
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

  it('follows the host\'s cluster IP when the virtual one is taken on the host, keeping the virtual Service\'s identity', async () => {
    await bed().hostKubectl('-n', 'default', 'create', 'service', 'clusterip', 'squatter', '--clusterip=10.96.200.200', '--tcp=80:80');
    await kubectl('-n', 'apps', 'create', 'service', 'clusterip', 'clash', '--clusterip=10.96.200.200', '--tcp=80:80');
    const uid = await kubectl('-n', 'apps', 'get', 'service', 'clash', '-o', 'jsonpath={.metadata.uid}');
    const ips = await eventually('virtual Service moved to the host copy\'s IP', async () => {
      const v = await runKubectl((await kit()).bin.kubectl, kubeconfig, ['-n', 'apps', 'get', 'service', 'clash', '-o', 'jsonpath={.spec.clusterIP}']);
      const h = await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['-n', hostNamespace, 'get', 'service', `clash-x-apps-x-${tenant}`, '-o', 'jsonpath={.spec.clusterIP}']);
      return v.code === 0 && h.code === 0 && v.stdout === h.stdout ? v.stdout : undefined;
    });
    expect(ips).not.toBe('10.96.200.200');
    // The same object (what it owns stays), of its own type again, with one host copy.
    expect(await kubectl('-n', 'apps', 'get', 'service', 'clash', '-o', 'jsonpath={.metadata.uid} {.spec.type}')).toBe(`${uid} ClusterIP`);
    const copies = await bed().hostJson<{ items: unknown[] }>('-n', hostNamespace, 'get', 'services', '-l', `vnest.dev/tenant=${tenant}`, '--field-selector', `metadata.name=clash-x-apps-x-${tenant}`);
    expect(copies.items).toHaveLength(1);
  });

  it('publishes an OIDC discovery document whose keys are where pods reach the API', async () => {
    // Service-account issuers are checked by relying parties that fetch jwks_uri from inside the
    // cluster: it must name kubernetes.default.svc (the front door), not the control plane's loopback.
    const doc = JSON.parse(await kubectl('get', '--raw', '/.well-known/openid-configuration')) as { issuer?: string; jwks_uri?: string };
    expect(doc.issuer).toBe('https://kubernetes.default.svc.cluster.local');
    expect(doc.jwks_uri).toBe('https://kubernetes.default.svc.cluster.local/openid/v1/jwks');
    const keys = JSON.parse(await kubectl('get', '--raw', '/openid/v1/jwks')) as { keys?: unknown[] };
    expect(keys.keys?.length).toBeGreaterThan(0);
  });

  it('points the tenant\'s default/kubernetes Service and in-pod clients at the front door', async () => {
    const hostIp = (await bed().hostKubectl('-n', hostNamespace, 'get', 'service', tenant, '-o', 'jsonpath={.spec.clusterIP}')).trim();
    expect((await kubectl('-n', 'default', 'get', 'service', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}')).trim()).toBe(hostIp);
    expect(await kubectl('-n', 'default', 'get', 'endpointslice', 'kubernetes', '-o', 'jsonpath={.endpoints[0].addresses[0]}:{.ports[0].port}')).toBe(`10.244.250.1:${port}`);
    // The Endpoints object too, as kube-apiserver keeps for its own Service (the conformance test
    // "should have Endpoints and EndpointSlices pointing to API Server" reads both), not mirrored again.
    expect(await kubectl('-n', 'default', 'get', 'endpoints', 'kubernetes', '-o', 'jsonpath={.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}')).toBe(`10.244.250.1:${port}`);
    expect((await kubectl('-n', 'default', 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=kubernetes', '-o', 'name')).trim().split('\n')).toEqual(['endpointslice.discovery.k8s.io/kubernetes']);
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

  it("issues the front door's certificates from the tenant's CA when given, so pods trust what kube-root-ca.crt publishes", async () => {
    const caFiles = bed().virtual(tenant).caFiles;
    const tenantCa = await readFile(caFiles.cert, 'utf8');
    if (running) await bed().stopSyncer(running);
    running = await bed().startSyncer(tenant, { ...syncerFlags(), tenantCaCert: caFiles.cert, tenantCaKey: caFiles.key });
    try {
      const certs = await secretData(`${tenant}-certs`);
      expect(Buffer.from(certs['ca.crt'] ?? '', 'base64').toString()).toBe(tenantCa);
      expect(certs['ca.key']).toBeUndefined(); // the tenant's CA key is not copied to the host
      const exported = join(bed().host.controlPlane.dir, 'tenant-ca.kubeconfig');
      await writeFile(exported, Buffer.from((await secretData(`${tenant}-kubeconfig`)).config ?? '', 'base64'));
      // What the tenant publishes is what its pods get on the host, and the front door proves it.
      const published = (await kubectlOk((await kit()).bin.kubectl, exported, ['-n', 'apps', 'get', 'configmap', 'kube-root-ca.crt', '-o', 'jsonpath={.data.ca\\.crt}']));
      expect(published.trim()).toBe(tenantCa.trim());
      await eventually('the host copy of kube-root-ca.crt with the same ca.crt', async () => {
        const copy = await bed().hostJson<{ data: Record<string, string> }>('-n', hostNamespace, 'get', 'configmap', `kube-root-ca.crt-x-apps-x-${tenant}`).catch(() => undefined);
        return copy?.data['ca.crt']?.trim() === tenantCa.trim();
      });
      expect((await doorRequest(port, '/healthz', { caPem: published })).status).toBe(200);
    } finally {
      // Back to the front door's own CA for the tests that follow (they issue users from its key).
      if (running) await bed().stopSyncer(running);
      running = await bed().startSyncer(tenant, syncerFlags());
      await writeFile(kubeconfig, Buffer.from((await secretData(`${tenant}-kubeconfig`)).config ?? '', 'base64'));
    }
  });

  describe('requests that would make the control plane dial a node or pod', () => {
    let admin: Credentials;
    let dev: Credentials;
    const door = (path: string, creds: Credentials, opts: { method?: string; upgrade?: boolean } = {}) => doorRequest(port, path, creds, opts);
    const hostMetrics = async () => bed().hostKubectl('get', '--raw', '/metrics');
    const virtualMetrics = async () => bed().virtualKubectl(tenant, 'get', '--raw', '/metrics');

    beforeAll(async () => {
      const certs = await secretData(`${tenant}-certs`);
      const pem = (key: string) => Buffer.from(certs[key] ?? '', 'base64').toString();
      const ca = await loadCertificateAuthority({ certPem: pem('ca.crt'), keyPem: pem('ca.key') });
      admin = { caPem: ca.certPem, certPem: pem('admin.crt'), keyPem: pem('admin.key') };
      dev = { caPem: ca.certPem, ...(await issueCertificate(ca, { commonName: 'dev', usages: ['client'] })) };
      // A pod the host cannot schedule: it has a host copy but no IP, so the host's pod proxy
      // answers at once ("address not allowed") instead of dialling an address no kwok pod serves.
      const stuck = {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: 'stuck', namespace: 'apps' },
        spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10', ports: [{ containerPort: 8080 }], resources: { requests: { cpu: '500' } } }] },
      };
      await kubectlOk((await kit()).bin.kubectl, kubeconfig, ['apply', '-f', '-'], { input: JSON.stringify(stuck) });
      // A Service that selects no pod: the host answers its proxy with "no endpoints" at once.
      await kubectl('-n', 'apps', 'create', 'service', 'clusterip', 'lonely', '--tcp=80:80');
      await eventually('host copies of pod stuck and Service lonely', async () => {
        const pod = await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['-n', hostNamespace, 'get', 'pod', `stuck-x-apps-x-${tenant}`]);
        const svc = await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['-n', hostNamespace, 'get', 'service', `lonely-x-apps-x-${tenant}`]);
        return pod.code === 0 && svc.code === 0;
      });
    });

    it('refuses node proxy in every spelling, and nothing dials the node', async () => {
      const address = proxyableAddress();
      expect(address, 'this machine needs a non-loopback IPv4 address for this test').toBeDefined();
      const dialled: Socket[] = [];
      const kubelet = createTcpServer((s) => {
        dialled.push(s);
        s.destroy();
      });
      await new Promise<void>((resolve) => kubelet.listen(0, '0.0.0.0', resolve));
      const kubeletPort = (kubelet.address() as { port: number }).port;
      try {
        // What a hostile tenant writes: a Node whose kubelet is an address of the host's network.
        await kubectlOk((await kit()).bin.kubectl, kubeconfig, ['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'rogue' } }) });
        await kubectl('patch', 'node', 'rogue', '--subresource=status', '--type=merge', '-p', JSON.stringify({
          status: { addresses: [{ type: 'InternalIP', address }], daemonEndpoints: { kubeletEndpoint: { Port: kubeletPort } } },
        }));
        // Control: asked directly, the tenant's control plane does dial it.
        await runKubectl((await kit()).bin.kubectl, bed().virtual(tenant).kubeconfigPath, ['get', '--raw', '/api/v1/nodes/rogue/proxy/healthz']);
        await eventually('the control plane dials the rogue kubelet', async () => dialled.length > 0);
        dialled.length = 0;

        for (const path of ['/api/v1/nodes/rogue/proxy/healthz', '/api/v1/nodes/rogue/proxy', `/api/v1/nodes/https:rogue:${kubeletPort}/proxy/pods`, '/api/v1/proxy/nodes/rogue/healthz', '/api/v1/NODES/rogue/proxy/', '/api/v1/nodes/rogue/proxy/healthz?x=1']) {
          const res = await door(path, admin);
          expect(res.status, path).toBe(403);
          expect(res.body, path).toContain('node proxy is not available in a virtual cluster');
        }
        const upgraded = await door('/api/v1/nodes/rogue/proxy/ws', admin, { upgrade: true });
        expect(upgraded.status).toBe(403);
        expect(upgraded.body).toContain('node proxy is not available');
        for (const path of ['/api//v1/nodes/rogue/proxy', '/api/v1/nodes/rogue%2Fproxy', '/api/v1/nodes/rogue/prox%79/healthz', '/api/v1/namespaces/apps/pods/stuck/../../../nodes/rogue/proxy', '/api/v1/nodes/rogue/./proxy']) {
          expect((await door(path, admin)).status, path).toBe(400);
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
        expect(dialled).toHaveLength(0);
      } finally {
        await new Promise<void>((resolve) => kubelet.close(() => resolve()));
        await runKubectl((await kit()).bin.kubectl, kubeconfig, ['delete', 'node', 'rogue', '--wait=false']);
      }
    });

    it('answers 400 to request paths not in canonical form, and forwards none of them', async () => {
      for (const path of [
        '/api/v1/namespaces/apps/pods/../secrets',
        '/api/v1/namespaces/apps/./pods',
        '/api//v1/namespaces',
        '/api/v1/namespaces/apps/pods/stuck%2Fproxy',
        '/api/v1/namespaces/apps/pods/stuck/%2E%2E/%2e%2e/secrets',
        '/api/v1/namespaces%2Fapps',
        '/api/v1/namespaces\\apps',
        '/api/v1/namespaces/apps/pods/stuck/proxy//x',
      ]) {
        const res = await door(path, admin);
        expect(res.status, path).toBe(400);
        expect(JSON.parse(res.body), path).toMatchObject({ kind: 'Status', reason: 'BadRequest', message: expect.stringContaining('request path refused') });
      }
      // Refused before anyone is asked who the caller is.
      expect((await door('/api/v1/nodes/n%2Fproxy', { caPem: admin.caPem })).status).toBe(400);
      // Ordinary paths, queries with encoded characters included, still pass.
      const list = await door('/api/v1/namespaces/apps/pods?labelSelector=app%3Dweb', admin);
      expect(list.status).toBe(200);
      expect((JSON.parse(list.body) as { items: unknown[] }).items).toHaveLength(1);
    });

    it('sends service proxy to the host copy of the Service', async () => {
      const before = { host: proxyRequests(await hostMetrics(), 'services'), virtual: proxyRequests(await virtualMetrics(), 'services') };
      for (const path of ['/api/v1/namespaces/apps/services/lonely/proxy/', '/api/v1/namespaces/apps/services/http:lonely:80/proxy/x?y=1']) {
        const res = await eventually(`host answer to ${path}`, async () => {
          const r = await door(path, admin);
          return r.status === 404 && r.body.includes('has no copy on the host') ? undefined : r;
        });
        // The host's own answer, naming the host copy: a Service without endpoints there.
        expect([404, 503], `${path}: ${res.body}`).toContain(res.status);
        expect(res.body, path).toContain(`lonely-x-apps-x-${tenant}`);
      }
      expect(proxyRequests(await hostMetrics(), 'services')).toBeGreaterThanOrEqual(before.host + 2);
      expect(proxyRequests(await virtualMetrics(), 'services')).toBe(before.virtual);
      const missing = await door('/api/v1/namespaces/apps/services/nowhere/proxy/', admin);
      expect(missing.status).toBe(404);
      expect(missing.body).toContain('services \\"nowhere\\" has no copy on the host');
    });

    it('sends pod proxy, plain and upgraded, to the host pod', async () => {
      const before = { host: proxyRequests(await hostMetrics(), 'pods'), virtual: proxyRequests(await virtualMetrics(), 'pods') };
      const res = await eventually('host answer to pod proxy', async () => {
        const r = await door('/api/v1/namespaces/apps/pods/stuck/proxy/', admin);
        return r.body.includes('has no running copy yet') ? undefined : r;
      });
      // The host pod has no IP yet: the host's apiserver refuses to dial, and says so.
      expect(res.status, res.body).toBe(400);
      expect(res.body).toContain('address not allowed');
      const withPort = await door('/api/v1/namespaces/apps/pods/stuck:8080/proxy/x', admin, { method: 'POST' });
      expect(withPort.status, withPort.body).toBe(400);
      const upgraded = await door('/api/v1/namespaces/apps/pods/stuck/proxy/ws', admin, { upgrade: true });
      expect(upgraded.status).toBe(400);
      expect(upgraded.body).toContain('address not allowed');
      expect(proxyRequests(await hostMetrics(), 'pods')).toBeGreaterThanOrEqual(before.host + 3);
      expect(proxyRequests(await virtualMetrics(), 'pods')).toBe(before.virtual);
    });

    it('lets the tenant\'s RBAC decide pod and service proxy for a narrow user, verb by HTTP method', async () => {
      const denied = await door('/api/v1/namespaces/apps/pods/stuck/proxy/', dev);
      expect(denied.status).toBe(403);
      expect(denied.body).toContain('cannot get resource \\"pods/proxy\\"');
      const svc = await door('/api/v1/namespaces/apps/services/lonely/proxy/', dev);
      expect(svc.status).toBe(403);
      expect(svc.body).toContain('cannot get resource \\"services/proxy\\"');
      await kubectl('create', 'role', 'pod-proxy-reader', '-n', 'apps', '--verb=get', '--resource=pods/proxy');
      await kubectl('create', 'rolebinding', 'dev-proxies-pods', '-n', 'apps', '--role=pod-proxy-reader', '--user=dev');
      const allowed = await eventually('dev may get pods/proxy', async () => {
        const r = await door('/api/v1/namespaces/apps/pods/stuck/proxy/', dev);
        return r.status === 403 ? undefined : r;
      });
      expect(allowed.body).toContain('address not allowed');
      const post = await door('/api/v1/namespaces/apps/pods/stuck/proxy/', dev, { method: 'POST' });
      expect(post.status).toBe(403);
      expect(post.body).toContain('cannot create resource \\"pods/proxy\\"');
      // OPTIONS is verb options, as in Kubernetes (the conformance suite's proxy test sends it).
      const options = await door('/api/v1/namespaces/apps/pods/stuck/proxy/', dev, { method: 'OPTIONS' });
      expect(options.status).toBe(403);
      expect(options.body).toContain('cannot options resource \\"pods/proxy\\"');
      expect((await door('/api/v1/namespaces/apps/pods/stuck/proxy/', dev, { method: 'TRACE' })).status).toBe(405);
    });
  });

  it('refuses webhooks that would make the control plane dial a URL, in every way of writing them', async () => {
    const k = async (args: string[], input?: string) => runKubectl((await kit()).bin.kubectl, kubeconfig, args, input === undefined ? {} : { input });
    const hook = (name: string, clientConfig: Record<string, unknown>) => JSON.stringify({
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name },
      webhooks: [{ name: 'check.example.com', clientConfig, rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }], sideEffects: 'None', admissionReviewVersions: ['v1'], failurePolicy: 'Ignore' }],
    });
    const created = await k(['create', '-f', '-'], hook('by-url', { url: 'https://169.254.169.254/latest' }));
    expect(created.code).not.toBe(0);
    expect(created.stderr).toContain('webhooks[0].clientConfig.url: webhooks that dial a URL are not allowed');
    const applied = await k(['apply', '--server-side', '-f', '-'], hook('by-url', { url: 'https://10.0.0.1/' }));
    expect(applied.code).not.toBe(0);
    expect((await k(['get', 'validatingwebhookconfigurations', 'by-url'])).code).not.toBe(0);

    expect((await k(['create', '-f', '-'], hook('by-service', { service: { name: 'checker', namespace: 'apps', port: 443 } }))).code).toBe(0);
    const patched = await k(['patch', 'validatingwebhookconfigurations', 'by-service', '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/webhooks/0/clientConfig', value: { url: 'https://10.0.0.1/' } }])]);
    expect(patched.code).not.toBe(0);
    const after = JSON.parse(await kubectl('get', 'validatingwebhookconfigurations', 'by-service', '-o', 'json')) as { webhooks: Array<{ clientConfig: Record<string, unknown> }> };
    expect(after.webhooks[0]?.clientConfig.url).toBeUndefined();

    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'dials.tenant.example' },
      spec: {
        group: 'tenant.example', scope: 'Namespaced', names: { kind: 'Dial', plural: 'dials' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
        conversion: { strategy: 'Webhook', webhook: { conversionReviewVersions: ['v1'], clientConfig: { url: 'https://10.0.0.1/convert' } } },
      },
    };
    const conv = await k(['create', '-f', '-'], JSON.stringify(crd));
    expect(conv.stderr).toContain('spec.conversion.webhook.clientConfig.url');
    expect((await k(['get', 'crd', 'dials.tenant.example'])).code).not.toBe(0);
  });
});
