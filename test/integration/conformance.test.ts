// A fast slice of upstream Kubernetes conformance (the pinned e2e binary, hack/build-e2e.sh) against
// a tenant in local mode, through its front door: watches, discovery, CRDs and a Deployment's
// lifecycle must all pass. `npm run conformance` runs the whole subset against host and tenant.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildE2e, listConformanceTests, readSubset, runE2e, startClusters, subsetFile, testsToRun, type Clusters, type E2e } from '../../hack/conformance/e2e.ts';

const slice = /^\[sig-api-machinery\] (Watchers |Discovery |AggregatedDiscovery should support aggregated discovery interface \[|CustomResourceDefinition resources )|^\[sig-apps\] Deployment should run the lifecycle of a Deployment /;

describe('conformance slice against a tenant', () => {
  let dir: string;
  let e2e: E2e;
  let clusters: Clusters | undefined;
  let subset: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vnest-conformance-test-'));
    e2e = await buildE2e();
    const logger = pino({ level: process.env.VNEST_TEST_LOG ?? 'silent' });
    [subset, clusters] = await Promise.all([
      listConformanceTests(e2e).then(async (listed) => testsToRun(readSubset(await readFile(subsetFile, 'utf8')), listed)),
      startClusters(join(dir, 'state'), logger),
    ]);
  }, 600_000);

  afterAll(async () => {
    await clusters?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('classifies every conformance test of the binary in subset.txt, and the slice is in the subset', () => {
    // testsToRun (in beforeAll) throws on a test the file does not list.
    expect(subset.length).toBeGreaterThan(100);
    expect(subset.filter((t) => slice.test(t)).length).toBe(14);
  });

  it('passes watches, discovery, CRDs and a Deployment lifecycle in the tenant', async () => {
    const tests = subset.filter((t) => slice.test(t));
    const run = await runE2e({ e2e, kubeconfig: clusters!.tenantKubeconfig, kubectl: clusters!.kubectl, tests, procs: 2, timeoutSeconds: 600, reportDir: join(dir, 'tenant') });
    const failed = [...run.results].filter(([, r]) => r.outcome !== 'passed').map(([name, r]) => `${r.outcome}: ${name}${r.message ? `\n    ${r.message}` : ''}`);
    expect(failed, `reports in ${run.reportDir}`).toEqual([]);
    expect(run.results.size).toBe(tests.length);
  }, 720_000);

  it('ends a run at its timeout and reports what did not pass', async () => {
    // A test of the subset that takes about a minute (it waits for watch events).
    const tests = subset.filter((t) => t.includes('CustomResourceDefinition Watch watch on custom resource definition objects'));
    expect(tests).toHaveLength(1);
    const started = Date.now();
    const run = await runE2e({ e2e, kubeconfig: clusters!.tenantKubeconfig, kubectl: clusters!.kubectl, tests, procs: 1, timeoutSeconds: 5, reportDir: join(dir, 'timeout') });
    expect((Date.now() - started) / 1000).toBeLessThan(5 + 70);
    expect(run.results.get(tests[0]!)?.outcome).not.toBe('passed');
  }, 180_000);
});
