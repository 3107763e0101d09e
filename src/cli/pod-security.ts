// Pod Security Admission labels for a tenant's host namespace. Helm cannot label its release
// namespace, so `vnest create` does: the host then enforces the level the tenant's syncer holds
// tenant pods to, whatever creates pods there (even someone holding the syncer's token).
import { podSecurityLevels, type PodSecurityLevel } from '../translate/policy.ts';

export const podSecurityModes = ['enforce', 'warn', 'audit'] as const;
export type PodSecurityMode = (typeof podSecurityModes)[number];

const labelKey = (mode: PodSecurityMode) => `pod-security.kubernetes.io/${mode}`;

/** From strictest to loosest. */
const strictness: readonly PodSecurityLevel[] = ['restricted', 'baseline', 'privileged'];

const isLevel = (v: unknown): v is PodSecurityLevel => typeof v === 'string' && (podSecurityLevels as readonly string[]).includes(v);

/**
 * The namespace's level for the chart's values (`helm get values -a`): `isolation.podSecurityStandard`,
 * except that the k3s server runs as root, which "restricted" forbids, so a k3s tenant's namespace
 * gets "baseline" (its syncer still holds tenant pods to "restricted"). The chart's NOTES.txt
 * makes the same choice ("vnest.namespacePodSecurity").
 */
export function namespacePodSecurity(values: unknown): PodSecurityLevel {
  const v = (values ?? {}) as { distro?: unknown; isolation?: { podSecurityStandard?: unknown } };
  const level = v.isolation?.podSecurityStandard ?? 'baseline';
  if (!isLevel(level)) throw new Error(`isolation.podSecurityStandard ${JSON.stringify(level)} is not one of ${podSecurityLevels.join(', ')}`);
  return level === 'restricted' && (v.distro ?? 'k3s') === 'k3s' ? 'baseline' : level;
}

export interface PodSecurityPlan {
  /** `key=value` arguments for `kubectl label --overwrite`; empty when nothing is to change. */
  labels: string[];
  /** Modes whose existing label is stricter than `level`, left as they are. */
  kept: Array<{ mode: PodSecurityMode; level: PodSecurityLevel }>;
}

/**
 * The labels that set every mode to `level` at version "latest", except where the namespace
 * already has that level or a stricter one: a platform team's stricter label is never loosened by
 * a tenant install (loosening is for whoever owns the namespace, by hand).
 */
export function podSecurityPlan(level: PodSecurityLevel, existing: Record<string, string> = {}): PodSecurityPlan {
  const plan: PodSecurityPlan = { labels: [], kept: [] };
  for (const mode of podSecurityModes) {
    const current = existing[labelKey(mode)];
    if (isLevel(current) && strictness.indexOf(current) < strictness.indexOf(level)) {
      plan.kept.push({ mode, level: current });
      continue;
    }
    // A version someone pinned beside the same level is theirs to keep.
    if (current === level && existing[`${labelKey(mode)}-version`] !== undefined) continue;
    plan.labels.push(`${labelKey(mode)}=${level}`, `${labelKey(mode)}-version=latest`);
  }
  return plan;
}
