// The kit's real-node parts are there and are the pinned versions: each binary runs and says so.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { kit } from '../helpers.ts';

const run = async (file: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
  const { stdout, stderr } = await promisify(execFile)(file, args, { env: { PATH: process.env.PATH, ...env } });
  return `${stdout}${stderr}`;
};

describe('kit: the real node\'s parts', () => {
  it('has kubelet and kube-proxy of the pinned Kubernetes', async () => {
    const k = await kit();
    expect(await run(k.node.bin.kubelet, ['--version'])).toContain(k.versions.kubernetes);
    expect(await run(k.node.bin.kubeProxy, ['--version'])).toContain(k.versions.kubernetes);
  });

  it('has containerd, its runc shim and ctr of the pinned version', async () => {
    const k = await kit();
    expect(await run(k.node.bin.containerd, ['--version'])).toContain(k.versions.containerd);
    expect(await run(k.node.bin.ctr, ['--version'])).toContain(k.versions.containerd);
    expect(await run(k.node.bin.containerdShim, ['-v'])).toContain(k.versions.containerd);
  });

  it('has the CNI plugins, CoreDNS, crane and pause', async () => {
    const k = await kit();
    for (const plugin of ['bridge', 'host-local', 'loopback', 'portmap']) {
      const out = await run(join(k.node.cniBinDir, plugin), [], { CNI_COMMAND: 'VERSION' });
      expect(JSON.parse(out).supportedVersions, plugin).toContain('1.0.0');
    }
    expect(await run(k.node.bin.coredns, ['-version'])).toContain(k.versions.coredns.replace(/^v/, ''));
    expect(await run(k.node.bin.crane, ['version'])).toContain(k.versions.ggcr.replace(/^v/, ''));
    expect(await run(k.node.bin.pause, ['-v'])).toContain('vnest-pause');
  });

  it('has kube-router (the NetworkPolicy enforcer) of the pinned version', async () => {
    const k = await kit();
    expect(await run(k.node.bin.kubeRouter, ['--version'])).toContain(`version ${k.versions.kubeRouter},`);
  });

  it('has BuildKit (buildkitd and buildctl) of the pinned version', async () => {
    const k = await kit();
    expect(await run(k.buildkit.buildkitd, ['--version'])).toContain(`github.com/moby/buildkit ${k.versions.buildkit}`);
    expect(await run(k.buildkit.buildctl, ['--version'])).toContain(`github.com/moby/buildkit ${k.versions.buildkit}`);
  });

  it('has metrics-server (the test host\'s resource metrics) of the pinned version', async () => {
    const k = await kit();
    expect((await run(k.metricsServer, ['--version'])).trim()).toBe(k.versions.metricsServer);
  });
});
