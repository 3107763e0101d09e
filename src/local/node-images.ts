// Container images a real node has without a registry: assembled from the kit's binaries and
// Debian's busybox-static with go-containerregistry's crane (one layer on an empty OCI base, then
// entrypoint, user and platform set), written as image tarballs that containerd imports. Tarballs
// are cached beside the kit, keyed by what went into them.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { defaultCorednsImage } from '../syncer/coredns.ts';
import type { Kit } from './kit.ts';
import { PortAllocator } from './ports.ts';
import { ProcessGroup } from './process.ts';
import { waitFor } from './wait.ts';

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const busyboxBinary = '/bin/busybox';
export const searchPath = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Bump when the way images are assembled changes, so cached tarballs are rebuilt. */
const recipeVersion = 1;

export interface ImageSpec {
  /** The name containerd knows it by, e.g. docker.io/library/busybox:latest. */
  ref: string;
  /** More names for the same image (a version tag, so IfNotPresent is the default pull policy). */
  aliases?: string[];
  /** Layer tarballs under the spec's own layer (a root file system), bottom first; none: an empty base. */
  base?: string[];
  /** Files copied in: source on this machine, destination path in the image, mode (0755 unless given). */
  files: Array<{ from: string; to: string; mode?: number }>;
  /** Symbolic links: path in the image, target. */
  links?: Array<{ path: string; target: string }>;
  /** Text files: path in the image, contents. */
  texts?: Array<{ path: string; content: string }>;
  /** Empty folders (mode 1777 for /tmp). */
  dirs?: string[];
  entrypoint?: string[];
  cmd?: string[];
  user?: string;
  /** What is really inside, when the name's tag says otherwise (a stand-in). */
  version?: string;
}

export interface NodeImage {
  ref: string;
  aliases?: string[];
  tarball: string;
}

/** The pause image containerd uses for pod sandboxes (Kubernetes 1.37's pause version). */
export const pauseImage = 'registry.k8s.io/pause:3.10.2';
/** The test-workload image: busybox with its applets (sh, nslookup, wget, httpd, ...). */
export const busyboxImage = 'docker.io/library/busybox:latest';

interface ChartValues {
  k8s: { apiServerImage: string; controllerManagerImage: string; etcdImage: string };
}

/** The images a real node preloads: pause, busybox, CoreDNS and the chart's k8s distro images. */
export async function nodeImageSpecs(kit: Kit): Promise<ImageSpec[]> {
  const values = parse(await readFile(join(repoRoot, 'charts', 'vnest', 'values.yaml'), 'utf8')) as ChartValues;
  const applets = (await run(busyboxBinary, ['--list-full'])).stdout.split('\n').filter((l) => l.trim() !== '');
  // "BusyBox v1.35.0 (Debian ...) multi-call binary." names the version the image is tagged with.
  const busyboxVersion = /BusyBox v(\d+\.\d+)\.(\d+)/.exec((await run(busyboxBinary, [])).stdout);
  const passwd = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/false\n';
  const group = 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n';
  const identity = [{ path: 'etc/passwd', content: passwd }, { path: 'etc/group', content: group }];
  const binary = (from: string, name: string) => ({
    files: [{ from, to: `usr/local/bin/${name}` }],
    texts: identity,
    dirs: ['tmp'],
    entrypoint: [`/usr/local/bin/${name}`],
    user: '65532:65532',
  });
  return [
    { ref: pauseImage, files: [{ from: kit.node.bin.pause, to: 'pause' }], entrypoint: ['/pause'], user: '65535:65535' },
    {
      ref: busyboxImage,
      files: [{ from: busyboxBinary, to: 'bin/busybox' }],
      links: applets.filter((a) => a !== 'bin/busybox').map((a) => ({ path: a, target: '/bin/busybox' })),
      texts: identity,
      dirs: ['tmp', 'root', 'home', 'var/www'],
      cmd: ['sh'],
      ...(busyboxVersion ? { version: `${busyboxVersion[1]}.${busyboxVersion[2]}`, aliases: [`docker.io/library/busybox:${busyboxVersion[1]}`, `docker.io/library/busybox:${busyboxVersion[1]}.${busyboxVersion[2]}`] } : {}),
    },
    { ref: defaultCorednsImage, ...binary(kit.node.bin.coredns, 'coredns'), version: kit.versions.coredns },
    { ref: values.k8s.apiServerImage, ...binary(kit.bin.kubeApiserver, 'kube-apiserver'), version: kit.versions.kubernetes },
    { ref: values.k8s.controllerManagerImage, ...binary(kit.bin.kubeControllerManager, 'kube-controller-manager'), version: kit.versions.kubernetes },
    { ref: values.k8s.etcdImage, ...binary(kit.bin.etcd, 'etcd'), version: kit.versions.etcd },
  ];
}

