// Finds the upstream components that hack/build-kit.sh builds, building them first when needed.
import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

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
  versions: { kubernetes: string; etcd: string; kwok: string; helm: string };
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Returns the kit. `VNEST_KIT_DIR` names a prepared kit; otherwise hack/build-kit.sh finds (or
 * builds) it in the cache.
 */
export async function loadKit(env: NodeJS.ProcessEnv = process.env): Promise<Kit> {
  let dir = env.VNEST_KIT_DIR;
  if (!dir) {
    const script = join(repoRoot, 'hack', 'build-kit.sh');
    try {
      const { stdout } = await promisify(execFile)('bash', [script, '--print-dir'], { env, maxBuffer: 1 << 20 });
      dir = stdout.trim();
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? '';
      throw new Error(`could not build or find the upstream components (hack/build-kit.sh): ${stderr.trim()}`, { cause: err });
    }
  }
  const b = (name: string) => join(dir, 'bin', name);
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
    versions: JSON.parse(await readFile(join(dir, 'versions.json'), 'utf8')) as Kit['versions'],
  };
  for (const path of Object.values(kit.bin)) {
    await access(path).catch((err: unknown) => {
      throw new Error(`kit at ${dir} lacks ${path}; run hack/build-kit.sh`, { cause: err });
    });
  }
  return kit;
}
