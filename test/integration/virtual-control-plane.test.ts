// The virtual control plane is metadata-only: controllers run, nothing schedules or runs a pod.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startVirtualControlPlane } from '../../src/local/host-cluster.ts';
import { kubectlOk } from '../../src/local/kubectl.ts';
import { waitFor } from '../../src/local/wait.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';

interface PodList {
  items: Array<{ metadata: { name: string; ownerReferences?: Array<{ kind: string }> }; spec: { nodeName?: string }; status: { phase?: string } }>;
}

describe('virtual control plane', () => {
  const env = useEnvironment(async () => startVirtualControlPlane({ kit: await kit(), ports }));
  const kubectl = async (...args: string[]) => kubectlOk((await kit()).bin.kubectl, env.current.kubeconfigPath, args);

  it('reports the pinned Kubernetes version', async () => {
    const out = JSON.parse(await kubectl('version', '-o', 'json')) as { serverVersion: { gitVersion: string } };
    expect(out.serverVersion.gitVersion).toBe((await kit()).versions.kubernetes);
  });

  it('turns a Deployment into a ReplicaSet and Pods that stay Pending with no node', async () => {
    await kubectl('create', 'deployment', 'web', '--image=registry.k8s.io/pause:3.10', '--replicas=2');
    const pods = await waitFor('two pods of deployment web', async () => {
      const list = JSON.parse(await kubectl('get', 'pods', '-l', 'app=web', '-o', 'json')) as PodList;
      return list.items.length === 2 ? list : undefined;
    }, { timeoutMs: 60_000 });
    const rs = JSON.parse(await kubectl('get', 'replicasets', '-l', 'app=web', '-o', 'json')) as { items: unknown[] };
    expect(rs.items).toHaveLength(1);
    for (const pod of pods.items) expect(pod.metadata.ownerReferences?.[0]?.kind).toBe('ReplicaSet');

    // Give a scheduler, were there one, time to act; the pods must still be unbound.
    await sleep(3000);
    const later = JSON.parse(await kubectl('get', 'pods', '-l', 'app=web', '-o', 'json')) as PodList;
    expect(later.items).toHaveLength(2);
    for (const pod of later.items) {
      expect(pod.spec.nodeName).toBeUndefined();
      expect(pod.status.phase).toBe('Pending');
    }
    const nodes = JSON.parse(await kubectl('get', 'nodes', '-o', 'json')) as { items: unknown[] };
    expect(nodes.items).toHaveLength(0);
  });
});
