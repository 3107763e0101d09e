// Stand-ins for the upstream e2e suite's test images, so its tests that run containers can run on a
// real node offline (`npm run conformance -- --real-node`). Nothing can be pulled here, so each image
// is assembled under the name the suite asks for (test/utils/image/manifest.go of the pinned
// Kubernetes) from what the images hold upstream:
// - agnhost (and kitten and nautilus, its web-server variants): the agnhost program built from the
//   pinned Kubernetes source (hack/build-e2e.sh) on a Debian bookworm root file system with the tools
//   upstream's image adds (bash, curl, dig, nc, ip, socat) and CoreDNS;
// - glibc-dns-testing and nonroot: that Debian root file system (nonroot as user 1234);
// - nginx: Debian's nginx on it, serving /usr/share/nginx/html on port 80 as the nginx image does;
// - busybox: Debian's busybox-static with every applet in /bin, as upstream's image has them, and
//   Debian's bash-static as /bin/sh (busybox 1.35's ash drops variables whose names are no shell
//   names, such as a ConfigMap key `data-1` given by envFrom, which upstream's busybox keeps);
//   nonewprivs: that busybox with the nnp program set-uid.
// Each image's `org.opencontainers.image.version` label says what it really is. Cached beside the
// kit like the node's own images.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Kit } from '../../src/local/kit.ts';
import { buildNodeImages, busyboxImage, nodeImageSpecs, type ImageSpec, type NodeImage } from '../../src/local/node-images.ts';

const run = promisify(execFile);

/** Debian packages of the tools root file system: what agnhost's and glibc-dns-testing's images add, and nginx. */
const toolPackages = ['bash', 'bind9-dnsutils', 'curl', 'iproute2', 'iputils-ping', 'netcat-openbsd', 'nginx', 'procps', 'socat', 'util-linux'];
const recipeVersion = 1;
const registry = 'registry.k8s.io/e2e-test-images';
const bashStatic = '/bin/bash-static';

/** The Debian bookworm root file system with the tools, as a layer tarball (cached). */
async function toolsRootfs(kit: Kit, log: (line: string) => void): Promise<string> {
  const key = createHash('sha256').update(JSON.stringify({ recipeVersion, toolPackages })).digest('hex').slice(0, 16);
  const out = join(kit.dir, 'images', `e2e-rootfs-${key}.tar`);
  if (existsSync(out)) return out;
  await mkdir(join(kit.dir, 'images'), { recursive: true });
  log(`assembling a Debian bookworm root file system for the e2e test images (mmdebstrap: ${toolPackages.join(', ')}) ...`);
  await rm(`${out}.tmp`, { force: true });
  await run('mmdebstrap', ['--variant=minbase', '--quiet', `--include=${toolPackages.join(',')}`,
    ...['man', 'doc', 'locale', 'info'].map((d) => `--dpkgopt=path-exclude=/usr/share/${d}/*`),
    '--format=tar', 'bookworm', `${out}.tmp`], { maxBuffer: 16 << 20 }).catch((err: unknown) => {
    throw new Error(`mmdebstrap could not make the e2e images' root file system (it needs root and Debian's package mirror): ${(err as { stderr?: string }).stderr ?? (err as Error).message}`, { cause: err });
  });
  await rename(`${out}.tmp`, out);
  return out;
}

const fileOf = async (tarball: string, path: string) => (await run('tar', ['-xOf', tarball, `./${path}`], { maxBuffer: 1 << 20 })).stdout;

/**
 * The stand-in images, built or found in the cache. `e2eDir` holds agnhost and nnp
 * (hack/build-e2e.sh); `source` is the pinned Kubernetes source (the module cache's copy), whose
 * test/images folders give the files upstream's images copy in.
 */
