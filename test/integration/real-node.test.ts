// A real node beside kwok nodes: containers really run (containerd, runc, CNI bridge, kube-proxy),
// the kubelet API serves logs, exec and port-forward from them, Services route by cluster IP, and
// pods reach nothing outside but the host API server. Stopping the cluster leaves nothing behind.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { HostCluster } from '../../src/local/host-cluster.ts';
import { kubectlOk, runKubectl } from '../../src/local/kubectl.ts';
import { busyboxImage } from '../../src/local/node-images.ts';
import { waitFor } from '../../src/local/wait.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';

interface Pod {
  spec: { nodeName?: string };
  status: {
    phase?: string; podIP?: string;
    containerStatuses?: Array<{ restartCount: number; state?: { waiting?: { reason?: string; message?: string } } }>;
  };
}

/** A busybox pod pinned to the real node. */
function bbPod(name: string, script: string, extra: Record<string, unknown> = {}, labels: Record<string, string> = {}) {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, labels },
    spec: {
      nodeSelector: { type: 'real' },
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: busyboxImage, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script], ...extra }],
    },
  };
}

describe('real node', async () => {
  const k = await kit();
  // Nothing of a stopped node may remain: checked after the environment stops (hooks run last-first).
  let slot: number | undefined;
  let nodeDir = '';
  afterAll(() => {
    if (slot === undefined) return;
    const cgroups = readdirSync('/sys/fs/cgroup').filter((h) => existsSync(`/sys/fs/cgroup/${h}/vnest-node-${slot}`));
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(nodeDir) || l.includes(`/run/vnest-node-${slot}/`));
    const links = readdirSync('/sys/class/net').filter((l) => l === `vnest${slot}h`);
    // The kubelet's and libcni's fixed places: container log links and CNI result caches.
    const logLinks = existsSync('/var/log/containers') ? readdirSync('/var/log/containers').filter((f) => {
      try {
        return readlinkSync(`/var/log/containers/${f}`).startsWith(`${nodeDir}/`);
      } catch {
        return false;
      }
    }) : [];
    const cniResults = existsSync('/var/lib/cni/results') ? readdirSync('/var/lib/cni/results').filter((f) => f.startsWith(`vnest-node-${slot}-`)) : [];
    expect({ cgroups, mounts, links, logLinks, cniResults, lock: existsSync(`/run/vnest/real-nodes/${slot}`), dir: existsSync(nodeDir) })
      .toEqual({ cgroups: [], mounts: [], links: [], logLinks: [], cniResults: [], lock: false, dir: false });
  });
  const env = useEnvironment(async () => {
    const host = await HostCluster.start({ kit: k, ports, nodes: 1, realNodes: 1 });
    slot = host.realNode?.network.slot;
    nodeDir = host.realNode?.dir ?? '';
    return host;
  });
  const kubectl = (...args: string[]) => kubectlOk(k.bin.kubectl, env.current.kubeconfigPath, args);
  const apply = (obj: unknown) => kubectlOk(k.bin.kubectl, env.current.kubeconfigPath, ['apply', '-f', '-'], { input: JSON.stringify(obj) });
  const pod = async (name: string) => JSON.parse(await kubectl('get', 'pod', name, '-o', 'json')) as Pod;
  const ready = (name: string) => kubectl('wait', '--for=condition=Ready', `pod/${name}`, '--timeout=120s');

  it('registers a Ready real node beside the kwok node, labelled type=real, running containerd', async () => {
    const nodes = JSON.parse(await kubectl('get', 'nodes', '-o', 'json')) as {
      items: Array<{ metadata: { name: string; labels: Record<string, string> }; status: { nodeInfo: { containerRuntimeVersion: string } } }>;
    };
    const real = nodes.items.find((n) => n.metadata.labels.type === 'real');
    expect(real?.metadata.name).toBe('real-node-0');
    expect(real?.status.nodeInfo.containerRuntimeVersion).toBe(`containerd://${k.versions.containerd.replace(/^v/, '')}`);
    expect(nodes.items.filter((n) => n.metadata.labels.type === 'kwok')).toHaveLength(1);
  });

  it('runs a container for real: its output in logs, exec with exit codes, files it wrote', async () => {
    await apply(bbPod('bb', 'echo "hello from $(hostname)"; echo written > /tmp/out; exec sleep 3600'));
    await ready('bb');
    const p = await pod('bb');
    expect(p.spec.nodeName).toBe('real-node-0');
    expect(p.status.podIP).toMatch(new RegExp(`^10\\.251\\.${env.current.realNode?.network.slot}\\.\\d+$`));
    expect(await kubectl('logs', 'bb')).toBe('hello from bb\n');
    expect(await kubectl('exec', 'bb', '--', 'cat', '/tmp/out')).toBe('written\n');
    const failed = await runKubectl(k.bin.kubectl, env.current.kubeconfigPath, ['exec', 'bb', '--', 'sh', '-c', 'echo to-stderr >&2; exit 3']);
    expect(failed.code).toBe(3);
    expect(failed.stderr).toContain('to-stderr');
  });

  it('follows logs (-f) and keeps the previous container\'s logs after a restart', async () => {
    await apply(bbPod('ticker', 'i=0; while [ $i -lt 4 ]; do echo "tick $i"; i=$((i+1)); sleep 0.5; done; exit 1'));
    const follower = spawn(k.bin.kubectl, [`--kubeconfig=${env.current.kubeconfigPath}`, 'logs', '-f', 'ticker']);
    let followed = '';
    follower.stdout.on('data', (d: Buffer) => (followed += d.toString()));
    try {
      await waitFor('kubectl logs -f to stream two lines', async () => followed.includes('tick 1'), { timeoutMs: 90_000 });
    } finally {
      follower.kill();
    }
    await waitFor('ticker restarted', async () => ((await pod('ticker')).status.containerStatuses?.[0]?.restartCount ?? 0) >= 1, { timeoutMs: 90_000, intervalMs: 1000 });
    expect(await kubectl('logs', 'ticker', '--previous')).toBe('tick 0\ntick 1\ntick 2\ntick 3\n');
  });

  it('port-forwards to a server in the pod and routes a Service cluster IP to it (kube-proxy)', async () => {
    await apply(bbPod('web', 'mkdir -p /tmp/www && echo served-by-web > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www', {}, { app: 'web' }));
    await ready('web');
    const localPort = await ports.next();
    const forwarder = spawn(k.bin.kubectl, [`--kubeconfig=${env.current.kubeconfigPath}`, 'port-forward', 'pod/web', `${localPort}:8080`]);
    try {
      const page = await waitFor('a page through port-forward', async () => {
        const res = await fetch(`http://127.0.0.1:${localPort}/`);
        return res.ok ? res.text() : undefined;
      }, { timeoutMs: 30_000, intervalMs: 300 });
      expect(page).toBe('served-by-web\n');
    } finally {
      forwarder.kill();
    }
    await kubectl('expose', 'pod', 'web', '--port=80', '--target-port=8080');
    const ip = await kubectl('get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}');
    const body = await waitFor('the Service to route', async () => {
      const r = await runKubectl(k.bin.kubectl, env.current.kubeconfigPath, ['exec', 'bb', '--', 'timeout', '3', 'wget', '-q', '-O', '-', `http://${ip}/`]);
      return r.code === 0 ? r.stdout : undefined;
    }, { timeoutMs: 60_000, intervalMs: 1000 });
    expect(body).toBe('served-by-web\n');
  });

  it('lets pods reach the host API server through the kubernetes Service and nothing else outside', async () => {
    const net = env.current.realNode?.network;
    if (!net) throw new Error('no real node');
    const probe = async (host: string, port: number) =>
      (await runKubectl(k.bin.kubectl, env.current.kubeconfigPath, ['exec', 'bb', '--', 'sh', '-c', `nc -w 2 ${host} ${port} </dev/null && echo open || echo closed`])).stdout.trim();
    await waitFor('the kubernetes Service to have the API server as endpoint', async () => (await probe('10.96.0.1', 443)) === 'open', { timeoutMs: 60_000, intervalMs: 1000 });
    // A server on this machine's end of the node's link, beside the API server: out of reach.
    const listener = await new Promise<Server>((resolve) => {
      const server = createServer((c) => c.end('reached')).listen(0, net.hostIp, () => resolve(server));
    });
    const listenerPort = (listener.address() as AddressInfo).port;
    try {
      expect(await probe(net.hostIp, listenerPort)).toBe('closed');
    } finally {
      listener.close();
    }
    expect(await probe('1.1.1.1', 80)).toBe('closed');
    const route = await runKubectl(k.bin.kubectl, env.current.kubeconfigPath, ['exec', 'bb', '--', 'timeout', '3', 'wget', '-q', '-O', '-', 'http://1.1.1.1/']);
    expect(route.code).not.toBe(0);
  });

  it('reports ErrImagePull at once for an image that is not on the node, or that must be pulled', async () => {
    await kubectl('run', 'missing', '--image=registry.example/not-here:1', '--overrides={"spec":{"nodeSelector":{"type":"real"}}}');
    await kubectl('run', 'always', `--image=${busyboxImage}`, '--image-pull-policy=Always', '--overrides={"spec":{"nodeSelector":{"type":"real"}}}', '--', 'sleep', '60');
    for (const name of ['missing', 'always']) {
      const reason = await waitFor(`${name} to fail its pull`, async () => (await pod(name)).status.containerStatuses?.[0]?.state?.waiting?.reason?.match(/ErrImagePull|ImagePullBackOff/)?.[0], { timeoutMs: 60_000, intervalMs: 500 });
      expect(reason).toMatch(/ErrImagePull|ImagePullBackOff/);
    }
  });
});

