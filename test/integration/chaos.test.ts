// The chaos run's CI variant: 3 rounds of faults over a small workload (hack/chaos/harness.ts), and
// not one invariant may be broken. The seed is random unless VNEST_CHAOS_SEED is set; it is printed
// first, so a failure replays with `npm run chaos -- --seed S --rounds 3 ...` (the options below).
import { describe, expect, it } from 'vitest';
import { randomSeed } from '../../hack/chaos/rng.ts';
import { defaultChaosOptions, reportTable, runChaos } from '../../hack/chaos/harness.ts';
import { kit } from '../helpers.ts';

describe('chaos (CI variant)', () => {
  it('loses, duplicates and leaves behind nothing through 3 rounds of faults', async () => {
    const seed = process.env.VNEST_CHAOS_SEED ? Number(process.env.VNEST_CHAOS_SEED) : randomSeed();
    console.error(`chaos: seed ${seed} (replay: npm run chaos -- --seed ${seed} --rounds 3 --round-seconds 12 --fault-seconds 2-6 --namespaces 1 --max-replicas 3 --quiet-seconds 3)`);
    const lines: string[] = [];
    const report = await runChaos({
      ...defaultChaosOptions,
      seed, rounds: 3, roundSeconds: 12, faultSeconds: [2, 6], namespaces: 1, maxReplicas: 3, quietSeconds: 3, convergeTimeoutSeconds: 240,
      kit: await kit(),
      say: (line) => {
        lines.push(line);
        console.error(line);
      },
    });
    console.error(reportTable(report));
    const broken = Object.fromEntries(Object.entries(report.violations).filter(([, n]) => n > 0));
    expect(broken, `seed ${seed}:\n${lines.slice(-40).join('\n')}`).toEqual({});
    expect(report.perRound).toHaveLength(3);
    expect(report.podsCreated).toBeGreaterThan(0);
  }, 1_200_000);
});
