import { describe, expect, it } from 'vitest';
import { hostNetworkPolicySpec, selectorMatches } from './network-policy.ts';

const namespaces: Array<{ name: string; labels: Record<string, string> }> = [
  { name: 'web', labels: { team: 'a' } },
  { name: 'db', labels: { team: 'a', tier: 'data' } },
  { name: 'ops', labels: { team: 'b' } },
];
const ctx = { tenant: 't1', namespaces };
const own = (extra: Record<string, string> = {}, ns = 'web') => ({ matchLabels: { ...extra, 'vnest.dev/tenant': 't1', 'vnest.dev/namespace': ns } });

describe('hostNetworkPolicySpec', () => {
  it('selects only the tenant\'s pods of the policy\'s namespace, and narrows pod peers the same way', () => {
    const { spec, problems } = hostNetworkPolicySpec({
      podSelector: { matchLabels: { app: 'api' } }, policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 80, protocol: 'TCP' }] }],
    }, 'web', ctx);
    expect(problems).toEqual([]);
    expect(spec).toEqual({
      podSelector: own({ app: 'api' }), policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: own({ app: 'web' }) }], ports: [{ port: 80, protocol: 'TCP' }] }],
    });
  });

  it('an empty pod selector still selects this tenant\'s pods only', () => {
    expect(hostNetworkPolicySpec({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] }, 'web', ctx).spec).toEqual({ podSelector: own(), policyTypes: ['Ingress', 'Egress'] });
  });

  it('resolves namespace selectors against the tenant\'s namespaces, never the host\'s', () => {
    const peer = (namespaceSelector: object, podSelector?: object) => hostNetworkPolicySpec({ podSelector: {}, ingress: [{ from: [{ namespaceSelector, ...(podSelector ? { podSelector } : {}) }] }] }, 'web', ctx).spec.ingress[0].from[0];
    // Every namespace of the tenant: the tenant mark alone.
    expect(peer({})).toEqual({ podSelector: { matchLabels: { 'vnest.dev/tenant': 't1' } } });
    expect(peer({ matchLabels: { team: 'a' } }, { matchLabels: { app: 'x' } })).toEqual({
      podSelector: { matchLabels: { app: 'x', 'vnest.dev/tenant': 't1' }, matchExpressions: [{ key: 'vnest.dev/namespace', operator: 'In', values: ['db', 'web'] }] },
    });
    expect(peer({ matchLabels: { 'kubernetes.io/metadata.name': 'ops' } })).toEqual({ podSelector: { matchLabels: { 'vnest.dev/tenant': 't1', 'vnest.dev/namespace': 'ops' } } });
    // Nothing matches: a selector that selects nothing, not an empty peer (which would admit all).
    const none = peer({ matchLabels: { team: 'zzz' } });
    expect(none.podSelector.matchExpressions).toContainEqual({ key: 'vnest.dev/tenant', operator: 'DoesNotExist' });
    expect(selectorMatches(none.podSelector, { 'vnest.dev/tenant': 't1', 'vnest.dev/namespace': 'web' })).toBe(false);
  });

  it('carries a nested tenant\'s marks in selectors under the keys its host copies carry', () => {
    const { spec } = hostNetworkPolicySpec({ podSelector: { matchLabels: { 'vnest.dev/tenant': 'child' } }, ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'vnest.dev/namespace', operator: 'In', values: ['x'] }] } }] }] }, 'team-child', ctx);
    expect(spec.podSelector).toEqual({ matchLabels: { 'vnest.dev/nested-tenant': 'child', 'vnest.dev/tenant': 't1', 'vnest.dev/namespace': 'team-child' } });
    expect(spec.ingress[0].from[0].podSelector).toEqual({
      matchLabels: { 'vnest.dev/tenant': 't1', 'vnest.dev/namespace': 'team-child' },
      matchExpressions: [{ key: 'vnest.dev/nested-namespace', operator: 'In', values: ['x'] }],
    });
  });

  it('copies IP blocks and keeps rules without peers as they are', () => {
    const { spec } = hostNetworkPolicySpec({ podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] }, { ports: [{ port: 53, protocol: 'UDP' }] }] }, 'web', ctx);
    expect(spec.egress).toEqual([{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] }, { ports: [{ port: 53, protocol: 'UDP' }] }]);
  });

  it('refuses fields outside the allow-list, naming them', () => {
    expect(hostNetworkPolicySpec({ podSelector: {}, ingress: [{ from: [{ podSelector: {}, nodeSelector: {} }] }] }, 'web', ctx).problems).toEqual(['spec.ingress[0].from[0].nodeSelector is not on vnest\'s allow-list of fields']);
  });
});

describe('selectorMatches', () => {
  it('reads matchLabels and every operator', () => {
    const l = { a: '1', b: '2' };
    expect(selectorMatches(undefined, l)).toBe(true);
    expect(selectorMatches({ matchLabels: { a: '1' } }, l)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'In', values: ['1', '3'] }] }, l)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }, l)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'c', operator: 'DoesNotExist' }] }, l)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'c', operator: 'Exists' }] }, l)).toBe(false);
  });
});
