// NetworkPolicy on the real node, which enforces it (kube-router, src/local/network-policy.ts): with
// the chart's policy on, a second tenant's pods and other pods of the host namespace no longer
// reach a tenant's pods or its front door, by pod IP or by Service, while the tenant's own pods,
// its control plane and the kubelet's probes still do; without it, every pod reaches every other.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { HostCluster } from '../../src/local/host-cluster.ts';
import { kubectlOk, runKubectl } from '../../src/local/kubectl.ts';
import { networkPolicyEnforcerSynced } from '../../src/local/network-policy.ts';
import { busyboxImage } from '../../src/local/node-images.ts';
import { waitFor } from '../../src/local/wait.ts';
import { marks } from '../../src/translate/metadata.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';

const chart = join(import.meta.dirname, '..', '..', 'charts', 'vnest');

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: { template?: { metadata?: { labels?: Record<string, string> } } };
}

/** Where each probe connects from (namespace/pod) and to (a target name). */
type Probe = [from: string, to: 'web' | 'web-service' | 'front-door'];
const reachability = (pairs: Probe[], result: 'open' | 'closed') =>
  Object.fromEntries(pairs.map(([from, to]) => [`${from} -> ${to}`, result]));

describe('NetworkPolicy on a real node', async () => {
  const k = await kit();
  const env = useEnvironment(() => HostCluster.start({ kit: k, ports, nodes: 0, realNodes: 1 }));
  const kubectl = (...args: string[]) => kubectlOk(k.bin.kubectl, env.current.kubeconfigPath, args);
  const apply = (obj: unknown) => kubectlOk(k.bin.kubectl, env.current.kubeconfigPath, ['apply', '-f', '-'], { input: JSON.stringify(obj) });
  // Tenant t1 in host namespace tenant-a (its policy from the chart), tenant t2 in tenant-b.
  const first = 'tenant-a';
  const second = 'tenant-b';
  const render = async () => {
    const { stdout } = await promisify(execFile)(k.bin.helm, ['template', 't1', chart, '--namespace', first, '--set', 'isolation.networkPolicy.enabled=true'], { maxBuffer: 16 << 20 });
    return parseAllDocuments(stdout).map((d) => d.toJS() as Doc).filter(Boolean);
  };
  const targets: Record<Probe[1], string> = { web: '', 'web-service': '', 'front-door': '' };

  const pod = (namespace: string, name: string, labels: Record<string, string>, script: string, port?: number) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels },
    spec: {
      nodeSelector: { type: 'real' },
      terminationGracePeriodSeconds: 1,
      containers: [{
        name: 'main', image: busyboxImage, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script],
        // The kubelet probes from the node: a policy must not cut it off.
        ...(port ? { readinessProbe: { tcpSocket: { port }, periodSeconds: 1, failureThreshold: 2 } } : {}),
      }],
    },
  });
  const server = (port: number) => `mkdir -p /tmp/www && echo up > /tmp/www/index.html && exec httpd -f -p ${port} -h /tmp/www`;

  const probe = async ([from, to]: Probe): Promise<string> => {
    const [namespace, name] = from.split('/') as [string, string];
    const res = await runKubectl(k.bin.kubectl, env.current.kubeconfigPath,
      ['-n', namespace, 'exec', name, '--', 'sh', '-c', `nc -w 2 ${targets[to]} </dev/null && echo open || echo closed`]);
    return res.stdout.trim() || `kubectl exec failed: ${res.stderr.trim()}`;
  };
  /** Probes until every pair gives what is expected (policies take a moment), then compares. */
  const expectReach = async (expected: Record<string, string>, pairs: Probe[]) => {
    let seen: Record<string, string> = {};
    await waitFor('the expected reachability', async () => {
      seen = Object.fromEntries(await Promise.all(pairs.map(async (p) => [`${p[0]} -> ${p[1]}`, await probe(p)] as const)));
      return JSON.stringify(seen) === JSON.stringify(expected);
    }, { timeoutMs: 60_000, intervalMs: 1000 }).catch(() => undefined);
    expect(seen).toEqual(expected);
  };

  const own: Probe[] = [[`${first}/peer`, 'web'], [`${first}/peer`, 'web-service'], [`${first}/front`, 'web']];
  const others: Probe[] = [[`${second}/intruder`, 'web'], [`${second}/intruder`, 'web-service'], [`${first}/stranger`, 'web']];
  const frontDoorOwn: Probe[] = [[`${first}/peer`, 'front-door']];
  const frontDoorOthers: Probe[] = [[`${second}/intruder`, 'front-door']];

  it('runs a NetworkPolicy enforcer on the real node', async () => {
    const net = env.current.realNode?.network;
    if (!net) throw new Error('no real node');
    await waitFor('the enforcer\'s first sync', () => networkPolicyEnforcerSynced((c, a) => net.exec(c, a)), { timeoutMs: 60_000, intervalMs: 500 });
  });

  it('without a policy, every pod reaches every other (the baseline)', async () => {
    const docs = await render();
    // The front-door stand-in carries the labels the chart gives the control-plane pod.
    const controlPlaneLabels = docs.find((d) => d.kind === 'StatefulSet')?.spec?.template?.metadata?.labels ?? {};
    expect(controlPlaneLabels).toMatchObject({ 'vnest.dev/control-plane': 't1' });
    for (const ns of [first, second]) await kubectl('create', 'namespace', ns);
    await apply(pod(first, 'web', { [marks.tenant]: 't1', app: 'web' }, server(8080), 8080));
    await apply(pod(first, 'front', controlPlaneLabels, server(8443), 8443));
    await apply(pod(first, 'peer', { [marks.tenant]: 't1' }, 'exec sleep 3600'));
    await apply(pod(first, 'stranger', {}, 'exec sleep 3600'));
    await apply(pod(second, 'intruder', { [marks.tenant]: 't2' }, 'exec sleep 3600'));
    for (const [ns, name] of [[first, 'web'], [first, 'front'], [first, 'peer'], [first, 'stranger'], [second, 'intruder']] as Array<[string, string]>) {
      await kubectl('-n', ns, 'wait', '--for=condition=Ready', `pod/${name}`, '--timeout=120s');
    }
    await kubectl('-n', first, 'expose', 'pod', 'web', '--port=80', '--target-port=8080');
    const ip = async (kind: string, name: string, path: string) => (await kubectl('-n', first, 'get', kind, name, '-o', `jsonpath={${path}}`)).trim();
    targets.web = `${await ip('pod', 'web', '.status.podIP')} 8080`;
    targets['web-service'] = `${await ip('service', 'web', '.spec.clusterIP')} 80`;
    targets['front-door'] = `${await ip('pod', 'front', '.status.podIP')} 8443`;
    const all = [...own, ...others, ...frontDoorOwn, ...frontDoorOthers];
    await expectReach(reachability(all, 'open'), all);
  });

  it('with the chart\'s NetworkPolicy, only the tenant\'s own pods and its control plane reach its pods', async () => {
    const policies = (await render()).filter((d) => d.kind === 'NetworkPolicy');
    expect(policies.length).toBeGreaterThan(0);
    for (const policy of policies) await apply(policy);
    await expectReach({ ...reachability(own, 'open'), ...reachability(others, 'closed') }, [...own, ...others]);
    // The kubelet's probes still get through: the pods stay Ready.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await kubectl('-n', first, 'get', 'pod', 'web', 'front', '-o', 'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}')).toBe('True True');
  });

  it('with the chart\'s NetworkPolicy, another tenant\'s pods cannot reach the tenant\'s front door, its own pods can', async () => {
    await expectReach({ ...reachability(frontDoorOwn, 'open'), ...reachability(frontDoorOthers, 'closed') }, [...frontDoorOwn, ...frontDoorOthers]);
  });

  it('lets every pod through again once the policy is gone', async () => {
    await kubectl('-n', first, 'delete', 'networkpolicy', '--all');
    const all = [...own, ...others, ...frontDoorOwn, ...frontDoorOthers];
    await expectReach(reachability(all, 'open'), all);
  });
});
