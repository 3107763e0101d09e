// Opt-in second backend for a virtual control plane: k3s in a container through testcontainers, as
// the chart's default distro runs it. Needs a Docker engine; CI machines have none, so nothing in
// the default test run uses this (see README).
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { parse, stringify } from 'yaml';
import { defaultServiceCidr } from './control-plane.ts';

// Matches the pinned Kubernetes minor; not pulled on CI machines (no Docker engine), so unverified there.
export const defaultK3sImage = 'rancher/k3s:v1.37.1-k3s1';

export interface K3sControlPlaneOptions {
  image?: string;
  serviceCidr?: string;
}

/** The metadata-only k3s server the chart's k3s distro runs: no agent, scheduler or addons. */
export function k3sServerArgs(serviceCidr: string): string[] {
  return [
    'server',
    '--disable-agent',
    '--disable-scheduler',
    '--disable-cloud-controller',
    '--disable-network-policy',
    '--disable=traefik,servicelb,metrics-server,local-storage,coredns',
    `--service-cidr=${serviceCidr}`,
    '--tls-san=127.0.0.1',
  ];
}

export class K3sControlPlane {
  readonly kubeconfigPath: string;
  private readonly container: StartedTestContainer;
  private readonly dir: string;

  private constructor(container: StartedTestContainer, dir: string, kubeconfigPath: string) {
    this.container = container;
    this.dir = dir;
    this.kubeconfigPath = kubeconfigPath;
  }

  static async start(opts: K3sControlPlaneOptions = {}): Promise<K3sControlPlane> {
    const container = await new GenericContainer(opts.image ?? defaultK3sImage)
      .withPrivilegedMode()
      .withCommand(k3sServerArgs(opts.serviceCidr ?? defaultServiceCidr))
      .withExposedPorts(6443)
      .withWaitStrategy(Wait.forLogMessage(/k3s is up and running|Running kube-apiserver/))
      .start();
    const dir = await mkdtemp(join(tmpdir(), 'vnest-k3s-'));
    try {
      const read = await container.exec(['cat', '/etc/rancher/k3s/k3s.yaml']);
      if (read.exitCode !== 0) throw new Error(`cannot read the k3s kubeconfig: ${read.output}`);
      const kubeconfig = parse(read.output) as { clusters: Array<{ cluster: { server: string } }> };
      for (const c of kubeconfig.clusters) c.cluster.server = `https://${container.getHost()}:${container.getMappedPort(6443)}`;
      const kubeconfigPath = join(dir, 'admin.kubeconfig');
      await writeFile(kubeconfigPath, stringify(kubeconfig), { mode: 0o600 });
      return new K3sControlPlane(container, dir, kubeconfigPath);
    } catch (err) {
      await container.stop();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.container.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  logTails(): string {
    return '(k3s logs: docker logs of the container)';
  }
}
