// A tenant whose pods run for real: its syncer runs here as a process (as in local mode) and its
// front door is reached by pods through the tenant's owner Service. Tenant pods resolve names
// through the tenant's own CoreDNS, reach Services by name and cluster IP, and the tenant's admin
// gets logs, exec, attach and port-forward of real containers through the front door.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kubectlOk, runKubectl } from '../../src/local/kubectl.ts';
import { busyboxImage } from '../../src/local/node-images.ts';
import { waitFor } from '../../src/local/wait.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';
import { hostNamespace, TenantBed } from '../tenant-bed.ts';

const tenant = 'real';
/** A sibling of the tenant (same host namespace), to which it exports a Service. */
const sibling = 'peer';

describe('a tenant on a real node', async () => {
  const k = await kit();
  const env = useEnvironment(() => TenantBed.start([tenant, sibling], { realNodes: 1, nodes: 0 }));
  let kubeconfig = '';
  const kubectl = (...args: string[]) => kubectlOk(k.bin.kubectl, kubeconfig, args);
  const tryKubectl = (...args: string[]) => runKubectl(k.bin.kubectl, kubeconfig, args);
  const apply = (...objs: unknown[]) => kubectlOk(k.bin.kubectl, kubeconfig, ['apply', '-f', '-'], { input: objs.map((o) => JSON.stringify(o)).join('\n') });
  const container = (command: string, extra: Record<string, unknown> = {}) => ({ name: 'main', image: busyboxImage, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', command], ...extra });
  const podSpec = (command: string, extra: Record<string, unknown> = {}) => ({ terminationGracePeriodSeconds: 1, containers: [container(command, extra)] });
  const inCli = (script: string) => tryKubectl('-n', 'apps', 'exec', 'cli', '--', 'sh', '-c', script);

  beforeAll(async () => {
    const bed = env.current;
    // The front door listens here, on this machine's end of the node's link; the owner Service
    // leads there, so pods reach it as they would reach a front door pod.
    const port = await ports.next();
    const address = await bed.host.routeServiceHere(hostNamespace, tenant, port);
    // A host Service its provider shares with this tenant (and one it shares with another).
    await bed.hostKubectl('create', 'namespace', 'infra');
    const infraApply = (...objs: unknown[]) => kubectlOk(k.bin.kubectl, bed.host.kubeconfigPath, ['apply', '-f', '-'], { input: objs.map((o) => JSON.stringify(o)).join('\n') });
    await infraApply(
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'metrics', namespace: 'infra', labels: { app: 'metrics' } }, spec: { nodeSelector: { type: 'real' }, ...podSpec('mkdir -p /tmp/www && echo "metrics here" > /tmp/www/index.html && exec httpd -f -p 9090 -h /tmp/www') } },
      ...[['metrics', tenant], ['private', 'someone-else']].map(([name, shareWith]) => ({
        apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'infra', labels: { 'vnest.dev/shared': 'true' }, annotations: { 'vnest.dev/share-with': shareWith } },
        spec: { selector: { app: 'metrics' }, ports: [{ port: 80, targetPort: 9090 }] },
      })),
    );
    await bed.startSyncer(tenant, { listenPort: port, listenAddress: address, kubeconfigServer: `https://${address}:${port}`, coredns: true, frontDoorIp: address, sharedServices: true, hostsImage: busyboxImage });
    await bed.startSyncer(sibling, { sharedServices: true });
    const secret = await bed.hostJson<{ data: Record<string, string> }>('-n', hostNamespace, 'get', 'secret', `${tenant}-kubeconfig`);
    kubeconfig = join(bed.host.controlPlane.dir, 'tenant.kubeconfig');
    await writeFile(kubeconfig, Buffer.from(secret.data.config ?? '', 'base64'));

    await kubectl('create', 'namespace', 'apps');
    await waitFor('the default ServiceAccount', async () => (await tryKubectl('-n', 'apps', 'get', 'sa', 'default')).code === 0, { timeoutMs: 60_000 });
    const labels = (app: string) => ({ matchLabels: { app } });
    await apply(
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'apps' }, spec: { replicas: 1, selector: labels('web'), template: { metadata: { labels: { app: 'web' } }, spec: podSpec('mkdir -p /tmp/www && echo "served by $(hostname)" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www') } } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'apps' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'hl', namespace: 'apps' }, spec: { clusterIP: 'None', selector: { app: 'db' }, ports: [{ port: 5432 }] } },
      { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: 'apps' }, spec: { serviceName: 'hl', replicas: 1, selector: labels('db'), template: { metadata: { labels: { app: 'db' } }, spec: podSpec('exec sleep 3600') } } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'cli', namespace: 'apps' }, spec: podSpec('exec sleep 3600') },
    );
    await kubectl('-n', 'apps', 'wait', '--for=condition=Ready', 'pod', '--all', '--timeout=150s');
    const dns = await tryKubectl('-n', 'kube-system', 'wait', '--for=condition=Ready', 'pod', '-l', 'k8s-app=kube-dns', '--timeout=150s');
    if (dns.code !== 0) {
      const why = [await tryKubectl('-n', 'kube-system', 'get', 'pods,events', '-o', 'wide'), await tryKubectl('-n', 'kube-system', 'logs', '-l', 'k8s-app=kube-dns', '--tail=30')];
      throw new Error(`CoreDNS did not become Ready: ${dns.stderr}\n${why.map((r) => r.stdout + r.stderr).join('\n')}`);
    }
  }, 400_000);

  it('runs the tenant\'s pods and its CoreDNS as real containers on the real node', async () => {
    const hostPods = await env.current.hostJson<{ items: Array<{ spec: { nodeName: string }; status: { phase: string } }> }>('-n', hostNamespace, 'get', 'pods');
    expect(hostPods.items.length).toBeGreaterThanOrEqual(4);
    expect(new Set(hostPods.items.map((p) => p.spec.nodeName))).toEqual(new Set(['real-node-0']));
    expect(hostPods.items.every((p) => p.status.phase === 'Running')).toBe(true);
  });

  it('resolves kubernetes.default, Services and a headless Service\'s pod names through the tenant\'s CoreDNS', async () => {
    const ip = (ns: string, svc: string) => kubectl('-n', ns, 'get', 'service', svc, '-o', 'jsonpath={.spec.clusterIP}');
    const dbIp = await kubectl('-n', 'apps', 'get', 'pod', 'db-0', '-o', 'jsonpath={.status.podIP}');
    const lookup = async (name: string) => {
      const r = await waitFor(`nslookup ${name}`, async () => {
        const res = await inCli(`nslookup ${name}`);
        return res.code === 0 ? res : undefined;
      }, { timeoutMs: 60_000, intervalMs: 1000 });
      return r.stdout;
    };
    expect(await lookup('kubernetes.default.svc.cluster.local')).toContain(`Address: ${await ip('default', 'kubernetes')}`);
    expect(await lookup('web.apps.svc.cluster.local')).toContain(`Address: ${await ip('apps', 'web')}`);
    expect(await lookup('db-0.hl.apps.svc.cluster.local')).toContain(`Address: ${dbIp}`);
    const missing = await inCli('nslookup no-such-service.apps.svc.cluster.local');
    expect(missing.code).not.toBe(0);
  });

  it('gives a StatefulSet pod its tenant FQDN in /etc/hosts, not the host namespace\'s, and shows no init container of its own', async () => {
    const dbIp = await kubectl('-n', 'apps', 'get', 'pod', 'db-0', '-o', 'jsonpath={.status.podIP}');
    const hosts = await kubectl('-n', 'apps', 'exec', 'db-0', '--', 'cat', '/etc/hosts');
    expect(hosts).toMatch(new RegExp(`^${dbIp.replaceAll('.', '\\.')}\\s+db-0\\.hl\\.apps\\.svc\\.cluster\\.local\\s+db-0$`, 'm'));
    expect(hosts).not.toContain(hostNamespace);
    expect((await kubectl('-n', 'apps', 'exec', 'db-0', '--', 'hostname', '-f')).trim()).toBe('db-0.hl.apps.svc.cluster.local');
    const pod = JSON.parse(await kubectl('-n', 'apps', 'get', 'pod', 'db-0', '-o', 'json')) as { spec: { initContainers?: unknown[] }; status: { initContainerStatuses?: unknown[] } };
    expect(pod.spec.initContainers).toBeUndefined();
    expect(pod.status.initContainerStatuses).toBeUndefined();
  });

  it('reaches a tenant Service by name and by cluster IP', async () => {
    const ip = await kubectl('-n', 'apps', 'get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}');
    const webPod = await kubectl('-n', 'apps', 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}');
    for (const url of [`http://${ip}/`, 'http://web.apps.svc.cluster.local/', 'http://web/']) {
      const body = await waitFor(`GET ${url}`, async () => {
        const r = await inCli(`timeout 5 wget -q -O - ${url}`);
        return r.code === 0 ? r.stdout : undefined;
      }, { timeoutMs: 60_000, intervalMs: 1000 });
      expect(body).toBe(`served by ${webPod}\n`);
    }
  });

  it('reaches a host Service shared with the tenant by its cluster IP and by name, and sees none it was not given', async () => {
    const hostIp = await env.current.hostKubectl('-n', 'infra', 'get', 'service', 'metrics', '-o', 'jsonpath={.spec.clusterIP}');
    const shared = await waitFor('the shared Service in the tenant', async () => {
      const r = await tryKubectl('-n', 'vnest-shared', 'get', 'services', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.spec.clusterIP}{"\\n"}{end}');
      return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
    }, { timeoutMs: 60_000 });
    expect(shared).toBe(`infra-metrics=${hostIp}`);
    for (const url of [`http://${hostIp}/`, 'http://infra-metrics.vnest-shared.svc.cluster.local/']) {
      const body = await waitFor(`GET ${url}`, async () => {
        const r = await inCli(`timeout 5 wget -q -O - ${url}`);
        return r.code === 0 ? r.stdout : undefined;
      }, { timeoutMs: 60_000, intervalMs: 1000 });
      expect(body).toBe('metrics here\n');
    }
  });

  it('enforces the tenant\'s own NetworkPolicy on the real node, within the tenant only', async () => {
    const webIp = await kubectl('-n', 'apps', 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].status.podIP}');
    const reach = async (pod: string) => (await tryKubectl('-n', 'apps', 'exec', pod, '--', 'sh', '-c', `nc -w 2 ${webIp} 8080 </dev/null && echo open || echo closed`)).stdout.trim();
    await apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'friend', namespace: 'apps', labels: { role: 'client' } }, spec: podSpec('exec sleep 3600') });
    await kubectl('-n', 'apps', 'wait', '--for=condition=Ready', 'pod/friend', '--timeout=90s');
    expect(await reach('cli')).toBe('open');
    await apply({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'web-clients', namespace: 'apps' },
      spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ port: 8080 }] }] },
    });
    // The host copy selects this tenant's web pods of that namespace, and admits its clients only.
    const copy = await waitFor('the host copy of the policy', async () => {
      const r = await env.current.hostJson<{ items: Array<{ spec: { podSelector: unknown; ingress: Array<{ from: Array<{ podSelector: unknown }> }> } }> }>('-n', hostNamespace, 'get', 'networkpolicies', '-l', `vnest.dev/tenant=${tenant}`);
      return r.items[0];
    }, { timeoutMs: 30_000 });
    const own = { 'vnest.dev/tenant': tenant, 'vnest.dev/namespace': 'apps' };
    expect(copy.spec.podSelector).toEqual({ matchLabels: { app: 'web', ...own } });
    expect(copy.spec.ingress[0]?.from).toEqual([{ podSelector: { matchLabels: { role: 'client', ...own } } }]);
    await waitFor('the policy enforced', async () => (await reach('cli')) === 'closed' && (await reach('friend')) === 'open', { timeoutMs: 60_000, intervalMs: 1000 });
    await kubectl('-n', 'apps', 'delete', 'networkpolicy', 'web-clients');
    await waitFor('the host copy gone and web open again', async () => (await reach('cli')) === 'open', { timeoutMs: 60_000, intervalMs: 1000 });
    expect((await env.current.hostJson<{ items: unknown[] }>('-n', hostNamespace, 'get', 'networkpolicies')).items).toEqual([]);
  });

  it('exports a Service to a sibling only when both say so, and opens it to the sibling\'s pods alone', async () => {
    const bed = env.current;
    const peer = (...args: string[]) => bed.virtualKubectl(sibling, ...args);
    const hostApply = (obj: unknown) => kubectlOk(k.bin.kubectl, bed.host.kubeconfigPath, ['apply', '-f', '-'], { input: JSON.stringify(obj) });
    // The platform isolates the tenant's pods as the chart does: only its own pods get in.
    const own = { matchLabels: { 'vnest.dev/tenant': tenant } };
    await hostApply({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'isolate-real', namespace: hostNamespace }, spec: { podSelector: own, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: own }] }] } });
    await peer('create', 'namespace', 'apps');
    await waitFor('the default ServiceAccount in peer', async () => (await runKubectl(k.bin.kubectl, bed.virtual(sibling).kubeconfigPath, ['-n', 'apps', 'get', 'sa', 'default'])).code === 0, { timeoutMs: 60_000 });
    await kubectlOk(k.bin.kubectl, bed.virtual(sibling).kubeconfigPath, ['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'consumer', namespace: 'apps' }, spec: podSpec('exec sleep 3600') }) });
    await peer('-n', 'apps', 'wait', '--for=condition=Ready', 'pod/consumer', '--timeout=90s');
    const webIp = await kubectl('-n', 'apps', 'get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}');
    // The sibling has no front door here: its pod is reached on the host.
    const fromPeer = async () => (await runKubectl(k.bin.kubectl, bed.host.kubeconfigPath, ['-n', hostNamespace, 'exec', `consumer-x-apps-x-${sibling}`, '--', 'sh', '-c', `timeout 3 wget -q -O - http://${webIp}/ || echo closed`])).stdout.trim();
    const imported = async () => (await runKubectl(k.bin.kubectl, bed.virtual(sibling).kubeconfigPath, ['-n', 'vnest-shared', 'get', 'services', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.spec.clusterIP} {end}'])).stdout.trim();
    await waitFor('the isolation enforced', async () => (await fromPeer()) === 'closed', { timeoutMs: 60_000, intervalMs: 1000 });

    // The sibling asks first: nothing comes of it alone.
    await peer('-n', 'kube-system', 'create', 'configmap', 'vnest-imports', `--from-literal=from=${tenant}`);
    // The tenant exports its web Service to the sibling: the sibling sees it, its pods get through.
    await kubectl('-n', 'apps', 'annotate', 'service', 'web', `vnest.dev/export-to=${sibling}`);
    await waitFor('the export in the sibling', async () => (await imported()) === `${tenant}-apps-web=${webIp}`, { timeoutMs: 60_000 });
    const body = await waitFor('the sibling\'s pod through', async () => {
      const r = await fromPeer();
      return r.startsWith('served by') ? r : undefined;
    }, { timeoutMs: 60_000, intervalMs: 1000 });
    expect(body).toMatch(/^served by web-/);
    // The door opens to the named sibling's pods, on the Service's pods and target port only.
    const policy = await bed.hostJson<{ spec: { podSelector: unknown; ingress: unknown[] } }>('-n', hostNamespace, 'get', 'networkpolicy', `web-x-apps-x-${tenant}-export`);
    expect(policy.spec.podSelector).toEqual({ matchLabels: { app: 'web', 'vnest.dev/tenant': tenant, 'vnest.dev/namespace': 'apps' } });
    expect(policy.spec.ingress[0]).toEqual({ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { 'vnest.dev/tenant': sibling } } }], ports: [{ port: 8080, protocol: 'TCP' }] });

    // The sibling takes it back: the Service goes, though the door stays open (the exporter's word).
    await peer('-n', 'kube-system', 'delete', 'configmap', 'vnest-imports');
    await waitFor('the export gone from the sibling', async () => (await imported()) === '', { timeoutMs: 60_000 });
    // The tenant withdraws it: its policy goes, the sibling's pods are out again.
    await kubectl('-n', 'apps', 'annotate', 'service', 'web', 'vnest.dev/export-to-');
    await waitFor('the door closed again', async () => (await fromPeer()) === 'closed', { timeoutMs: 60_000, intervalMs: 1000 });
    expect((await runKubectl(k.bin.kubectl, bed.host.kubeconfigPath, ['-n', hostNamespace, 'get', 'networkpolicy', `web-x-apps-x-${tenant}-export`])).code).not.toBe(0);
    await bed.hostKubectl('-n', hostNamespace, 'delete', 'networkpolicy', 'isolate-real');
  });

  it('serves logs, exec with exit codes, attach and port-forward of real containers through the front door', async () => {
    const webPod = await kubectl('-n', 'apps', 'get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}');
    await kubectl('-n', 'apps', 'exec', 'cli', '--', 'sh', '-c', 'echo note > /tmp/note');
    expect(await kubectl('-n', 'apps', 'exec', 'cli', '--', 'cat', '/tmp/note')).toBe('note\n');
    expect((await tryKubectl('-n', 'apps', 'exec', 'cli', '--', 'sh', '-c', 'exit 7')).code).toBe(7);

    await apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'talker', namespace: 'apps' }, spec: { ...podSpec('echo ready; while read line; do echo "got $line"; done', { stdin: true }) } });
    await kubectl('-n', 'apps', 'wait', '--for=condition=Ready', 'pod/talker', '--timeout=90s');
    expect(await kubectl('-n', 'apps', 'logs', 'talker')).toBe('ready\n');
    const attach = spawn(k.bin.kubectl, [`--kubeconfig=${kubeconfig}`, '-n', 'apps', 'attach', '-i', 'talker']);
    let said = '';
    attach.stdout.on('data', (d: Buffer) => (said += d.toString()));
    try {
      attach.stdin.write('hello\n');
      await waitFor('the attached container to answer', async () => said.includes('got hello'), { timeoutMs: 30_000 });
    } finally {
      attach.kill();
    }
    await waitFor('the answer in the logs', async () => (await kubectl('-n', 'apps', 'logs', 'talker')).includes('got hello'), { timeoutMs: 30_000 });

    const localPort = await ports.next();
    const forwarder = spawn(k.bin.kubectl, [`--kubeconfig=${kubeconfig}`, '-n', 'apps', 'port-forward', `pod/${webPod}`, `${localPort}:8080`]);
    try {
      const page = await waitFor('a page through port-forward', async () => {
        const res = await fetch(`http://127.0.0.1:${localPort}/`);
        return res.ok ? res.text() : undefined;
      }, { timeoutMs: 30_000, intervalMs: 300 });
      expect(page).toBe(`served by ${webPod}\n`);
    } finally {
      forwarder.kill();
    }
  });
});