async function cacheKey(spec: ImageSpec): Promise<string> {
  const sources = await Promise.all([...spec.files.map((f) => f.from), ...(spec.base ?? [])].map(async (from) => {
    const s = await stat(from);
    return [from, s.size, s.mtimeMs];
  }));
  return createHash('sha256').update(JSON.stringify({ recipeVersion, spec, sources })).digest('hex').slice(0, 16);
}

/** Builds (or finds in the cache) the tarball of every spec. */
export async function buildNodeImages(kit: Kit, specs: ImageSpec[]): Promise<NodeImage[]> {
  const cacheDir = join(kit.dir, 'images');
  await mkdir(cacheDir, { recursive: true });
  const wanted = await Promise.all(specs.map(async (spec) => {
    const safe = spec.ref.replace(/[^a-zA-Z0-9.-]+/g, '_');
    return { spec, tarball: join(cacheDir, `${safe}-${await cacheKey(spec)}.tar`) };
  }));
  const missing = wanted.filter((w) => !existsSync(w.tarball));
  if (missing.length > 0) await assemble(kit, missing);
  return wanted.map((w) => ({ ref: w.spec.ref, ...(w.spec.aliases ? { aliases: w.spec.aliases } : {}), tarball: w.tarball }));
}

/**
 * Runs `fn` with an in-memory registry on loopback (crane works against a registry), given as
 * host:port; the registry stops afterwards.
 */
export async function withCraneRegistry<T>(kit: Kit, work: string, fn: (registry: string) => Promise<T>): Promise<T> {
  const processes = new ProcessGroup(work);
  try {
    const port = await new PortAllocator().next();
    const registry = processes.start({ name: 'registry', command: kit.node.bin.crane, args: ['registry', 'serve', '--address', `127.0.0.1:${port}`] });
    await waitFor('crane registry', async () => (await fetch(`http://127.0.0.1:${port}/v2/`)).ok, { timeoutMs: 20_000, intervalMs: 100, check: () => registry.assertRunning() });
    return await fn(`127.0.0.1:${port}`);
  } finally {
    await processes.stopAll();
  }
}

/** A layer tarball of folder `stage`, owned by root, with fixed times (reproducible). */
export async function tarLayer(stage: string, out: string): Promise<void> {
  await run('tar', ['--sort=name', '--numeric-owner', '--owner=0', '--group=0', '--mtime=@0', '-C', stage, '-cf', out, '.']);
}

async function assemble(kit: Kit, jobs: Array<{ spec: ImageSpec; tarball: string }>): Promise<void> {
  const work = await mkdtemp(join(kit.dir, 'images', '.build-'));
  try {
    await withCraneRegistry(kit, work, async (registry) => {
      for (const [i, { spec, tarball }] of jobs.entries()) {
        const stage = join(work, `stage-${i}`);
        await stageFiles(stage, spec);
        const layer = join(work, `layer-${i}.tar`);
        await tarLayer(stage, layer);
        const scratch = `${registry}/stage/${i}:latest`;
        await crane(kit, ['append', '--oci-empty-base', ...(spec.base ?? []).flatMap((b) => ['-f', b]), '-f', layer, '-t', scratch]);
        const mutate = ['mutate', scratch, '--set-platform', 'linux/amd64', '-t', spec.ref, '-o', `${tarball}.tmp`];
        if (spec.entrypoint) mutate.push('--entrypoint', spec.entrypoint.join(','));
        if (spec.cmd) mutate.push('--cmd', spec.cmd.join(','));
        if (spec.user) mutate.push('--user', spec.user);
        mutate.push('-e', searchPath);
        if (spec.version) mutate.push('-l', `org.opencontainers.image.version=${spec.version}`);
        mutate.push('-l', 'dev.vnest.image=assembled-locally');
        await crane(kit, mutate);
        await rename(`${tarball}.tmp`, tarball);
      }
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function crane(kit: Kit, args: string[]): Promise<string> {
  try {
    return (await run(kit.node.bin.crane, args, { maxBuffer: 16 << 20 })).stdout;
  } catch (err) {
    throw new Error(`crane ${args.join(' ')}: ${((err as { stderr?: string }).stderr ?? '').trim() || (err as Error).message}`, { cause: err });
  }
}

async function stageFiles(stage: string, spec: ImageSpec): Promise<void> {
  await mkdir(stage, { recursive: true });
  for (const dir of spec.dirs ?? []) {
    await mkdir(join(stage, dir), { recursive: true });
    if (dir === 'tmp') await chmod(join(stage, dir), 0o1777);
  }
  for (const f of spec.files) {
    await mkdir(dirname(join(stage, f.to)), { recursive: true });
    await copyFile(f.from, join(stage, f.to));
    await chmod(join(stage, f.to), f.mode ?? 0o755);
  }
  for (const t of spec.texts ?? []) {
    await mkdir(dirname(join(stage, t.path)), { recursive: true });
    await writeFile(join(stage, t.path), t.content, { mode: 0o644 });
  }
  for (const l of spec.links ?? []) {
    await mkdir(dirname(join(stage, l.path)), { recursive: true });
    await symlink(l.target, join(stage, l.path));
  }
}
