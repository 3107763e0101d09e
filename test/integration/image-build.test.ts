// The vnest image, built from the project's Dockerfile with BuildKit (on a stand-in for its
// node:24-bookworm-slim base): the config the Dockerfile gives, production dependencies only, and a
// build that leaves nothing behind. Running it for real is test/integration/real-node-chart.test.ts.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildVnestImage, inspectImage, vnestImageRef } from '../../src/local/image-build.ts';
import { kit } from '../helpers.ts';

const run = promisify(execFile);

describe('the vnest image', async () => {
  const k = await kit();
  const cgroupsBefore = new Set(readdirSync('/sys/fs/cgroup/pids').filter((d) => d.startsWith('vnest-build-')));
  // Another build may run beside this file (or a killed one may have left its folder): only what
  // appeared while this file ran counts.
  const runBefore = new Set(readdirSync('/run').filter((d) => d.startsWith('vnest-build-')));

  it('is built from the Dockerfile as it is: non-root, its entrypoint, production dependencies only', async () => {
    const image = await buildVnestImage({ kit: k });
    expect(image.ref).toBe(await vnestImageRef());
    const { config, layers, compressedBytes, sizeBytes } = await inspectImage(image.tarball);
    expect(config.config.User).toBe('65532:65532');
    expect(config.config.Entrypoint).toEqual(['node', '/opt/vnest/bin/vnest.js']);
    expect(config.config.WorkingDir).toBe('/opt/vnest');
    expect(config.config.Env).toContain('NODE_ENV=production');
    expect(config.config.Env).toContain('MALLOC_ARENA_MAX=2');
    expect(config.config.Env).toContain('NODE_OPTIONS=--max-semi-space-size=4');
    const files = new Set<string>();
    for (const layer of layers) {
      const { stdout } = await run('sh', ['-c', 'tar -xOf "$0" "$1" | tar -tzf -', image.tarball, layer], { maxBuffer: 256 << 20 });
      for (const f of stdout.split('\n')) files.add(f.replace(/^\.\//, ''));
    }
    expect(files).toContain('opt/vnest/dist/cli/main.js');
    expect(files).toContain('opt/vnest/charts/vnest/Chart.yaml');
    expect(files).toContain('opt/vnest/node_modules/@kubernetes/client-node/package.json');
    expect(files).toContain('usr/local/bin/node');
    for (const dev of ['typescript', 'vitest', 'eslint', 'node']) expect(files, dev).not.toContain(`opt/vnest/node_modules/${dev}/package.json`);
    expect([...files].some((f) => f.startsWith('opt/vnest/src/'))).toBe(false);
    console.log(`vnest image: ${(sizeBytes / 1e6).toFixed(0)} MB unpacked, ${(compressedBytes / 1e6).toFixed(0)} MB compressed`);
    expect(sizeBytes).toBe(image.sizeBytes);
  }, 1_200_000);

  it('leaves no build sandbox behind: cgroups, links, mounts, sockets', () => {
    expect(readdirSync('/sys/fs/cgroup/pids').filter((d) => d.startsWith('vnest-build-') && !cgroupsBefore.has(d))).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('/.buildkit-'))).toEqual([]);
    const runLeft = readdirSync('/run').filter((d) => d.startsWith('vnest-build-') && !runBefore.has(d));
    expect(runLeft.filter((d) => !existsSync(`/run/vnest/real-nodes/${d.slice('vnest-build-'.length)}`))).toEqual([]);
  });
});
