import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { nodeVersionProblem } from './node-version.ts';
import { buildProgram, packageVersion, run } from './program.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** The program with its output (its own and every command's) captured. */
function captured() {
  const program = buildProgram();
  const out = { stdout: '', stderr: '' };
  for (const c of [program, ...program.commands]) c.configureOutput({ writeOut: (s) => { out.stdout += s; }, writeErr: (s) => { out.stderr += s; } });
  return { program, out };
}

describe('vnest --version', () => {
  it('prints the package version', async () => {
    expect(packageVersion()).toBe(pkg.version);
    const { program, out } = captured();
    expect(await run(['node', 'vnest', '--version'], program)).toBe(0);
    expect(out.stdout.trim()).toBe(pkg.version);
  });

  it('is the version of the chart and of its default syncer image', () => {
    const chart = parse(readFileSync(new URL('../../charts/vnest/Chart.yaml', import.meta.url), 'utf8')) as { version: string; appVersion: string };
    expect(chart.version).toBe(pkg.version);
    expect(chart.appVersion).toBe(pkg.version);
  });
});

describe('exit codes', () => {
  it("keep the exit code a command leaves (connect -- cmd passes its command's on)", async () => {
    const program = buildProgram();
    program.command('probe-exit').action(() => {
      process.exitCode = 5;
    });
    try {
      expect(await run(['node', 'vnest', 'probe-exit'], program)).toBe(5);
    } finally {
      process.exitCode = undefined;
    }
  });
});

describe('usage errors', () => {
  it('exit 2 and point at the command\'s help', async () => {
    for (const argv of [
      ['create'], ['create', 'a', '--bogus'], ['bogus'], ['list', '-o', 'xml'], ['up', '--nodes', '0'],
      ['connect', 'a', '--service-account', 'A/b'], ['connect', 'a', '--service-account', 'a/b/c'], ['connect', 'a', '--service-account', 'ci/x', '--token-expiration', '60'],
      ['connect', 'a', '--service-account', 'ci/x', '--cluster-role', 'a/b'],
    ]) {
      const { program, out } = captured();
      expect(await run(['node', 'vnest', ...argv], program), argv.join(' ')).toBe(2);
      expect(out.stderr).toMatch(/\(run "vnest( \w+)? --help" for usage\)/);
    }
  });

  it('refuses --cluster-role and --token-expiration without --service-account, before reaching the host', async () => {
    for (const extra of [['--cluster-role', 'edit'], ['--token-expiration', '3600']]) {
      const { program } = captured();
      const errors: string[] = [];
      const original = console.error;
      console.error = (msg: string) => void errors.push(msg);
      try {
        expect(await run(['node', 'vnest', 'connect', 'a', '--kubeconfig', '/nonexistent', ...extra], program)).toBe(2);
      } finally {
        console.error = original;
      }
      expect(errors.join('\n')).toContain('go with --service-account [NAMESPACE/]NAME');
    }
  });

  it('help exits 0', async () => {
    const { program, out } = captured();
    expect(await run(['node', 'vnest', 'create', '--help'], program)).toBe(0);
    expect(out.stdout).toContain('Usage: vnest create [options] <name>');
  });
});

describe('nodeVersionProblem', () => {
  it('accepts Node 24 and newer', () => {
    expect(nodeVersionProblem('24.0.0')).toBeUndefined();
    expect(nodeVersionProblem('v25.1.0')).toBeUndefined();
  });

  it('says what is needed and what this is', () => {
    expect(nodeVersionProblem('20.20.2')).toBe('vnest needs Node 24 or newer; this is Node 20.20.2. Install Node 24 LTS and run vnest with it.');
    expect(nodeVersionProblem('v22.18.0')).toContain('this is Node 22.18.0');
  });
});
