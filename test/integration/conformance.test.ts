// A fast slice of upstream Kubernetes conformance (the pinned e2e binary, hack/build-e2e.sh) against
// a tenant in local mode, through its front door: watches, discovery, CRDs and a Deployment's
// lifecycle must all pass; then a few tests that run containers, against a tenant whose host has a
// real node (the e2e images' stand-ins, hack/conformance/images.ts). `npm run conformance` runs the
// whole subset against host and tenant.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildE2e, kubernetesSource, listConformanceTests, readSubset, runE2e, startClusters, subsetFile, testsToRun, type Clusters, type E2e } from '../../hack/conformance/e2e.ts';
import { e2eImages } from '../../hack/conformance/images.ts';
import { loadKit } from '../../src/local/kit.ts';

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

// Containers for real: service variables, the kubernetes Service's endpoints and links in proxied
// pages (each once failed only in the tenant), envFrom, exec over websockets, DNS and a Service's
// traffic.
const containerSlice = [
  '[sig-node] Pods should contain environment variables for services [Conformance] [NodeConformance]',
  '[sig-network] API Server should have Endpoints and EndpointSlices pointing to API Server [Conformance]',
  '[sig-node] ConfigMap should be consumable via the environment [Conformance] [NodeConformance]',
  '[sig-node] Pods should support remote command execution over websockets [Conformance] [NodeConformance]',
  '[sig-network] DNS should provide DNS for services [Conformance]',
  '[sig-network] Services should serve a basic endpoint from pods [Conformance]',
  '[sig-network] Proxy version v1 should proxy through a service and a pod [Conformance]',
];

describe.skipIf(process.getuid?.() !== 0)('conformance slice with running containers, against a tenant on a real node', () => {
  let dir: string;
  let e2e: E2e;
  let clusters: Clusters | undefined;
  let subset: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vnest-conformance-node-test-'));
    e2e = await buildE2e();
    const logger = pino({ level: process.env.VNEST_TEST_LOG ?? 'silent' });
    subset = testsToRun(readSubset(await readFile(subsetFile, 'utf8')), await listConformanceTests(e2e), ['container', 'loopback']);
    const images = await e2eImages(await loadKit(), e2e.dir, await kubernetesSource(), () => undefined);
    clusters = await startClusters(join(dir, 'state'), logger, { realNode: { images } });
  }, 1_200_000);

  afterAll(async () => {
    await clusters?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('passes them in the tenant', async () => {
    for (const t of containerSlice) expect(subset, 'a slice test must be marked container or loopback').toContain(t);
    const run = await runE2e({ e2e, kubeconfig: clusters!.tenantKubeconfig, kubectl: clusters!.kubectl, tests: containerSlice, procs: 3, timeoutSeconds: 600, reportDir: join(dir, 'tenant') });
    const failed = [...run.results].filter(([, r]) => r.outcome !== 'passed').map(([name, r]) => `${r.outcome}: ${name}${r.message ? `\n    ${r.message}` : ''}`);
    expect(failed, `reports in ${run.reportDir}`).toEqual([]);
    expect(run.results.size).toBe(containerSlice.length);
  }, 720_000);
});
