// npm run conformance -- [--real-node] [--focus REGEX] [--procs N] [--timeout MINUTES] [--out DIR]
// Runs the conformance subset (subset.txt, tests marked `run`) of the pinned upstream e2e binary
// against a host cluster and then against a tenant of it, both started here in local mode with
// folders and ports of their own. With --real-node (root), the host has one real node instead of
// simulated ones, with stand-ins of the suite's test images (images.ts), and the tests marked
// `container`, `loopback` and `webhook` run instead. Prints progress on stderr, then a side-by-side table and, as its
// last line, one JSON object: tests, hostPassed, tenantPassed, tenantOnlyFailures (names),
// hostFailures (names), seconds and the reports' folder. Exits 0 when the tenant passes every test
// the host passes, 1 when it does not (or the run could not be made), 2 on a usage error.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadKit } from '../../src/local/kit.ts';
import type { NodeImage } from '../../src/local/node-images.ts';
import { buildE2e, compare, kubernetesSource, listConformanceTests, readSubset, runE2e, startClusters, subsetFile, table, testsToRun } from './e2e.ts';
import { e2eImages } from './images.ts';

const usage = 'usage: npm run conformance -- [--real-node] [--focus REGEX] [--procs N] [--timeout MINUTES] [--out DIR]';
let values;
try {
  ({ values } = parseArgs({
    options: {
      focus: { type: 'string' },
      procs: { type: 'string', default: '4' },
      timeout: { type: 'string', default: '45' },
      out: { type: 'string' },
      'real-node': { type: 'boolean', default: false },
    },
  }));
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exit(2);
}
const procs = Number(values.procs);
const focusText = values.focus;
const timeoutMinutes = Number(values.timeout);
let focus: RegExp | undefined;
try {
  focus = focusText === undefined ? undefined : new RegExp(focusText);
} catch (err) {
  console.error(`--focus is not a regular expression: ${(err as Error).message}\n${usage}`);
  process.exit(2);
}
if (!Number.isInteger(procs) || procs < 1 || !(timeoutMinutes > 0)) {
  console.error(`--procs must be a whole number of at least 1 and --timeout a number of minutes above 0\n${usage}`);
  process.exit(2);
}

const realNode = values['real-node'];
if (realNode && process.getuid?.() !== 0) {
  console.error('--real-node runs containerd, a kubelet and kube-proxy, which need root: run it as root (sudo)');
  process.exit(2);
}

const say = (line: string) => console.error(`conformance: ${line}`);
const out = values.out !== undefined ? resolve(values.out) : mkdtempSync(join(tmpdir(), 'vnest-conformance-'));

async function main(): Promise<number> {
  const e2e = await buildE2e();
  const listed = await listConformanceTests(e2e);
  let tests = testsToRun(readSubset(readFileSync(subsetFile, 'utf8')), listed, realNode ? ['container', 'loopback', 'webhook'] : ['run']);
  if (focus) tests = tests.filter((t) => focus.test(t));
  if (tests.length === 0) {
    say(`no test of the subset matches --focus ${focusText}`);
    return 2;
  }
  say(`${listed.length} conformance tests, ${tests.length} to run; reports and logs in ${out}`);
  const logger = pino({ level: 'info' }, pino.destination({ dest: join(out, 'local-mode.log'), mkdir: true, sync: false }));
  let images: NodeImage[] | undefined;
  if (realNode) {
    say('building the stand-ins of the e2e test images (the first time: a few minutes) ...');
    images = await e2eImages(await loadKit(), e2e.dir, await kubernetesSource(), say);
  }
  say(`starting a host cluster${realNode ? ' with a real node' : ''} and a tenant (local mode, private state) ...`);
  const clusters = await startClusters(join(out, 'state'), logger, images ? { realNode: { images } } : {});
  // Interrupted (Ctrl-C): stop the clusters, so their folders go too (their processes would end anyway).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      say(`${signal}: stopping the host and the tenant ...`);
      void clusters.stop().finally(() => process.exit(1));
    });
  }
  try {
    const common = { e2e, kubectl: clusters.kubectl, tests, procs, timeoutSeconds: Math.round(timeoutMinutes * 60) };
    say(`running ${tests.length} tests against the host (${procs} in parallel, at most ${timeoutMinutes} min) ...`);
    const host = await runE2e({ ...common, kubeconfig: clusters.hostKubeconfig, reportDir: join(out, 'host') });
    say(`host: done in ${Math.round(host.seconds)} s${host.killed ? ' (ended by the deadline)' : ''}`);
    say(`running ${tests.length} tests against the tenant ...`);
    const tenant = await runE2e({ ...common, kubeconfig: clusters.tenantKubeconfig, reportDir: join(out, 'tenant') });
    say(`tenant: done in ${Math.round(tenant.seconds)} s${tenant.killed ? ' (ended by the deadline)' : ''}`);
    const result = compare(host.results, tenant.results);
    console.log(table(host.results, tenant.results));
    console.log(JSON.stringify({ ...result, seconds: { host: Math.round(host.seconds), tenant: Math.round(tenant.seconds) }, reports: out }));
    return result.tenantOnlyFailures.length === 0 ? 0 : 1;
  } finally {
    say('stopping the host and the tenant ...');
    await clusters.stop();
  }
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
