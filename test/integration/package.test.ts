// vnest as a user installs it: `npm pack` of this checkout, `npm i -g` of the tarball into a clean
// prefix, and the installed `vnest` run by Node 24 alone (no checkout, no development tools on
// PATH), its bundled chart installing a tenant; and the chart packaged with `helm package`,
// versioned with the app.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { HostCluster } from '../../src/local/host-cluster.ts';
import { kit, ports } from '../helpers.ts';

const repo = resolve(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string>; devDependencies: Record<string, string> };

interface Result { code: number; stdout: string; stderr: string }

function exec(file: string, args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv; timeout?: number }): Promise<Result> {
  return new Promise((res) => {
    execFile(file, args, { cwd: opts.cwd ?? tmpdir(), env: opts.env, timeout: opts.timeout ?? 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Every file under `dir`, relative to it. */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

/** This environment without what npm and the checkout put in it (npm_* settings, PATH). */
function cleanEnv(path: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') && !['INIT_CWD', 'VNEST_KIT_DIR', 'VNEST_CHART', 'NODE_OPTIONS'].includes(k)));
  return { ...env, PATH: path, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', ...extra };
}

describe('the npm package, installed with npm i -g', () => {
  let tmp = '';
  let prefix = '';
  let installed = '';
  let nodeOnly = '';
  let tarball = '';
  const vnest = (args: string[], extra: NodeJS.ProcessEnv = {}, path = `${nodeOnly}:/usr/bin:/bin`) => exec(join(prefix, 'bin', 'vnest'), args, { env: cleanEnv(path, extra) });

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'vnest-package-'));
    // A folder with Node 24 in it and nothing else: the one thing the installed vnest may use.
    nodeOnly = join(tmp, 'node-bin');
    mkdirSync(nodeOnly);
    symlinkSync(realpathSync(join(repo, 'node_modules', '.bin', 'node')), join(nodeOnly, 'node'));
    // npm pack builds dist/ (prepack) with the checkout's tools.
    const packed = await exec('npm', ['pack', '--pack-destination', tmp], { cwd: repo, env: cleanEnv(process.env.PATH ?? '') });
    expect(packed.code, packed.stderr).toBe(0);
    tarball = join(tmp, `vnest-${pkg.version}.tgz`);
    expect(existsSync(tarball)).toBe(true);
    prefix = join(tmp, 'prefix');
    const install = await exec('npm', ['i', '-g', '--prefix', prefix, tarball], { env: cleanEnv(`${nodeOnly}:/usr/bin:/bin`) });
    expect(install.code, install.stderr).toBe(0);
    installed = join(prefix, 'lib', 'node_modules', 'vnest');
  });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('runs vnest --version on Node 24', async () => {
    const res = await vnest(['--version']);
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(res.stdout.trim()).toBe(pkg.version);
  });

  it('runs vnest create --help', async () => {
    const res = await vnest(['create', '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Usage: vnest create [options] <name>');
    expect(res.stdout).toContain('--kubeconfig <path>');
  });

  it('prints shell completion', async () => {
    const res = await vnest(['completion', 'bash']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('complete -F _vnest vnest');
    expect((await vnest(['completion', 'tcsh'])).code).toBe(2);
  });

  it('holds compiled JavaScript, the chart and the kit recipe, and no TypeScript source', () => {
    const all = files(installed).filter((f) => !f.startsWith('node_modules/'));
    expect(all.filter((f) => f.endsWith('.ts'))).toEqual([]);
    expect(all.filter((f) => /^(src|test)\//.test(f) || f.startsWith('hack/bench/'))).toEqual([]);
    for (const f of ['bin/vnest.js', 'dist/cli/main.js', 'dist/cli/program.js', 'charts/vnest/Chart.yaml', 'charts/vnest/values.schema.json', 'hack/build-kit.sh', 'hack/versions.env', 'hack/tools/kube/go.sum', 'README.md', 'package.json']) {
      expect(all, f).toContain(f);
    }
    // Every package the compiled code imports is a run-time dependency or part of Node.
    const builtins = new Set(builtinModules);
    const importRe = /^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*'([^']+)'|^\s*import\s*'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/gm;
    const imported = new Set(all.filter((f) => f.endsWith('.js'))
      .flatMap((f) => [...readFileSync(join(installed, f), 'utf8').matchAll(importRe)].map((m) => m[1] ?? m[2] ?? m[3] ?? '')));
    expect(imported).toContain('@kubernetes/client-node');
    const packages = [...imported].filter((s) => !s.startsWith('.') && !s.startsWith('node:') && !builtins.has(s)).map((s) => s.split('/').slice(0, s.startsWith('@') ? 2 : 1).join('/'));
    expect(packages.filter((p) => !(p in pkg.dependencies))).toEqual([]);
  });

  it('installed no development dependency that no run-time package needs', () => {
    const modules = join(installed, 'node_modules');
    const manifests = files(modules).filter((f) => /(^|\/)package\.json$/.test(f) && !f.includes('/test/'))
      .map((f) => JSON.parse(readFileSync(join(modules, f), 'utf8')) as { name?: string; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; peerDependencies?: Record<string, string> });
    const neededBy = (name: string) => manifests.filter((m) => m.name !== name && (name in (m.dependencies ?? {}) || name in (m.optionalDependencies ?? {}) || name in (m.peerDependencies ?? {}))).map((m) => m.name);
    const present = Object.keys(pkg.devDependencies).filter((d) => existsSync(join(modules, d, 'package.json')));
    // (@kubernetes/client-node lists @types/node among its dependencies.)
    expect(present.filter((d) => neededBy(d).length === 0)).toEqual([]);
    for (const tool of ['typescript', 'vitest', 'eslint', 'testcontainers', 'node']) expect(existsSync(join(modules, tool)), tool).toBe(false);
  });

  it('tells an old Node what it needs', async () => {
    // The machine's own node, when it is older than 24 (system Node 20 here).
    const old = await exec('/usr/bin/node', ['--version'], { env: cleanEnv('/usr/bin:/bin') });
    if (old.code !== 0 || Number(old.stdout.trim().replace(/^v/, '').split('.')[0]) >= 24) return;
    const res = await exec('/usr/bin/node', [join(installed, 'bin', 'vnest.js'), '--version'], { env: cleanEnv('/usr/bin:/bin') });
    expect(res.code).toBe(5);
    expect(res.stderr.trim()).toBe(`vnest needs Node 24 or newer; this is Node ${old.stdout.trim().replace(/^v/, '')}. Install Node 24 LTS and run vnest with it.`);
  });

  it('finds the kit with its own hack/build-kit.sh, and says what to do when it cannot', async () => {
    const k = await kit();
    const found = await exec('bash', [join(installed, 'hack', 'build-kit.sh'), '--print-dir'], { env: cleanEnv(process.env.PATH ?? '') });
    expect(found.code, found.stderr).toBe(0);
    expect(found.stdout.trim()).toBe(k.dir);
    // A machine whose Go is too old: vnest up fails at once, before starting anything.
    const fakeGo = join(tmp, 'old-go');
    mkdirSync(fakeGo);
    writeFileSync(join(fakeGo, 'go'), '#!/bin/sh\n[ "$1 $2" = "env GOVERSION" ] && echo go1.20.0 && exit 0\nexit 1\n');
    chmodSync(join(fakeGo, 'go'), 0o755);
    const up = await vnest(['up', `--state-dir=${join(tmp, 'state')}`], { VNEST_KIT_CACHE: join(tmp, 'kit-cache') }, `${nodeOnly}:${fakeGo}:/usr/bin:/bin`);
    expect(up.code).toBe(5);
    expect(up.stderr).toContain('build-kit: error: Go 1.20.0 is too old');
    expect(up.stderr).toContain('Install Go 1.26.8 or later and run this again');
    expect(up.stderr).toContain('$VNEST_KIT_DIR');
    expect(existsSync(join(tmp, 'state', 'state.json'))).toBe(false);
  });

  it('installs a tenant with its bundled chart, versioned with the app', async () => {
    const k = await kit();
    const host = await HostCluster.start({ kit: k, ports, nodes: 1, name: 'package-host' });
    try {
      const env = { VNEST_HELM: k.bin.helm, VNEST_KUBECTL: k.bin.kubectl };
      const kc = `--kubeconfig=${host.kubeconfigPath}`;
      const created = await vnest(['create', 'packaged', kc, '--set', 'storage.persistence=false', '--set', 'coredns.enabled=false', '--timeout=120'], env);
      expect(created.code, created.stderr).toBe(0);
      expect(created.stdout).toContain('tenant packaged is ready');
      const releases = await exec(k.bin.helm, ['list', '-n', 'packaged', '-o', 'json', `--kubeconfig=${host.kubeconfigPath}`], { env: cleanEnv(process.env.PATH ?? '') });
      expect(JSON.parse(releases.stdout)).toMatchObject([{ name: 'packaged', chart: `vnest-${pkg.version}`, app_version: pkg.version }]);
      const deleted = await vnest(['delete', 'packaged', kc], env);
      expect(deleted.code, deleted.stderr).toBe(0);
    } finally {
      await host.stop();
    }
  });
});

describe('the chart, packaged with helm package', () => {
  let out = '';
  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('has the app version and renders', async () => {
    const k = await kit();
    out = mkdtempSync(join(tmpdir(), 'vnest-chart-'));
    const env = cleanEnv(process.env.PATH ?? '', { VNEST_HELM: k.bin.helm });
    const packaged = await exec(process.execPath, [join(repo, 'hack', 'package-chart.ts'), '--out', out], { cwd: repo, env });
    expect(packaged.code, packaged.stderr).toBe(0);
    const tgz = join(out, `vnest-${pkg.version}.tgz`);
    expect(packaged.stdout.trim()).toBe(tgz);
    const chartYaml = await exec('tar', ['-xzOf', tgz, 'vnest/Chart.yaml'], { env });
    expect(parse(chartYaml.stdout)).toMatchObject({ name: 'vnest', version: pkg.version, appVersion: pkg.version });
    const rendered = await exec(k.bin.helm, ['template', 'team-a', tgz, '--namespace', 'team-a'], { env });
    expect(rendered.code, rendered.stderr).toBe(0);
    const docs = parseAllDocuments(rendered.stdout).map((d) => d.toJS() as { kind: string; spec?: { template: { spec: { containers: Array<{ name: string; image: string }> } } } });
    const sts = docs.find((d) => d.kind === 'StatefulSet');
    expect(sts?.spec?.template.spec.containers.find((c) => c.name === 'syncer')?.image).toBe(`ghcr.io/vnest-dev/vnest:${pkg.version}`);
  });
});
