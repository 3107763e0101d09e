// Opt-in (VNEST_DOCKER=1, needs a Docker engine): k3s in a container as a virtual control plane.
// Not run in CI, whose machines have no Docker engine.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { K3sControlPlane } from '../../src/local/k3s-container.ts';
import { kubectlOk } from '../../src/local/kubectl.ts';
import { waitFor } from '../../src/local/wait.ts';
import { kit, useEnvironment } from '../helpers.ts';

describe.skipIf(process.env.VNEST_DOCKER !== '1')('k3s control plane in a container', () => {
  const env = useEnvironment(() => K3sControlPlane.start({ ...(process.env.VNEST_K3S_IMAGE ? { image: process.env.VNEST_K3S_IMAGE } : {}) }));

  it('runs controllers but schedules no pod', async () => {
    const kubectl = async (...args: string[]) => kubectlOk((await kit()).bin.kubectl, env.current.kubeconfigPath, args);
    await waitFor('the default ServiceAccount', async () => (await kubectl('get', 'serviceaccount', 'default', '-o', 'name')).trim() !== '', { timeoutMs: 60_000 });
    await kubectl('create', 'deployment', 'web', '--image=registry.k8s.io/pause:3.10');
    await waitFor('a pod of deployment web', async () => (await kubectl('get', 'pods', '-l', 'app=web', '-o', 'name')).trim() !== '', { timeoutMs: 60_000 });
    await sleep(3000);
    expect(await kubectl('get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[*].spec.nodeName}')).toBe('');
  });
});
