// The container image's contents, checked without a Docker engine: the same steps the Dockerfile
// takes (build dist, production dependencies only, its files) in a folder, then its entrypoint.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

describe('container image contents', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vnest-image-'));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('builds dist, installs production dependencies only, and runs the entrypoint the Dockerfile names', async () => {
    const dockerfile = await readFile(join(root, 'Dockerfile'), 'utf8');
    const entrypoint = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    expect(entrypoint).toEqual(['node', '/opt/vnest/bin/vnest.js']);
    expect(dockerfile).toMatch(/^USER 65532:65532$/m);
    expect(dockerfile).toMatch(/^FROM node:24-/m);
    await run('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', join(dir, 'dist')], { cwd: root });
    for (const f of ['package.json', 'package-lock.json', 'bin', 'charts']) await cp(join(root, f), join(dir, f), { recursive: true });
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir, timeout: 300_000 });
    const { stdout: ls } = await run('npm', ['ls', '--omit=dev', '--depth=0', '--parseable'], { cwd: dir });
    expect(ls).not.toMatch(/vitest|typescript|eslint|testcontainers/);
    // The image runs on Node 24: here the `node` devDependency's binary stands in for it.
    const node = process.execPath;
    const version = await run(node, [join(dir, 'bin', 'vnest.js'), '--version']);
    expect(version.stdout.trim()).toBe(JSON.parse(await readFile(join(root, 'package.json'), 'utf8')).version);
    const help = await run(node, [join(dir, 'bin', 'vnest.js'), 'syncer', '--help']);
    expect(help.stdout).toContain('--virtual-kubeconfig');
    // A misconfigured syncer says so and exits 2, from the compiled code.
    const bad = await run(node, [join(dir, 'bin', 'vnest.js'), 'syncer'], { cwd: dir }).catch((e: { code: number; stderr: string }) => e);
    expect((bad as { code: number }).code).toBe(2);
  }, 600_000);
});
