import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compare, readReport, readSubset, subsetFile, table, testsToRun, type TestResult } from './e2e.ts';

describe('subset.txt', () => {
  it('reads verdicts and names, skipping comments', () => {
    const s = readSubset('# comment\nrun       [sig-a] one [Conformance]\n\ncontainer [sig-b] two [Conformance]  \n');
    expect([...s]).toEqual([['[sig-a] one [Conformance]', 'run'], ['[sig-b] two [Conformance]', 'container']]);
  });

  it('refuses an unknown verdict and a test named twice, saying which line', () => {
    expect(() => readSubset('maybe [sig-a] one')).toThrow(/line 1: expected "<verdict> <test name>"/);
    expect(() => readSubset('run x\nslow x')).toThrow(/line 2: "x" is listed twice/);
  });

  it('runs the tests marked run, and refuses a binary test the file does not classify', () => {
    const s = readSubset('run a\nserial b\n');
    expect(testsToRun(s, ['a', 'b'])).toEqual(['a']);
    expect(testsToRun(readSubset('run a\ncontainer b\nloopback c\n'), ['a', 'b', 'c'], ['container', 'loopback'])).toEqual(['b', 'c']);
    expect(() => testsToRun(s, ['a', 'b', 'c'])).toThrow(/1 conformance test\(s\) that hack\/conformance\/subset.txt does not list; add each with a verdict:\n {2}c/);
    expect(() => testsToRun(s, ['a'])).toThrow(/lists 1 test\(s\) the e2e binary does not have; remove them:\n {2}b/);
  });

  it('the repository file parses, and every left-out test has a reason other than run', () => {
    const s = readSubset(readFileSync(subsetFile, 'utf8'));
    expect(s.size).toBeGreaterThan(400);
    expect([...s.values()].filter((v) => v === 'run').length).toBeGreaterThan(100);
  });
});

describe('reports', () => {
  const spec = (texts: string[], leaf: string, state: string, message?: string) => ({
    ContainerHierarchyTexts: texts, LeafNodeText: leaf, LeafNodeType: 'It', State: state, RunTime: 2_340_000_000,
    ...(message ? { Failure: { Message: `${message}\nmore` } } : {}),
  });

  it('maps ginkgo JSON spec reports to outcomes by full name; tests not in the report are absent', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vnest-report-'));
    const path = join(dir, 'report.json');
    writeFileSync(path, JSON.stringify([{ SpecReports: [
      spec(['[sig-a] A', ''], 'works [Conformance]', 'passed'),
      spec(['[sig-a] A'], 'fails [Conformance]', 'failed', 'boom'),
      spec(['[sig-a] A'], 'hangs [Conformance]', 'timedout'),
      { ...spec([], 'BeforeSuite', 'passed'), LeafNodeType: 'SynchronizedBeforeSuite' },
    ] }]));
    const r = readReport(path, ['[sig-a] A works [Conformance]', '[sig-a] A fails [Conformance]', '[sig-a] A hangs [Conformance]', '[sig-a] A missing']);
    const missing = readReport(join(dir, 'none.json'), ['x']);
    rmSync(dir, { recursive: true, force: true });
    expect(Object.fromEntries(r)).toEqual({
      '[sig-a] A works [Conformance]': { outcome: 'passed', seconds: 2.3 },
      '[sig-a] A fails [Conformance]': { outcome: 'failed', seconds: 2.3, message: 'boom' },
      '[sig-a] A hangs [Conformance]': { outcome: 'timedout', seconds: 2.3 },
    });
    expect(missing.size).toBe(0);
  });

  it('compares host and tenant: tenant-only failures are those the host passes', () => {
    const r = (outcome: TestResult['outcome']): TestResult => ({ outcome, seconds: 1 });
    const host = new Map([['a', r('passed')], ['b', r('passed')], ['c', r('failed')]]);
    const tenant = new Map([['a', r('passed')], ['b', { ...r('failed'), message: 'why' }], ['c', r('failed')]]);
    expect(compare(host, tenant)).toEqual({ tests: 3, hostPassed: 2, tenantPassed: 1, tenantOnlyFailures: ['b'], hostFailures: ['c'] });
    const lines = table(host, tenant).split('\n');
    expect(lines[0]).toMatch(/^HOST +TENANT +TEST$/);
    expect(lines.slice(1).map((l) => l.trim())).toEqual(['failed 1s       failed 1s       c', 'passed 1s       failed 1s       b', 'tenant: why', 'passed 1s       passed 1s       a']);
  });
});