export async function e2eImages(kit: Kit, e2eDir: string, source: string, log: (line: string) => void): Promise<NodeImage[]> {
  if (!existsSync(bashStatic)) throw new Error(`${bashStatic} is missing: install Debian's bash-static (sudo bash hack/debian-packages.sh)`);
  const rootfs = await toolsRootfs(kit, log);
  const busybox = (await nodeImageSpecs(kit)).find((s) => s.ref === busyboxImage);
  if (!busybox) throw new Error('the real node\'s busybox image is not among its images');
  // Upstream's agnhost image adds a user and a group that tests look up by name.
  const passwd = `${await fileOf(rootfs, 'etc/passwd')}user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n`;
  const group = `${await fileOf(rootfs, 'etc/group')}user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n`;
  const images = join(source, 'test', 'images');
  const agnhostVersion = 'agnhost built from the pinned Kubernetes source on Debian bookworm';
  const agnhost = (ref: string, aliases: string[] = []): ImageSpec => ({
    ref, aliases, base: [rootfs], version: agnhostVersion,
    files: [
      { from: join(e2eDir, 'agnhost'), to: 'agnhost' },
      { from: kit.node.bin.coredns, to: 'coredns' },
      { from: join(images, 'agnhost', 'porter', 'localhost.crt'), to: 'localhost.crt', mode: 0o644 },
      { from: join(images, 'agnhost', 'porter', 'localhost.key'), to: 'localhost.key', mode: 0o644 },
    ],
    links: [{ path: 'agnhost-2', target: 'agnhost' }],
    texts: [{ path: 'etc/passwd', content: passwd }, { path: 'etc/group', content: group }],
    dirs: ['uploads'],
    entrypoint: ['/agnhost'],
    cmd: ['pause'],
  });
  const webServer = (name: 'kitten' | 'nautilus'): ImageSpec => ({
    ...agnhost(`${registry}/${name}:1.8`),
    files: [...agnhost('').files,
      { from: join(images, name, 'html', `${name}.jpg`), to: `${name}.jpg`, mode: 0o644 },
      { from: join(images, name, 'html', 'data.json'), to: 'data.json', mode: 0o644 }],
    cmd: ['test-webserver'],
  });
  const applets = new Set((busybox.links ?? []).map((l) => l.path.split('/').pop()!));
  for (const shell of ['sh', 'bash']) applets.delete(shell);
  const e2eBusybox: ImageSpec = {
    ...busybox, ref: `${registry}/busybox:1.37.0-2`, aliases: [],
    files: [...busybox.files, { from: bashStatic, to: 'bin/sh' }],
    links: [...[...applets].sort().map((a) => ({ path: `bin/${a}`, target: '/bin/busybox' })), { path: 'bin/bash', target: '/bin/sh' }],
  };
  const nginxSite = 'server {\n  listen 80 default_server;\n  root /usr/share/nginx/html;\n  index index.html index.htm;\n  location / {\n    try_files $uri $uri/ =404;\n  }\n}\n';
  const welcome = '<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head><body><h1>Welcome to nginx!</h1></body></html>\n';
  const specs: ImageSpec[] = [
    agnhost(`${registry}/agnhost:2.66.1`, [`${registry}/agnhost:2.55`]),
    webServer('kitten'),
    webServer('nautilus'),
    { ref: `${registry}/glibc-dns-testing:2.1.1`, base: [rootfs], version: 'Debian bookworm with dnsutils', files: [{ from: kit.node.bin.coredns, to: 'coredns' }], cmd: ['bash'] },
    { ref: `${registry}/nonroot:1.5`, base: [rootfs], version: 'Debian bookworm', files: [], user: '1234', cmd: ['bash'] },
    {
      ref: `${registry}/nginx:1.27.0-2`, aliases: [`${registry}/nginx:1.28.0-2`], base: [rootfs], version: 'Debian bookworm nginx', files: [],
      texts: [{ path: 'etc/nginx/sites-enabled/default', content: nginxSite }, { path: 'usr/share/nginx/html/index.html', content: welcome }],
      links: [{ path: 'var/log/nginx/access.log', target: '/dev/stdout' }, { path: 'var/log/nginx/error.log', target: '/dev/stderr' }],
      cmd: ['nginx', '-g', 'daemon off;'],
    },
    e2eBusybox,
    { ...e2eBusybox, ref: `${registry}/nonewprivs:1.4`, files: [...e2eBusybox.files, { from: join(e2eDir, 'nnp'), to: 'usr/local/bin/nnp', mode: 0o4755 }], cmd: ['nnp'] },
  ];
  return buildNodeImages(kit, specs);
}
