// Several environments run side by side without sharing ports, data or credentials.
import { describe, expect, it } from 'vitest';
import type { ControlPlane } from '../../src/local/control-plane.ts';
import { HostCluster, startVirtualControlPlane } from '../../src/local/host-cluster.ts';
import { kubectlOk, runKubectl } from '../../src/local/kubectl.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';

interface Four {
  hosts: HostCluster[];
  virtuals: ControlPlane[];
  stop(): Promise<void>;
  logTails(lines?: number): string;
}

describe('side by side', () => {
  const env = useEnvironment<Four>(async () => {
    const k = await kit();
    const started = await Promise.allSettled([
      HostCluster.start({ kit: k, ports, name: 'host-a', nodes: 1 }),
      HostCluster.start({ kit: k, ports, name: 'host-b', nodes: 1 }),
      startVirtualControlPlane({ kit: k, ports, name: 'virtual-a' }),
      startVirtualControlPlane({ kit: k, ports, name: 'virtual-b' }),
    ]);
    const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) {
      await Promise.all(ok.map((e) => e.stop()));
      throw failed.reason;
    }
    const [ha, hb, va, vb] = ok as [HostCluster, HostCluster, ControlPlane, ControlPlane];
    return {
      hosts: [ha, hb],
      virtuals: [va, vb],
      stop: async () => void (await Promise.all(ok.map((e) => e.stop()))),
      logTails: (lines) => ok.map((e) => e.logTails(lines)).join('\n'),
    };
  });

  it('keeps two host clusters and two control planes apart', async () => {
    const { bin } = await kit();
    const all = [...env.current.hosts.map((h) => h.kubeconfigPath), ...env.current.virtuals.map((v) => v.kubeconfigPath)];
    expect(new Set(all.map((k) => k)).size).toBe(4);
    // A namespace made in one is absent from the others.
    await Promise.all(all.map((kc, i) => kubectlOk(bin.kubectl, kc, ['create', 'namespace', `only-in-${i}`])));
    for (const [i, kc] of all.entries()) {
      const names = (await kubectlOk(bin.kubectl, kc, ['get', 'namespaces', '-o', 'jsonpath={.items[*].metadata.name}'])).split(' ');
      expect(names.filter((n) => n.startsWith('only-in-'))).toEqual([`only-in-${i}`]);
    }
  });

  it('does not accept one cluster\'s admin credentials on another', async () => {
    const [a, b] = env.current.hosts as [HostCluster, HostCluster];
    // b's server with a's CA and client certificate: TLS verification fails.
    const res = await runKubectl((await kit()).bin.kubectl, a.kubeconfigPath, ['--server', b.server, 'get', 'namespaces']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/certificate|x509|tls/i);
  });
});
