// Finds the upstream components that hack/build-kit.sh builds, building them first when needed.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Kit {
  dir: string;
  bin: {
    kubeApiserver: string;
    kubeControllerManager: string;
    kubeScheduler: string;
    kubectl: string;
    etcd: string;
    kwok: string;
    helm: string;
  };
  kwokStagesDir: string;
  /** kwok's emulated kubelet resource metrics and a pod usage read from pod annotations. */
  kwokMetricsDir: string;
  /** metrics-server: the host's metrics.k8s.io in tests of `kubectl top` in a tenant. */
  metricsServer: string;
  /**
   * A real node's parts: kubelet, kube-proxy, containerd and its shim, ctr, CoreDNS, crane, pause,
   * and kube-router (the NetworkPolicy enforcer).
   */
  node: {
    bin: {
      kubelet: string;
      kubeProxy: string;
      containerd: string;
      containerdShim: string;
      ctr: string;
      coredns: string;
      crane: string;
      pause: string;
      kubeRouter: string;
    };
    /** The CNI plugins (bridge, host-local, loopback, portmap). */
    cniBinDir: string;
  };
  /** BuildKit, to build the vnest image from its Dockerfile. */
  buildkit: { buildkitd: string; buildctl: string };
  versions: { kubernetes: string; etcd: string; kwok: string; helm: string; containerd: string; cniPlugins: string; coredns: string; ggcr: string; buildkit: string; kubeRouter: string; nodeDir: string; buildkitDir: string; kubeRouterDir: string; metricsServer: string; metricsServerDir: string };
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The kit's recipe beside this vnest: in a checkout, and in the npm package, which ships it. */
export const kitScript = join(repoRoot, 'hack', 'build-kit.sh');

/** Runs hack/build-kit.sh --print-dir; its messages go to our stderr as they come with `showProgress`. */
function buildKit(env: NodeJS.ProcessEnv, showProgress: boolean): Promise<string> {
  if (!existsSync(kitScript)) {
    return Promise.reject(new Error(`${kitScript} is missing, so the kit can be neither found nor built; set VNEST_KIT_DIR to a built kit`));
  }
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [kitScript, '--print-dir'], { env, stdio: ['ignore', 'pipe', showProgress ? 'inherit' : 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-8192); });
    child.on('error', (err) => reject(new Error(`could not run ${kitScript}: ${err.message}`, { cause: err })));
    child.on('close', (code) => {
      if (code === 0) resolve(stdout.trim());
      else reject(new Error(`could not build or find the upstream components (hack/build-kit.sh exited ${code})${stderr ? `: ${stderr.trim()}` : ''}`));
    });
  });
}

/**
 * Returns the kit. `VNEST_KIT_DIR` names a prepared kit; otherwise hack/build-kit.sh finds (or
 * builds) it in the cache, showing its progress on stderr with `showProgress`.
 */
export async function loadKit(env: NodeJS.ProcessEnv = process.env, { showProgress = false } = {}): Promise<Kit> {
  const dir = env.VNEST_KIT_DIR || await buildKit(env, showProgress);
  const b = (name: string) => join(dir, 'bin', name);
  const versions = JSON.parse(await readFile(join(dir, 'versions.json'), 'utf8')) as Kit['versions'];
  const n = (name: string) => join(versions.nodeDir, 'bin', name);
  if (!versions.metricsServerDir) throw new Error(`kit at ${dir} lacks metrics-server (its versions.json does not name it); run hack/build-kit.sh`);
  const kit: Kit = {
    dir,
    bin: {
      kubeApiserver: b('kube-apiserver'),
      kubeControllerManager: b('kube-controller-manager'),
      kubeScheduler: b('kube-scheduler'),
      kubectl: b('kubectl'),
      etcd: b('etcd'),
      kwok: b('kwok'),
      helm: b('helm'),
    },
    kwokStagesDir: join(dir, 'kwok-stages'),
    kwokMetricsDir: join(dir, 'kwok-metrics'),
    metricsServer: join(versions.metricsServerDir, 'bin', 'metrics-server'),
    node: {
      bin: {
        kubelet: b('kubelet'),
        kubeProxy: b('kube-proxy'),
        containerd: n('containerd'),
        containerdShim: n('containerd-shim-runc-v2'),
        ctr: n('ctr'),
        coredns: n('coredns'),
        crane: n('crane'),
        pause: n('pause'),
        kubeRouter: join(versions.kubeRouterDir, 'bin', 'kube-router'),
      },
      cniBinDir: join(versions.nodeDir, 'cni'),
    },
    buildkit: { buildkitd: join(versions.buildkitDir, 'bin', 'buildkitd'), buildctl: join(versions.buildkitDir, 'bin', 'buildctl') },
    versions,
  };
  const cni = ['bridge', 'host-local', 'loopback', 'portmap'].map((p) => join(kit.node.cniBinDir, p));
  for (const path of [...Object.values(kit.bin), ...Object.values(kit.node.bin), ...cni, ...Object.values(kit.buildkit), kit.metricsServer]) {
    await access(path).catch((err: unknown) => {
      throw new Error(`kit at ${dir} lacks ${path}; run hack/build-kit.sh`, { cause: err });
    });
  }
  return kit;
}
