import { describe, expect, it } from 'vitest';
import { namespacePodSecurity, podSecurityPlan } from './pod-security.ts';

describe('namespacePodSecurity', () => {
  it('is the tenant\'s level, baseline by default', () => {
    expect(namespacePodSecurity({ distro: 'k8s', isolation: { podSecurityStandard: 'restricted' } })).toBe('restricted');
    expect(namespacePodSecurity({ distro: 'k3s', isolation: { podSecurityStandard: 'privileged' } })).toBe('privileged');
    expect(namespacePodSecurity({})).toBe('baseline');
  });

  it('is baseline for a k3s tenant at restricted: the k3s server runs as root', () => {
    expect(namespacePodSecurity({ distro: 'k3s', isolation: { podSecurityStandard: 'restricted' } })).toBe('baseline');
  });

  it('refuses an unknown level', () => {
    expect(() => namespacePodSecurity({ isolation: { podSecurityStandard: 'open' } })).toThrow('"open" is not one of baseline, restricted, privileged');
  });
});

describe('podSecurityPlan', () => {
  it('sets every mode and its version on an unlabelled namespace', () => {
    expect(podSecurityPlan('baseline')).toEqual({
      labels: [
        'pod-security.kubernetes.io/enforce=baseline', 'pod-security.kubernetes.io/enforce-version=latest',
        'pod-security.kubernetes.io/warn=baseline', 'pod-security.kubernetes.io/warn-version=latest',
        'pod-security.kubernetes.io/audit=baseline', 'pod-security.kubernetes.io/audit-version=latest',
      ],
      kept: [],
    });
  });

  it('never loosens a stricter label, and keeps a version pinned beside the same level', () => {
    const plan = podSecurityPlan('privileged', {
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/warn': 'privileged',
      'pod-security.kubernetes.io/warn-version': 'v1.30',
      'pod-security.kubernetes.io/audit': 'baseline',
    });
    expect(plan.kept).toEqual([{ mode: 'enforce', level: 'restricted' }, { mode: 'audit', level: 'baseline' }]);
    expect(plan.labels).toEqual([]);
  });

  it('tightens a looser label', () => {
    expect(podSecurityPlan('restricted', { 'pod-security.kubernetes.io/enforce': 'privileged', 'pod-security.kubernetes.io/enforce-version': 'latest' }).labels)
      .toEqual(expect.arrayContaining(['pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/enforce-version=latest']));
  });
});
