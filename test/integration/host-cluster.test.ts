// The host cluster is real enough to run vnest against: pods are scheduled to kwok nodes, reach
// Running with IPs, and the kubelet API (through the real apiserver) serves logs, exec and
// port-forward as configured.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KubeClient, type KubeObject } from '../../src/kube/client.ts';
import { isConflict, isInvalid, isTerminal } from '../../src/kube/errors.ts';
import { HostCluster } from '../../src/local/host-cluster.ts';
import { types } from '../../src/syncer/context.ts';
import { kubectlOk, runKubectl } from '../../src/local/kubectl.ts';
import { waitFor } from '../../src/local/wait.ts';
import { greeter, kit, ports, readThroughPortForward, useEnvironment } from '../helpers.ts';

interface Pod {
  spec: { nodeName?: string };
  status: { phase?: string; podIP?: string; hostIP?: string };
}

describe('host cluster', async () => {
  const podLogs = `log line ${randomBytes(4).toString('hex')}\nsecond line\n`;
  const greeting = 'hello through port-forward';
  const target = await greeter(greeting);
  afterAll(() => new Promise<void>((resolve) => target.close(() => resolve())));
  const env = useEnvironment(async () =>
    HostCluster.start({ kit: await kit(), ports, nodes: 3, podLogs, portForwardTarget: { address: '127.0.0.1', port: target.port } }),
  );
  const kubectl = async (...args: string[]) => kubectlOk((await kit()).bin.kubectl, env.current.kubeconfigPath, args);

  it('answers a JSON patch that no longer applies as a conflict to retry, and a real validation error as final', async () => {
    const client = await KubeClient.fromKubeconfigFile(env.current.kubeconfigPath);
    try {
      const cm = await client.create<KubeObject>(types.configmaps, 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'patched', labels: { a: '1' } } });
      await client.patch(types.configmaps, 'default', 'patched', { metadata: { labels: { b: '2' } } });
      // Written between our read and our write: the resourceVersion test fails, or the path is gone.
      const stale = client.patch(types.configmaps, 'default', 'patched', [{ op: 'test', path: '/metadata/resourceVersion', value: cm.metadata.resourceVersion }, { op: 'add', path: '/data', value: { x: 'y' } }], 'json');
      await expect(stale).rejects.toSatisfy((e: unknown) => isConflict(e) && !isTerminal(e));
      const gone = client.patch(types.configmaps, 'default', 'patched', [{ op: 'remove', path: '/metadata/labels/zzz' }], 'json');
      await expect(gone).rejects.toSatisfy(isConflict);
      const invalid = client.patch(types.configmaps, 'default', 'patched', [{ op: 'add', path: '/metadata/labels/bad key', value: 'x' }], 'json');
      await expect(invalid).rejects.toSatisfy((e: unknown) => isInvalid(e) && isTerminal(e));
    } finally {
      client.close();
    }
  });

  it('has the requested number of Ready kwok nodes', async () => {
    const out = await kubectl('get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}');
    expect(out.split(' ').sort()).toEqual(['kwok-node-0', 'kwok-node-1', 'kwok-node-2']);
  });

  it('schedules a pod to a kwok node where it runs with an IP', async () => {
    await kubectl('run', 'web', '--image=registry.k8s.io/pause:3.10', '--port=80');
    const pod = await waitFor('pod web Running', async () => {
      const p = JSON.parse(await kubectl('get', 'pod', 'web', '-o', 'json')) as Pod;
      return p.status.phase === 'Running' && p.status.podIP ? p : undefined;
    }, { timeoutMs: 60_000 });
    expect(env.current.nodeNames).toContain(pod.spec.nodeName);
    expect(pod.status.podIP).toMatch(/^10\.244\.\d+\.\d+$/);
  });

  it('serves kubectl logs from the kubelet API', async () => {
    expect(await kubectl('logs', 'web')).toBe(podLogs);
  });

  it('serves kubectl exec from the kubelet API', async () => {
    const marker = randomBytes(8).toString('hex');
    await writeFile(join(env.current.execDir, 'marker.txt'), marker);
    expect(await kubectl('exec', 'web', '--', 'cat', 'marker.txt')).toBe(marker);
    // kwok reports a command's failure as an error with its exit status (a kubelet would pass the
    // exit code itself through).
    const failing = await runKubectl((await kit()).bin.kubectl, env.current.kubeconfigPath, ['exec', 'web', '--', 'sh', '-c', 'exit 3']);
    expect(failing.code).not.toBe(0);
    expect(failing.stderr).toContain('exit status 3');
  });

  it('serves kubectl port-forward from the kubelet API', async () => {
    expect(await readThroughPortForward((await kit()).bin.kubectl, env.current.kubeconfigPath, ['pod/web'], 80, greeting.length)).toBe(greeting);
  });
});
