// The syncer against real components: tenant workloads run as host pods on kwok nodes, with what
// they reference, and status, binding and deletes flow both ways.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { runKubectl } from '../../src/local/kubectl.ts';
import { PortAllocator } from '../../src/local/ports.ts';
import { createCertificateAuthority } from '../../src/pki/certs.ts';
import { hostName } from '../../src/translate/names.ts';
import { kit, useEnvironment } from '../helpers.ts';
import { eventually, hostNamespace, TenantBed, type List, type PodJson } from '../tenant-bed.ts';

const tenant = 'alpha';
const selector = `vnest.dev/tenant=${tenant}`;

describe('syncer: pods and what they reference', () => {
  const env = useEnvironment(() => TenantBed.start([tenant]));
  const bed = () => env.current;
  const hostPods = async (extra: string[] = []) => (await bed().hostJson<List<PodJson>>('-n', hostNamespace, 'get', 'pods', '-l', selector, ...extra)).items;

  let healthPort = 0;
  beforeAll(async () => {
    // Every test here runs the syncer with only the namespaced Role it declares on the host.
    healthPort = await new PortAllocator().next();
    await bed().startSyncer(tenant, { hostKubeconfig: await bed().restrictedHostKubeconfig(tenant), healthPort });
    await bed().virtualKubectl(tenant, 'create', 'namespace', 'app');
    // The namespace's default service account must exist before pods are admitted.
    await eventually('default service account in app', async () => (await runKubectl((await kit()).bin.kubectl, bed().virtual(tenant).kubeconfigPath, ['-n', 'app', 'get', 'sa', 'default'])).code === 0);
  });

  it('runs a 3-replica Deployment as 3 host pods on kwok nodes; virtual pods show Running with host IPs and nodes', async () => {
    await bed().virtualKubectl(tenant, '-n', 'app', 'create', 'deployment', 'web', '--image=registry.k8s.io/pause:3.10', '--replicas=3');
    const running = await eventually('3 virtual pods Running', async () => {
      const pods = (await bed().virtualJson<List<PodJson>>(tenant, '-n', 'app', 'get', 'pods', '-l', 'app=web')).items;
      return pods.length === 3 && pods.every((p) => p.status.phase === 'Running' && p.status.podIP && p.spec.nodeName) ? pods : undefined;
    });
    const hosts = await hostPods(['-l', 'vnest.dev/namespace=app,app=web']);
    expect(hosts).toHaveLength(3);
    for (const v of running) {
      const h = hosts.find((p) => p.metadata.name === hostName(v.metadata.name, 'app', tenant));
      expect(h, `host pod for ${v.metadata.name}`).toBeDefined();
      expect(h?.metadata.annotations?.['vnest.dev/object-uid']).toBe(v.metadata.uid);
      expect(h?.metadata.annotations?.['vnest.dev/object-kind']).toBe('Pod');
      expect(v.spec.nodeName).toBe(h?.spec.nodeName);
      expect(v.status.podIP).toBe(h?.status.podIP);
      expect(v.status.hostIP).toBe(h?.status.hostIP);
      expect(bed().host.nodeNames).toContain(h?.spec.nodeName);
    }
    // A virtual node exists for each host node in use, Ready and without the not-ready taint the
    // API server gives a new node (the kwok host nodes have no taints), so clients that wait for
    // schedulable nodes find them.
    type NodeJson = { metadata: { name: string }; spec: { taints?: unknown[] }; status: { conditions: Array<{ type: string; status: string }> } };
    const vNodes = await eventually('virtual nodes without taints', async () => {
      const items = (await bed().virtualJson<List<NodeJson>>(tenant, 'get', 'nodes')).items;
      return items.every((n) => (n.spec.taints ?? []).length === 0) ? items : undefined;
    });
    for (const h of hosts) expect(vNodes.map((n) => n.metadata.name)).toContain(h.spec.nodeName);
    for (const n of vNodes) expect(n.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('binds a pod once and writes its status once when its host copy starts at once', async () => {
    type Stats = { virtual: { writesBy: Record<string, number> } };
    const writes = async () => ((await (await fetch(`http://127.0.0.1:${healthPort}/stats`)).json()) as Stats).virtual.writesBy;
    const before = await writes();
    await bed().virtualKubectl(tenant, '-n', 'app', 'run', 'once', '--image=registry.k8s.io/pause:3.10', '--restart=Never');
    const pod = await eventually('pod once Running with its IPs', async () => {
      const p = await bed().virtualJson<PodJson>(tenant, '-n', 'app', 'get', 'pod', 'once');
      return p.status.phase === 'Running' && p.status.podIP && p.status.hostIP ? p : undefined;
    });
    // Late writes would come within the status's settling time (1 s).
    await new Promise((r) => setTimeout(r, 1500));
    const after = await writes();
    const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
    expect(delta('POST pods/binding')).toBe(1);
    // kwok starts a pod at once; should it take a second or more here, Pending's details are written first.
    const [host] = await hostPods(['--field-selector', `metadata.name=${hostName('once', 'app', tenant)}`]);
    const at = (type: string) => Date.parse(((host?.status as { conditions?: Array<{ type: string; lastTransitionTime: string }> } | undefined)?.conditions ?? []).find((c) => c.type === type)?.lastTransitionTime ?? '');
    expect(delta('PATCH pods/status')).toBe(at('Ready') - at('PodScheduled') >= 1000 ? 2 : 1);
    expect(pod.spec.nodeName).toBe(host?.spec.nodeName);
    await bed().virtualKubectl(tenant, '-n', 'app', 'delete', 'pod', 'once', '--wait=false');
  });

  it('does not rewrite a virtual node when pods come and go on it', async () => {
    type NodeJson = { metadata: { name: string; resourceVersion: string } };
    const before = new Map((await bed().virtualJson<List<NodeJson>>(tenant, 'get', 'nodes')).items.map((n) => [n.metadata.name, n.metadata.resourceVersion]));
    await bed().virtualKubectl(tenant, '-n', 'app', 'scale', 'deployment', 'web', '--replicas=6');
    await eventually('6 web pods Running', async () => {
      const pods = (await bed().virtualJson<List<PodJson>>(tenant, '-n', 'app', 'get', 'pods', '-l', 'app=web')).items;
      return pods.length === 6 && pods.every((p) => p.status.phase === 'Running');
    });
    // The first three pods still run: every node of before is there, unchanged.
    const during = (await bed().virtualJson<List<NodeJson>>(tenant, 'get', 'nodes')).items;
    expect(during.filter((n) => before.has(n.metadata.name))).toHaveLength(before.size);
    for (const n of during.filter((d) => before.has(d.metadata.name))) expect(n.metadata.resourceVersion, `node ${n.metadata.name}`).toBe(before.get(n.metadata.name));
    await bed().virtualKubectl(tenant, '-n', 'app', 'scale', 'deployment', 'web', '--replicas=3');
    await eventually('3 web pods', async () => (await bed().virtualJson<List<PodJson>>(tenant, '-n', 'app', 'get', 'pods', '-l', 'app=web')).items.length === 3);
    // The scale-down may leave pods on any of the nodes (a node without pods goes): those that stay are unchanged.
    const seen = new Map(during.map((n) => [n.metadata.name, n.metadata.resourceVersion]));
    const after = (await bed().virtualJson<List<NodeJson>>(tenant, 'get', 'nodes')).items;
    expect(after.length).toBeGreaterThan(0);
    for (const n of after.filter((a) => seen.has(a.metadata.name))) expect(n.metadata.resourceVersion, `node ${n.metadata.name}`).toBe(seen.get(n.metadata.name));
  });

  it('syncs referenced configmaps and secrets, follows their changes, and removes them when unreferenced', async () => {
    await bed().virtualKubectl(tenant, '-n', 'app', 'create', 'configmap', 'settings', '--from-literal=mode=blue');
    await bed().virtualKubectl(tenant, '-n', 'app', 'create', 'secret', 'generic', 'creds', '--from-literal=password=s3cret');
    await bed().virtualKubectl(tenant, '-n', 'app', 'create', 'configmap', 'unused', '--from-literal=x=1');
    const pod = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reader', namespace: 'app' },
      spec: {
        containers: [{
          name: 'c', image: 'registry.k8s.io/pause:3.10',
          env: [{ name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } }],
          envFrom: [{ secretRef: { name: 'creds' } }],
          volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }],
        }],
        volumes: [{ name: 'cfg', configMap: { name: 'settings' } }],
      },
    };
    await runKubectl((await kit()).bin.kubectl, bed().virtual(tenant).kubeconfigPath, ['apply', '-f', '-'], { input: JSON.stringify(pod) });
    const cmName = hostName('settings', 'app', tenant);
    const secretName = hostName('creds', 'app', tenant);
    const cm = await eventually('host configmap', async () => (await bed().hostJson<List<{ metadata: { name: string }; data: Record<string, string> }>>('-n', hostNamespace, 'get', 'configmaps', '-l', selector)).items.find((c) => c.metadata.name === cmName));
    expect(cm.data).toEqual({ mode: 'blue' });
    const secret = await eventually('host secret', async () => (await bed().hostJson<List<{ metadata: { name: string }; data: Record<string, string> }>>('-n', hostNamespace, 'get', 'secrets', '-l', selector)).items.find((s) => s.metadata.name === secretName));
    expect(Buffer.from(secret.data.password ?? '', 'base64').toString()).toBe('s3cret');

    const hPod = await eventually('host pod reader', async () => (await hostPods()).find((p) => p.metadata.name === hostName('reader', 'app', tenant)));
    const c = hPod.spec.containers[0];
    expect(c?.env?.find((e: { name: string }) => e.name === 'MODE')?.valueFrom.configMapKeyRef.name).toBe(cmName);
    expect(c?.envFrom?.[0]?.secretRef.name).toBe(secretName);
    expect(hPod.spec.volumes?.find((v) => v.name === 'cfg')?.configMap.name).toBe(cmName);
    // Unreferenced objects stay in the tenant.
    const unusedHost = await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['-n', hostNamespace, 'get', 'configmap', hostName('unused', 'app', tenant)]);
    expect(unusedHost.code).not.toBe(0);

    await bed().virtualKubectl(tenant, '-n', 'app', 'patch', 'configmap', 'settings', '--type=merge', '-p', '{"data":{"mode":"green"}}');
    await eventually('host configmap updated', async () => (await bed().hostJson<{ data: Record<string, string> }>('-n', hostNamespace, 'get', 'configmap', cmName)).data.mode === 'green');

    await bed().virtualKubectl(tenant, '-n', 'app', 'delete', 'pod', 'reader', '--wait=false');
    await eventually('host configmap and secret removed', async () => {
      const cms = (await bed().hostJson<List<{ metadata: { name: string } }>>('-n', hostNamespace, 'get', 'configmaps,secrets', '-l', selector)).items.map((o) => o.metadata.name);
      return !cms.includes(cmName) && !cms.includes(secretName);
    });
  });

  it('gives host pods a token of the virtual service account from one host Secret per account, which authenticates against the tenant API', async () => {
    const pods = (await bed().virtualJson<List<PodJson>>(tenant, '-n', 'app', 'get', 'pods', '-l', 'app=web')).items;
    const hosts = await hostPods(['-l', 'vnest.dev/namespace=app,app=web']);
    const sharedName = `${hostName('default', 'app', tenant)}-token`;
    for (const v of pods) {
      const h = hosts.find((p) => p.metadata.name === hostName(v.metadata.name, 'app', tenant)) as PodJson;
      const projected = h.spec.volumes?.find((vol) => vol.name.startsWith('kube-api-access'));
      expect(projected?.projected.sources.some((s: { serviceAccountToken?: unknown }) => s.serviceAccountToken)).toBe(false);
      // The token file comes from the service account's host Secret, at the same path.
      const source = projected?.projected.sources.find((s: { secret?: unknown }) => s.secret).secret;
      expect(source.name).toBe(sharedName);
      expect(source.items).toEqual([{ key: 'token.3607', path: 'token' }]);
      expect(h.spec.serviceAccountName).toBe('default');
      expect(h.spec.automountServiceAccountToken).toBe(false);
      expect(Object.keys(h.metadata.annotations ?? {}).filter((k) => k.startsWith('vnest.dev/token-'))).toEqual([]);
    }
    type SecretJson = { data: Record<string, string>; metadata: { ownerReferences?: Array<{ kind: string }>; annotations: Record<string, string> } };
    const secret = await eventually('token secret', async () => {
      const r = await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['-n', hostNamespace, 'get', 'secret', sharedName, '-o', 'json']);
      return r.code === 0 ? (JSON.parse(r.stdout) as SecretJson) : undefined;
    });
    // One per account, for all its pods: no pod owns it (the tenant's Service does, like every
    // copy), and no per-pod Secret exists.
    expect(secret.metadata.ownerReferences?.map((o) => o.kind)).toEqual(['Service']);
    expect(secret.metadata.annotations['vnest.dev/object-kind']).toBe('ServiceAccountTokens');
    const perPod = (await bed().hostJson<List<{ metadata: { name: string } }>>('-n', hostNamespace, 'get', 'secrets', '-l', selector)).items.filter((s) => s.metadata.name.endsWith('-sa-token'));
    expect(perPod).toEqual([]);
    const token = Buffer.from(secret.data['token.3607'] ?? '', 'base64').toString();
    const whoami = await runKubectl((await kit()).bin.kubectl, '/dev/null', [
      `--server=${bed().virtual(tenant).server}`, `--certificate-authority=${bed().virtual(tenant).dir}/pki/ca.crt`, `--token=${token}`, 'auth', 'whoami', '-o', 'json',
    ]);
    expect(whoami.stderr).toBe('');
    expect(JSON.parse(whoami.stdout).status.userInfo.username).toBe('system:serviceaccount:app:default');
  });

  it('removes a service account\'s token Secret when no pod needs it, and re-issues it when the account is recreated', async () => {
    const kubectl = (await kit()).bin.kubectl;
    const secretOf = async (name: string) => {
      const r = await runKubectl(kubectl, bed().host.kubeconfigPath, ['-n', hostNamespace, 'get', 'secret', name, '-o', 'json']);
      return r.code === 0 ? (JSON.parse(r.stdout) as { metadata: { annotations: Record<string, string> } }) : undefined;
    };
    await bed().virtualKubectl(tenant, '-n', 'app', 'create', 'serviceaccount', 'builder');
    await bed().virtualKubectl(tenant, '-n', 'app', 'run', 'builder', '--image=registry.k8s.io/pause:3.10', '--overrides={"spec":{"serviceAccountName":"builder"}}');
    const name = `${hostName('builder', 'app', tenant)}-token`;
    const first = await eventually('builder token secret', () => secretOf(name));
    const uid = first.metadata.annotations['vnest.dev/object-uid'];
    await bed().virtualKubectl(tenant, '-n', 'app', 'delete', 'serviceaccount', 'builder');
    await bed().virtualKubectl(tenant, '-n', 'app', 'create', 'serviceaccount', 'builder');
    const newUid = (await bed().virtualJson<{ metadata: { uid: string } }>(tenant, '-n', 'app', 'get', 'serviceaccount', 'builder')).metadata.uid;
    await eventually('token secret re-issued for the new account', async () => (await secretOf(name))?.metadata.annotations['vnest.dev/object-uid'] === newUid);
    expect(newUid).not.toBe(uid);
    await bed().virtualKubectl(tenant, '-n', 'app', 'delete', 'pod', 'builder', '--wait=false');
    await eventually('token secret removed with its last pod', async () => (await secretOf(name)) === undefined);
  });

  it('deletes the host pod when the virtual pod is deleted, and recreates through the owner when the host pod is deleted', async () => {
    const before = (await bed().virtualJson<List<PodJson>>(tenant, '-n', 'app', 'get', 'pods', '-l', 'app=web')).items;
    const victim = before[0] as PodJson;
    // Virtual delete: its host pod goes, the ReplicaSet makes a new pod that runs.
    await bed().virtualKubectl(tenant, '-n', 'app', 'delete', 'pod', victim.metadata.name, '--wait=true', '--timeout=60s');
    await eventually('host pod of the deleted virtual pod gone', async () => !(await hostPods()).some((p) => p.metadata.name === hostName(victim.metadata.name, 'app', tenant)));
    // Host delete out of band: the virtual pod goes too, and is replaced.
    const current = (await bed().virtualJson<List<PodJson>>(tenant, '-n', 'app', 'get', 'pods', '-l', 'app=web')).items;
    const target = current.find((p) => p.status.phase === 'Running') as PodJson;
    await bed().hostKubectl('-n', hostNamespace, 'delete', 'pod', hostName(target.metadata.name, 'app', tenant), '--wait=true');
    await eventually('virtual pod removed after its host pod was deleted', async () => {
      const names = (await bed().virtualJson<List<PodJson>>(tenant, '-n', 'app', 'get', 'pods', '-l', 'app=web')).items.map((p) => p.metadata.name);
      return !names.includes(target.metadata.name);
    });
    await eventually('3 web pods Running again, each with one host pod', async () => {
      const pods = (await bed().virtualJson<List<PodJson>>(tenant, '-n', 'app', 'get', 'pods', '-l', 'app=web')).items;
      const hosts = await hostPods(['-l', 'app=web']);
      return pods.length === 3 && hosts.length === 3 && pods.every((p) => p.status.phase === 'Running');
    });
  });

  it('ends a pod a finalizer holds with a terminal phase when its host pod goes, keeping the eviction\'s DisruptionTarget', async () => {
    const held = (name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'app', finalizers: ['example.com/hold'] },
      spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] } });
    const kubectl = (await kit()).bin.kubectl;
    await runKubectl(kubectl, bed().virtual(tenant).kubeconfigPath, ['create', '-f', '-'], { input: `${held('evicted')}\n${held('lost')}` });
    for (const name of ['evicted', 'lost']) await eventually(`${name} Running`, async () => (await bed().virtualJson<PodJson>(tenant, '-n', 'app', 'get', 'pod', name)).status.phase === 'Running');
    // Evicted through the tenant's API, as a drain does: the API server marks it DisruptionTarget and deletes it.
    const eviction = { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'evicted', namespace: 'app' } };
    const evicted = await runKubectl(kubectl, bed().virtual(tenant).kubeconfigPath, ['create', '--raw', '/api/v1/namespaces/app/pods/evicted/eviction', '-f', '-'], { input: JSON.stringify(eviction) });
    expect(evicted.code, evicted.stderr).toBe(0);
    // Its host pod deleted out of band by a host admin.
    await bed().hostKubectl('-n', hostNamespace, 'delete', 'pod', hostName('lost', 'app', tenant), '--wait=true');
    for (const name of ['evicted', 'lost']) {
      const pod = await eventually(`${name} Failed`, async () => {
        const p = await bed().virtualJson<PodJson>(tenant, '-n', 'app', 'get', 'pod', name);
        return p.status.phase === 'Failed' ? p : undefined;
      });
      expect(pod.metadata.deletionTimestamp).toBeDefined();
      expect(pod.status.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
      if (name === 'evicted') expect(pod.status.conditions?.find((c) => c.type === 'DisruptionTarget')?.status).toBe('True');
      expect((await hostPods()).map((p) => p.metadata.name)).not.toContain(hostName(name, 'app', tenant));
      await bed().virtualKubectl(tenant, '-n', 'app', 'patch', 'pod', name, '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]');
    }
  });

  it("passes the tenant's readiness-gate conditions to the host pod, and no kubelet condition", async () => {
    await runKubectl((await kit()).bin.kubectl, bed().virtual(tenant).kubeconfigPath, ['create', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'gated', namespace: 'app' },
        spec: { readinessGates: [{ conditionType: 'example.com/lb' }, { conditionType: 'ContainersReady' }], containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] } }),
    });
    await eventually('gated Running', async () => (await bed().virtualJson<PodJson>(tenant, '-n', 'app', 'get', 'pod', 'gated')).status.phase === 'Running');
    const now = new Date().toISOString();
    const status = { status: { conditions: [{ type: 'example.com/lb', status: 'False', reason: 'Registering', lastTransitionTime: now }, { type: 'ContainersReady', status: 'False', reason: 'Forged', lastTransitionTime: now }] } };
    await bed().virtualKubectl(tenant, '-n', 'app', 'patch', 'pod', 'gated', '--subresource=status', '--type=strategic', '-p', JSON.stringify(status));
    const host = await eventually('the gate condition on the host pod', async () => {
      const h = await bed().hostJson<PodJson>('-n', hostNamespace, 'get', 'pod', hostName('gated', 'app', tenant));
      // (kwok's simulated kubelet sets every gate True, with no reason, when the pod starts.)
      const gate = h.status.conditions?.find((c) => c.type === 'example.com/lb') as { status: string; reason?: string } | undefined;
      return gate?.status === 'False' && gate.reason === 'Registering' ? h : undefined;
    });
    expect(host.status.conditions?.find((c) => c.type === 'ContainersReady')?.status).not.toBe('False');
    // The tenant's condition stays as the tenant set it; the kubelet's comes back from the host.
    const virtual = await eventually('the kubelet condition back in the tenant', async () => {
      const v = await bed().virtualJson<PodJson>(tenant, '-n', 'app', 'get', 'pod', 'gated');
      return v.status.conditions?.find((c) => c.type === 'ContainersReady')?.status === 'True' ? v : undefined;
    });
    expect(virtual.status.conditions?.find((c) => c.type === 'example.com/lb')?.status).toBe('False');
    await bed().virtualKubectl(tenant, '-n', 'app', 'delete', 'pod', 'gated', '--wait=false');
  });

  it("projects the tenant's ClusterTrustBundles through a host ConfigMap the syncer keeps current, never the host's bundles", async () => {
    const kubectl = (await kit()).bin.kubectl;
    const vk = bed().virtual(tenant).kubeconfigPath;
    const bundle = (name: string, pem: string, labels: Record<string, string> = {}) => JSON.stringify({ apiVersion: 'certificates.k8s.io/v1', kind: 'ClusterTrustBundle', metadata: { name, labels }, spec: { signerName: 'example.com/ca', trustBundle: pem } });
    const [a, b, hostOnly] = await Promise.all(['a', 'b', 'host'].map(async (n) => (await createCertificateAuthority(`ctb-${n}`)).certPem)) as [string, string, string];
    await runKubectl(kubectl, vk, ['create', '-f', '-'], { input: `${bundle('example.com:ca:a', a, { team: 'x' })}\n${bundle('example.com:ca:b', b)}` });
    // A host bundle of the same signer: the tenant must never see it.
    await runKubectl(kubectl, bed().host.kubeconfigPath, ['create', '-f', '-'], { input: bundle('example.com:ca:host', hostOnly, { team: 'x' }) });
    const podJson = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'trusting', namespace: 'app' }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }], volumes: [{ name: 'ca', projected: { sources: [
      { clusterTrustBundle: { signerName: 'example.com/ca', labelSelector: { matchLabels: { team: 'x' } }, path: 'team.pem' } },
      { clusterTrustBundle: { name: 'example.com:ca:b', path: 'b.pem' } },
    ] } }] } };
    await runKubectl(kubectl, vk, ['create', '-f', '-'], { input: JSON.stringify(podJson) });
    type CM = { metadata: { labels?: Record<string, string> }; data?: Record<string, string> };
    const cmName = `${tenant}-trust-bundles`;
    const host = await eventually('the host pod', async () => bed().hostJson<PodJson>('-n', hostNamespace, 'get', 'pod', hostName('trusting', 'app', tenant)).catch(() => undefined));
    const sources = host.spec.volumes?.find((v) => v.name === 'ca')?.projected.sources as Array<{ configMap?: { name: string; items: Array<{ key: string; path: string }> }; clusterTrustBundle?: unknown }>;
    expect(sources.every((src) => src.configMap?.name === cmName && !src.clusterTrustBundle)).toBe(true);
    const keyOf = (path: string) => sources.find((src) => src.configMap?.items[0]?.path === path)?.configMap?.items[0]?.key ?? '';
    const cm = await bed().hostJson<CM>('-n', hostNamespace, 'get', 'configmap', cmName);
    expect(cm.metadata.labels?.['vnest.dev/tenant']).toBe(tenant);
    const certsIn = (text = '') => new Set([...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END/g)].map((m) => (m[1] ?? '').replace(/\s+/g, '')));
    const bodyOf = (p: string) => [...certsIn(p)][0];
    expect([...certsIn(cm.data?.[keyOf('team.pem')])]).toEqual([bodyOf(a)]);
    expect([...certsIn(cm.data?.[keyOf('b.pem')])]).toEqual([bodyOf(b)]);
    expect(JSON.stringify(cm.data)).not.toContain(bodyOf(hostOnly));
    // A bundle that joins the selection reaches the file.
    await bed().virtualKubectl(tenant, 'label', 'clustertrustbundle', 'example.com:ca:b', 'team=x');
    await eventually('both certificates under the team selector', async () => {
      const now = await bed().hostJson<CM>('-n', hostNamespace, 'get', 'configmap', cmName);
      return certsIn(now.data?.[keyOf('team.pem')]).size === 2;
    });
    // No pod projects a bundle: the ConfigMap goes.
    await bed().virtualKubectl(tenant, '-n', 'app', 'delete', 'pod', 'trusting', '--wait=true', '--timeout=60s');
    await eventually('the trust bundle ConfigMap gone', async () => (await runKubectl(kubectl, bed().host.kubeconfigPath, ['-n', hostNamespace, 'get', 'configmap', cmName])).code !== 0);
    await bed().hostKubectl('delete', 'clustertrustbundle', 'example.com:ca:host');
    await bed().virtualKubectl(tenant, 'delete', 'clustertrustbundle', 'example.com:ca:a', 'example.com:ca:b');
  });

  it("asks the tenant's signers for pod certificates as a kubelet would, and gives the host pod the key and chain", async () => {
    const kubectl = (await kit()).bin.kubectl;
    const vk = bed().virtual(tenant).kubeconfigPath;
    const podJson = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'certified', namespace: 'app' }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }], volumes: [{ name: 'id', projected: { sources: [
      { podCertificate: { signerName: 'example.com/test', keyType: 'ECDSAP256', credentialBundlePath: 'bundle.pem', certificateChainPath: 'chain.pem', userAnnotations: { 'example.com/path': 'x' } } },
    ] } }] } };
    await runKubectl(kubectl, vk, ['create', '-f', '-'], { input: JSON.stringify(podJson) });
    const hName = hostName('certified', 'app', tenant);
    const host = await eventually('the host pod', async () => bed().hostJson<PodJson>('-n', hostNamespace, 'get', 'pod', hName).catch(() => undefined));
    expect(host.spec.volumes?.find((v) => v.name === 'id')?.projected.sources).toEqual([
      { secret: { name: `${hName}-pod-certs`, items: [{ key: 'pc-id-0.bundle', path: 'bundle.pem' }, { key: 'pc-id-0.chain', path: 'chain.pem' }] } },
    ]);
    type Pcr = { metadata: { name: string; ownerReferences: Array<{ uid: string }> }; spec: { podName: string; podUID: string; nodeName: string; serviceAccountName: string; stubPKCS10Request: string; maxExpirationSeconds: number; unverifiedUserAnnotations?: Record<string, string> } };
    const vPod = await bed().virtualJson<PodJson>(tenant, '-n', 'app', 'get', 'pod', 'certified');
    const pcr = await eventually('a PodCertificateRequest for the pod', async () => (await bed().virtualJson<List<Pcr>>(tenant, '-n', 'app', 'get', 'podcertificaterequests')).items.find((r) => r.spec.podName === 'certified'));
    const bound = await bed().virtualJson<PodJson>(tenant, '-n', 'app', 'get', 'pod', 'certified');
    expect(pcr.spec).toMatchObject({ podUID: vPod.metadata.uid, nodeName: bound.spec.nodeName, serviceAccountName: 'default', unverifiedUserAnnotations: { 'example.com/path': 'x' } });
    expect(pcr.metadata.ownerReferences[0]?.uid).toBe(vPod.metadata.uid);
    // The test is the signer: a certificate for the requested key, from a CA of its own.
    const ca = await createCertificateAuthority('test-signer');
    const csr = new x509.Pkcs10CertificateRequest(Buffer.from(pcr.spec.stubPKCS10Request, 'base64'));
    const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    const notAfter = new Date(notBefore.getTime() + 2 * 3600_000);
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: '01', subject: 'CN=certified', issuer: ca.cert.subject, notBefore, notAfter,
      publicKey: await csr.publicKey.export(), signingKey: ca.signingKey, signingAlgorithm: ca.signingAlgorithm,
    });
    const status = { status: {
      conditions: [{ type: 'Issued', status: 'True', reason: 'Reason', message: 'issued by the test', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }],
      certificateChain: leaf.toString('pem'), notBefore: notBefore.toISOString().replace(/\.\d+Z$/, 'Z'), notAfter: notAfter.toISOString().replace(/\.\d+Z$/, 'Z'),
      beginRefreshAt: new Date(notBefore.getTime() + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z'),
    } };
    await bed().virtualKubectl(tenant, '-n', 'app', 'patch', 'podcertificaterequest', pcr.metadata.name, '--subresource=status', '--type=merge', '-p', JSON.stringify(status));
    const secret = await eventually('the host pod\'s certificate Secret', async () => bed().hostJson<{ metadata: { ownerReferences: Array<{ uid: string }> }; data: Record<string, string> }>('-n', hostNamespace, 'get', 'secret', `${hName}-pod-certs`).catch(() => undefined));
    const text = (k: string) => Buffer.from(secret.data[k] ?? '', 'base64').toString();
    expect(text('pc-id-0.chain')).toBe(leaf.toString('pem').replace(/\r\n/g, '\n').trim() + '\n');
    expect(text('pc-id-0.bundle')).toBe(text('pc-id-0.key') + text('pc-id-0.chain'));
    // One block a line run, as the kubelet writes them: the key block ends before the chain begins.
    expect(text('pc-id-0.bundle')).toMatch(/^-----BEGIN PRIVATE KEY-----\n[^-]+\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\n/);
    // The key the host pod gets is the one the certificate was issued to.
    const keyPublic = createPublicKey(createPrivateKey(text('pc-id-0.key'))).export({ type: 'spki', format: 'der' });
    expect(Buffer.from(keyPublic).equals(Buffer.from(csr.publicKey.rawData))).toBe(true);
    expect(secret.metadata.ownerReferences[0]?.uid).toBe(host.metadata.uid);
    await bed().virtualKubectl(tenant, '-n', 'app', 'delete', 'pod', 'certified', '--wait=false');
  });

  it('gives host pods the tenant\'s service variables, as a kubelet gives a pod its cluster\'s, unless service links are off', async () => {
    await bed().virtualKubectl(tenant, '-n', 'app', 'create', 'service', 'clusterip', 'env-svc', '--tcp=8080:80');
    const ip = (await bed().virtualKubectl(tenant, '-n', 'app', 'get', 'service', 'env-svc', '-o', 'jsonpath={.spec.clusterIP}')).trim();
    const kubernetesIp = (await bed().virtualKubectl(tenant, '-n', 'default', 'get', 'service', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}')).trim();
    const pod = (name: string, links: boolean) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'app' },
      spec: { enableServiceLinks: links, containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10', env: [{ name: 'ENV_SVC_SERVICE_PORT', value: 'mine' }] }] } });
    await runKubectl((await kit()).bin.kubectl, bed().virtual(tenant).kubeconfigPath, ['create', '-f', '-'], { input: [pod('links', true), pod('nolinks', false)].map((p) => JSON.stringify(p)).join('\n') });
    const envOf = async (name: string) => eventually(`host pod ${name}`, async () => {
      const h = await bed().hostJson<PodJson & { spec: { enableServiceLinks?: boolean; containers: Array<{ env?: Array<{ name: string; value?: string }> }> } }>('-n', hostNamespace, 'get', 'pod', hostName(name, 'app', tenant)).catch(() => undefined);
      return h && { links: h.spec.enableServiceLinks, env: Object.fromEntries((h.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value])) };
    });
    const links = await envOf('links');
    expect(links.links).toBe(false); // the host's own Services never reach the pod
    expect(links.env).toMatchObject({ ENV_SVC_SERVICE_HOST: ip, ENV_SVC_PORT_8080_TCP: `tcp://${ip}:8080`, ENV_SVC_PORT_8080_TCP_ADDR: ip, ENV_SVC_SERVICE_PORT: 'mine', KUBERNETES_PORT: `tcp://${kubernetesIp}:443` });
    const nolinks = await envOf('nolinks');
    expect(nolinks.env.ENV_SVC_SERVICE_HOST).toBeUndefined();
    expect(nolinks.env.KUBERNETES_PORT).toBe(`tcp://${kubernetesIp}:443`);
    await bed().virtualKubectl(tenant, '-n', 'app', 'delete', 'pod', 'links', 'nolinks', '--wait=false');
  });

  it('passes the changes Kubernetes allows on a live pod to the host pod', async () => {
    await runKubectl((await kit()).bin.kubectl, bed().virtual(tenant).kubeconfigPath, ['create', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'live', namespace: 'app' }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.9' }] } }),
    });
    const hName = hostName('live', 'app', tenant);
    await eventually('live Running', async () => (await bed().virtualJson<PodJson>(tenant, '-n', 'app', 'get', 'pod', 'live')).status.phase === 'Running');
    await bed().virtualKubectl(tenant, '-n', 'app', 'set', 'image', 'pod/live', 'c=registry.k8s.io/pause:3.10');
    await bed().virtualKubectl(tenant, '-n', 'app', 'label', 'pod/live', 'tier=front');
    await bed().virtualKubectl(tenant, '-n', 'app', 'patch', 'pod', 'live', '-p', '{"spec":{"activeDeadlineSeconds":3600}}');
    await eventually('host pod follows', async () => {
      const h = await bed().hostJson<PodJson & { spec: { activeDeadlineSeconds?: number } }>('-n', hostNamespace, 'get', 'pod', hName);
      return h.spec.containers[0]?.image === 'registry.k8s.io/pause:3.10' && h.metadata.labels?.tier === 'front' && h.spec.activeDeadlineSeconds === 3600;
    });
  });

  it('resizes the host pod in place when the tenant resizes, and maps the observed generation back only once the host has it all', async () => {
    type Condition = { type: string; status: string; observedGeneration?: number };
    type Gen = PodJson & { metadata: { generation: number }; status: { observedGeneration?: number } };
    const conditions = (p: Gen) => (p.status.conditions ?? []) as Condition[];
    const resources = (cpu: string) => ({ requests: { cpu, memory: '64Mi' }, limits: { cpu, memory: '64Mi' } });
    await runKubectl((await kit()).bin.kubectl, bed().virtual(tenant).kubeconfigPath, ['create', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'resizable', namespace: 'app' }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.9', resources: resources('100m') }] } }),
    });
    const hName = hostName('resizable', 'app', tenant);
    await eventually('resizable Running', async () => (await bed().virtualJson<PodJson>(tenant, '-n', 'app', 'get', 'pod', 'resizable')).status.phase === 'Running');
    // A kubelet that can resize reports its containers' resources (kwok does not; an API server
    // refuses to resize a running pod whose status lacks them): written on the host as a kubelet
    // would, it reaches the tenant with the rest of the status.
    const running = await bed().hostJson<Gen & { status: { containerStatuses: Array<Record<string, unknown>> } }>('-n', hostNamespace, 'get', 'pod', hName);
    await bed().hostKubectl('-n', hostNamespace, 'patch', 'pod', hName, '--subresource', 'status', '--type', 'merge', '-p', JSON.stringify({
      status: { containerStatuses: running.status.containerStatuses.map((c) => ({ ...c, resources: resources('100m') })) },
    }));
    await eventually('container resources in the virtual status', async () => {
      const v = await bed().virtualJson<PodJson & { status: { containerStatuses?: Array<{ resources?: unknown }> } }>(tenant, '-n', 'app', 'get', 'pod', 'resizable');
      return v.status.containerStatuses?.[0]?.resources !== undefined;
    });
    // The two pods count generations apart: a host admin adds a toleration to the host pod.
    await bed().hostKubectl('-n', hostNamespace, 'patch', 'pod', hName, '--type', 'json', '-p', JSON.stringify([{ op: 'add', path: '/spec/tolerations/-', value: { key: 'host-maintenance', operator: 'Exists', effect: 'NoExecute' } }]));
    for (const seconds of [3000, 2999, 2998]) await bed().virtualKubectl(tenant, '-n', 'app', 'patch', 'pod', 'resizable', '-p', JSON.stringify({ spec: { activeDeadlineSeconds: seconds } }));
    await bed().virtualKubectl(tenant, '-n', 'app', 'patch', 'pod', 'resizable', '--subresource', 'resize', '-p', JSON.stringify({ spec: { containers: [{ name: 'c', resources: resources('200m') }] } }));
    const vGen = (await bed().virtualJson<Gen>(tenant, '-n', 'app', 'get', 'pod', 'resizable')).metadata.generation;
    expect(vGen).toBe(5);
    let host: Gen | undefined;
    await eventually('host pod resized', async () => {
      host = await bed().hostJson<Gen>('-n', hostNamespace, 'get', 'pod', hName);
      return host.spec.containers[0]?.resources?.limits?.cpu === '200m' && (host.spec as { activeDeadlineSeconds?: number }).activeDeadlineSeconds === 2998;
    });
    // What a kubelet writes once it has acted on the host pod's newest generation.
    const observed = host!.metadata.generation;
    expect(observed).not.toBe(vGen);
    await bed().hostKubectl('-n', hostNamespace, 'patch', 'pod', hName, '--subresource', 'status', '--type', 'merge', '-p', JSON.stringify({
      status: { observedGeneration: observed, conditions: [...conditions(host!).filter((c) => c.type !== 'Ready'), { type: 'Ready', status: 'True', observedGeneration: observed }] },
    }));
    await eventually('virtual pod observed at its own generation', async () => {
      const v = await bed().virtualJson<Gen>(tenant, '-n', 'app', 'get', 'pod', 'resizable');
      return v.status.observedGeneration === vGen && conditions(v).find((c) => c.type === 'Ready')?.observedGeneration === vGen;
    });
    // A new virtual change the host does not have yet: the virtual pod is not observed at it.
    await bed().virtualKubectl(tenant, '-n', 'app', 'patch', 'pod', 'resizable', '-p', JSON.stringify({ spec: { activeDeadlineSeconds: 2000 } }));
    await eventually('host pod follows', async () => (await bed().hostJson<Gen & { spec: { activeDeadlineSeconds?: number } }>('-n', hostNamespace, 'get', 'pod', hName)).spec.activeDeadlineSeconds === 2000);
    const v = await bed().virtualJson<Gen>(tenant, '-n', 'app', 'get', 'pod', 'resizable');
    expect(v.metadata.generation).toBe(vGen + 1);
    expect(v.status.observedGeneration).toBe(vGen);
  });

  it('copies host events about a pod onto the virtual pod, with virtual names, but not the scheduler\'s Scheduled', async () => {
    const v = (await bed().virtualJson<List<PodJson>>(tenant, '-n', 'app', 'get', 'pods', '-l', 'app=web')).items[0] as PodJson;
    const hName = hostName(v.metadata.name, 'app', tenant);
    const h = await bed().hostJson<PodJson>('-n', hostNamespace, 'get', 'pod', hName);
    // What a kubelet reports about a container, written on the host as the kubelet would.
    const hostEvent = {
      apiVersion: 'v1', kind: 'Event', metadata: { name: `${hName}.pulled1`, namespace: hostNamespace },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: hName, namespace: hostNamespace, uid: h.metadata.uid, fieldPath: 'spec.containers{pause}' },
      reason: 'Pulled', message: `Container image pulled for ${hostNamespace}/${hName}`, type: 'Normal', count: 1,
      source: { component: 'kubelet', host: h.spec.nodeName }, firstTimestamp: new Date().toISOString(), lastTimestamp: new Date().toISOString(),
    };
    await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['create', '-f', '-'], { input: JSON.stringify(hostEvent) });
    type EventJson = { involvedObject: { name: string; uid: string }; reason: string; message: string };
    const pulled = await eventually('the Pulled event on the virtual pod', async () => {
      const events = (await bed().virtualJson<List<EventJson>>(tenant, '-n', 'app', 'get', 'events')).items;
      return events.find((e) => e.involvedObject.name === v.metadata.name && e.reason === 'Pulled');
    });
    expect(pulled.involvedObject.uid).toBe(v.metadata.uid);
    expect(pulled.message).toBe(`Container image pulled for app/${v.metadata.name}`);
    // The host scheduler did place it (a Scheduled event on the host), but the tenant has the binding instead.
    const hostEvents = (await bed().hostJson<List<EventJson>>('-n', hostNamespace, 'get', 'events')).items;
    expect(hostEvents.some((e) => e.involvedObject.name === hName && e.reason === 'Scheduled')).toBe(true);
    const events = (await bed().virtualJson<List<EventJson>>(tenant, '-n', 'app', 'get', 'events')).items;
    expect(events.filter((e) => e.involvedObject.name === v.metadata.name && e.reason === 'Scheduled')).toEqual([]);
  });

  it('removes a virtual node when no pod of the tenant runs on its host node any more', async () => {
    await bed().virtualKubectl(tenant, '-n', 'app', 'delete', 'deployment', 'web', '--wait=true');
    await eventually('no web pods', async () => (await bed().virtualJson<List<PodJson>>(tenant, '-n', 'app', 'get', 'pods', '-l', 'app=web')).items.length === 0);
    await eventually('virtual nodes follow the remaining pods', async () => {
      const used = new Set((await hostPods()).map((p) => p.spec.nodeName));
      const vNodes = (await bed().virtualJson<List<{ metadata: { name: string } }>>(tenant, 'get', 'nodes')).items.map((n) => n.metadata.name);
      return vNodes.every((n) => used.has(n)) && [...used].every((n) => vNodes.includes(n as string));
    });
  });

  it('syncs a PVC to the host and brings its phase and capacity back', async () => {
    const pv = {
      apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv-alpha-data' },
      spec: { capacity: { storage: '2Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: 'manual', hostPath: { path: '/tmp/pv-alpha-data' } },
    };
    await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['apply', '-f', '-'], { input: JSON.stringify(pv) });
    const pvc = {
      apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: 'app' },
      spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'manual', resources: { requests: { storage: '1Gi' } } },
    };
    await runKubectl((await kit()).bin.kubectl, bed().virtual(tenant).kubeconfigPath, ['apply', '-f', '-'], { input: JSON.stringify(pvc) });
    const bound = await eventually('virtual PVC Bound', async () => {
      const v = await bed().virtualJson<{ status?: { phase?: string; capacity?: Record<string, string> } }>(tenant, '-n', 'app', 'get', 'pvc', 'data');
      return v.status?.phase === 'Bound' ? v : undefined;
    }, 90_000);
    expect(bound.status?.capacity).toEqual({ storage: '2Gi' });
    const h = await bed().hostJson<{ spec: { volumeName: string } }>('-n', hostNamespace, 'get', 'pvc', hostName('data', 'app', tenant));
    expect(h.spec.volumeName).toBe('pv-alpha-data');
  });

  it('keeps an unbound pod off the host while a claim it names is missing or was deleted under it, and starts it once the claim is back', async () => {
    // The host has a volume for claim "later" (a pod with an unbound claim is not placed); claim
    // "racy" stays unbound, and its pod unplaced.
    const pv = {
      apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv-alpha-later' },
      spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: 'manual-later', hostPath: { path: '/tmp/pv-alpha-later' } },
    };
    await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['apply', '-f', '-'], { input: JSON.stringify(pv) });
    const claim = (name: string) => ({
      apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: 'app' },
      spec: { accessModes: ['ReadWriteOnce'], storageClassName: name === 'later' ? 'manual-later' : 'none', resources: { requests: { storage: '1Mi' } } },
    });
    const pod = (name: string, claimName: string, nodeSelector?: Record<string, string>) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'app' },
      spec: {
        containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10', volumeMounts: [{ name: 'd', mountPath: '/d' }] }],
        volumes: [{ name: 'd', persistentVolumeClaim: { claimName } }],
        ...(nodeSelector ? { nodeSelector } : {}),
      },
    });
    const apply = async (obj: unknown) => {
      const r = await runKubectl((await kit()).bin.kubectl, bed().virtual(tenant).kubeconfigPath, ['apply', '-f', '-'], { input: JSON.stringify(obj) });
      expect(r.code, r.stderr).toBe(0);
    };
    const waitingEvent = (podName: string, claimName: string) => eventually(`FailedScheduling on ${podName}`, async () => {
      const events = (await bed().virtualJson<List<{ involvedObject: { name: string }; reason: string; message: string }>>(tenant, '-n', 'app', 'get', 'events', '--field-selector', `involvedObject.name=${podName}`)).items;
      return events.some((e) => e.reason === 'FailedScheduling' && e.message.includes(`persistentvolumeclaim "${claimName}"`)) || undefined;
    });
    const hostPod = async (name: string) => (await hostPods(['--field-selector', `metadata.name=${hostName(name, 'app', tenant)}`]))[0];
    const hostClaims = async () => (await bed().hostJson<List<{ metadata: { name: string; annotations?: Record<string, string> } }>>('-n', hostNamespace, 'get', 'pvc', '-l', selector)).items;

    // A claim that does not exist yet: no host pod until it does; then the pod runs and is bound.
    await apply(pod('early', 'later'));
    await waitingEvent('early', 'later');
    expect(await hostPod('early')).toBeUndefined();
    await apply(claim('later'));
    const running = await eventually('pod early Running once its claim exists', async () => {
      const p = await bed().virtualJson<PodJson>(tenant, '-n', 'app', 'get', 'pod', 'early');
      return p.status.phase === 'Running' && p.spec.nodeName ? p : undefined;
    });
    expect((await hostPod('early'))?.spec.nodeName).toBe(running.spec.nodeName);

    // The race the chaos run found: a pod the host cannot place yet stays unbound, so the tenant's
    // claim protection lets its claim go. Its host pod goes with it (nothing may hold the claim's
    // host copy), and the claim made again under the name (a new UID) gets a host copy of its own.
    await apply(claim('racy'));
    await apply(pod('unplaced', 'racy', { 'vnest.dev/test-no-such-node': 'true' }));
    await eventually('host pod for unplaced', async () => (await hostPod('unplaced')) ?? undefined);
    const racyHost = hostName('racy', 'app', tenant);
    await eventually('host copy of claim racy', async () => (await hostClaims()).some((c) => c.metadata.name === racyHost) || undefined);
    await bed().virtualKubectl(tenant, '-n', 'app', 'delete', 'pvc', 'racy', '--wait=true', '--timeout=60s');
    await waitingEvent('unplaced', 'racy');
    await eventually('no host pod and no host claim copy while the claim is gone', async () => (!(await hostPod('unplaced')) && !(await hostClaims()).some((c) => c.metadata.name === racyHost)) || undefined);
    await apply(claim('racy'));
    const uid = (await bed().virtualJson<{ metadata: { uid: string } }>(tenant, '-n', 'app', 'get', 'pvc', 'racy')).metadata.uid;
    const again = await eventually('host pod again, naming the new claim\'s copy', async () => {
      const copy = (await hostClaims()).find((c) => c.metadata.name === racyHost);
      const h = await hostPod('unplaced');
      return copy?.metadata.annotations?.['vnest.dev/object-uid'] === uid && h ? h : undefined;
    });
    expect((again.spec as { volumes?: Array<{ persistentVolumeClaim?: { claimName: string } }> }).volumes?.find((v) => v.persistentVolumeClaim)?.persistentVolumeClaim?.claimName).toBe(racyHost);
    expect((await bed().virtualJson<PodJson>(tenant, '-n', 'app', 'get', 'pod', 'unplaced')).spec.nodeName).toBeFalsy();
    await bed().virtualKubectl(tenant, '-n', 'app', 'delete', 'pod', 'early', 'unplaced', '--wait=false');
  });

  it('completes a tenant Job on simulated nodes, as kwok completes a host Job\'s pods', async () => {
    // A pod no Job made, started at the same time, must keep running.
    await bed().virtualKubectl(tenant, '-n', 'app', 'run', 'solo', '--image=registry.k8s.io/pause:3.10', '--restart=Never');
    await bed().virtualKubectl(tenant, '-n', 'app', 'create', 'job', 'once', '--image=registry.k8s.io/pause:3.10');
    const job = await eventually('the tenant Job Complete', async () => {
      const j = await bed().virtualJson<{ status?: { succeeded?: number; conditions?: Array<{ type: string; status: string }> } }>(tenant, '-n', 'app', 'get', 'job', 'once');
      return j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') ? j : undefined;
    }, 60_000);
    expect(job.status?.succeeded).toBe(1);
    // The host pod finished (the tenant saw it through the syncer), and the host has no Job.
    const hosts = await hostPods(['-l', 'vnest.dev/namespace=app,batch.kubernetes.io/job-name=once']);
    expect(hosts.map((p) => p.status.phase)).toEqual(['Succeeded']);
    expect((await bed().hostJson<List<unknown>>('-n', hostNamespace, 'get', 'jobs')).items).toHaveLength(0);
    // Created first, it went Running before the Job's pod finished; it has not finished since.
    const solo = await bed().virtualJson<PodJson>(tenant, '-n', 'app', 'get', 'pod', 'solo');
    expect(solo.status.phase).toBe('Running');
    await bed().virtualKubectl(tenant, '-n', 'app', 'delete', 'pod', 'solo', '--wait=false');
  });

  it('serves Prometheus metrics: sync lag both ways, requests by side, verb and answer, queues, reconciles, relists', async () => {
    const res = await fetch(`http://127.0.0.1:${healthPort}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    // The pods above were created, ran and went: each direction of the lag was observed.
    expect(value('vnest_sync_lag_seconds_count{direction="to_host"}')).toBeGreaterThan(0);
    expect(value('vnest_sync_lag_seconds_count{direction="to_virtual"}')).toBeGreaterThan(0);
    expect(value('vnest_api_requests_total{side="host",verb="POST",code="201"}')).toBeGreaterThan(0);
    expect(value('vnest_api_requests_total{side="virtual",verb="POST",code="201"}')).toBeGreaterThan(0);
    expect(value('vnest_reconciles_total{controller="pods"}')).toBeGreaterThan(0);
    expect(value('vnest_workqueue_depth{controller="pods"}')).toBe(0);
    expect(value('vnest_workqueue_wait_seconds_count{controller="pods"}')).toBeGreaterThan(0);
    expect(text).toMatch(/^vnest_informer_relists_total\{informer="host:\/v1\/pods:[^"]*"\} [1-9]/m);
    expect(text).toMatch(/^vnest_informer_watches_expired_total\{informer="host:\/v1\/pods:[^"]*"\} \d+$/m);
    expect(value('vnest_syncer_process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});
