// npm run chaos -- [--seed S] [--rounds N] [--round-seconds T] [--fault-seconds MIN-MAX] [--faults k1,k2]
//   [--namespaces N] [--max-replicas R] [--min-pods N] [--converge-timeout S] [--quiet-seconds S] [--resync-seconds S]
// A chaos run (harness.ts): prints the seed first (replay a run with --seed), progress on stderr,
// then a table of rounds and invariants and, as its last line, one JSON object with seed, rounds,
// violations (counts per invariant), maxConvergeSeconds and more. Exits 1 when any invariant was
// violated or a fault could not be injected in full, 2 on a usage error, 130/143 when stopped by
// SIGINT/SIGTERM (the test bed removed first).
import { parseArgs } from 'node:util';
import { faultKinds, type FaultKind } from './faults.ts';
import { defaultChaosOptions, reportTable, runChaos } from './harness.ts';
import { randomSeed } from './rng.ts';

const usage = 'usage: npm run chaos -- [--seed S] [--rounds N] [--round-seconds T] [--fault-seconds MIN-MAX] [--faults KIND,...] [--max-faults N] [--namespaces N] [--max-replicas R] [--min-pods N] [--converge-timeout S] [--quiet-seconds S] [--resync-seconds S]';
const d = defaultChaosOptions;
let values;
try {
  ({ values } = parseArgs({
    options: {
      seed: { type: 'string' },
      rounds: { type: 'string', default: String(d.rounds) },
      'round-seconds': { type: 'string', default: String(d.roundSeconds) },
      'fault-seconds': { type: 'string', default: d.faultSeconds.join('-') },
      faults: { type: 'string' },
      'max-faults': { type: 'string', default: String(d.maxFaultsPerRound) },
      namespaces: { type: 'string', default: String(d.namespaces) },
      'max-replicas': { type: 'string', default: String(d.maxReplicas) },
      'min-pods': { type: 'string', default: String(d.minPods) },
      'converge-timeout': { type: 'string', default: String(d.convergeTimeoutSeconds) },
      'quiet-seconds': { type: 'string', default: String(d.quietSeconds) },
      'resync-seconds': { type: 'string', default: String(d.resyncSeconds) },
    },
  }));
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exit(2);
}
const int = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : NaN);
const seed = values.seed === undefined ? randomSeed() : int(values.seed);
const [minFault, maxFault] = (values['fault-seconds'] ?? '').split('-').map(Number);
const faults = values.faults?.split(',').map((f) => f.trim()).filter(Boolean);
const unknown = faults?.filter((f) => !(faultKinds as readonly string[]).includes(f)) ?? [];
const numbers = [seed, int(values.rounds), int(values['round-seconds']), int(values.namespaces), int(values['max-replicas']), int(values['converge-timeout']), int(values['quiet-seconds']), int(values['resync-seconds']), int(values['max-faults']), int(values['min-pods'])];
if (numbers.some((n) => !Number.isInteger(n)) || !(minFault! > 0) || !(maxFault! >= minFault!) || unknown.length > 0 || int(values.namespaces) < 1) {
  console.error(`${unknown.length ? `unknown fault kind(s): ${unknown.join(', ')} (known: ${faultKinds.join(', ')})\n` : ''}${usage}`);
  process.exit(2);
}
console.error(`chaos: seed ${seed} (replay with --seed ${seed})`);
let finished = false;
// SIGINT or SIGTERM removes the test bed and exits 130 or 143; a second one exits at once (the
// bed's processes end with their watchdogs, its folders stay).
const stop = new AbortController();
let stoppedBy: NodeJS.Signals | undefined;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stoppedBy) process.exit(sig === 'SIGINT' ? 130 : 143);
    stoppedBy = sig;
    stop.abort();
  });
}
runChaos({
  ...d,
  seed,
  signal: stop.signal,
  rounds: int(values.rounds),
  roundSeconds: int(values['round-seconds']),
  faultSeconds: [minFault!, maxFault!],
  maxFaultsPerRound: int(values['max-faults']),
  ...(faults ? { faults: faults as FaultKind[] } : {}),
  namespaces: int(values.namespaces),
  maxReplicas: int(values['max-replicas']),
  minPods: int(values['min-pods']),
  convergeTimeoutSeconds: int(values['converge-timeout']),
  quietSeconds: int(values['quiet-seconds']),
  resyncSeconds: int(values['resync-seconds']),
  say: (line) => console.error(line),
}).then((report) => {
  finished = true;
  console.log(reportTable(report));
  const { perRound: _perRound, ...summary } = report;
  console.log(JSON.stringify(summary));
  const broken = Object.values(report.violations).reduce((s, n) => s + n, 0);
  const failed = Object.values(report.faultsFailed).reduce((s, n) => s + n, 0);
  if (failed > 0) console.error(`chaos: ${failed} fault(s) could not be injected in full (faultsFailed): the run does not count; fix the harness and replay the seed`);
  process.exit(broken > 0 || failed > 0 ? 1 : 0);
}, (err: unknown) => {
  finished = true;
  if (stoppedBy) {
    console.error(`chaos: stopped by ${stoppedBy}; the test bed is removed`);
    process.exit(stoppedBy === 'SIGINT' ? 130 : 143);
  }
  console.error(err);
  process.exit(1);
});
process.on('exit', () => {
  if (!finished) {
    console.error('chaos: stopped before finishing (a wait could no longer end)');
    process.exitCode = 1;
  }
});
