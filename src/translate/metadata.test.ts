import { describe, expect, it } from 'vitest';
import { copiedMetadata, hostMatchLabels, hostMetadata, managedMetadata } from './metadata.ts';
import { defaultPolicy, keyListed } from './policy.ts';

const policy = defaultPolicy();

describe('copiedMetadata', () => {
  it('copies unprefixed keys and the selection labels Kubernetes and charts use, and nothing host add-ons act on', () => {
    const { labels, annotations } = copiedMetadata({
      name: 'p',
      labels: { app: 'web', 'app.kubernetes.io/name': 'web', 'pod-template-hash': 'abc', 'azure.workload.identity/use': 'true', 'sidecar.istio.io/inject': 'true', 'vnest.dev/tenant': 'other' },
      annotations: { note: 'x', 'vault.hashicorp.com/agent-inject': 'true', 'kubectl.kubernetes.io/last-applied-configuration': '{}', 'kubectl.kubernetes.io/default-container': 'c', 'vnest.dev/sync': 'true' },
    }, policy);
    expect(labels).toEqual({ app: 'web', 'app.kubernetes.io/name': 'web', 'pod-template-hash': 'abc' });
    expect(annotations).toEqual({ note: 'x', 'kubectl.kubernetes.io/default-container': 'c' });
  });

  it('copies what the operator lists, by key or by prefix, but never a vnest.dev/ key', () => {
    const { labels, annotations } = copiedMetadata({
      name: 'p', labels: { 'example.com/team': 'a', 'other.io/x': 'b' }, annotations: { 'prometheus.io/scrape': 'true', 'vnest.dev/object-uid': 'x' },
    }, defaultPolicy({ hostLabels: ['example.com/'], hostAnnotations: ['prometheus.io/scrape', 'vnest.dev/'] }));
    expect(labels).toEqual({ 'example.com/team': 'a' });
    expect(annotations).toEqual({ 'prometheus.io/scrape': 'true' });
  });
});

describe('hostMetadata and managedMetadata', () => {
  const ctx = { tenant: 't1', hostNamespace: 'h', policy };

  it('marks the host copy with the tenant and the virtual identity', () => {
    const meta = hostMetadata({ metadata: { name: 'p', namespace: 'app', uid: 'u1', labels: { app: 'web' } } }, 'Pod', 'p-x-app-x-t1', ctx);
    expect(meta.labels).toEqual({ app: 'web', 'vnest.dev/tenant': 't1', 'vnest.dev/namespace': 'app' });
    expect(meta.annotations).toEqual({ 'vnest.dev/object-name': 'p', 'vnest.dev/object-namespace': 'app', 'vnest.dev/object-uid': 'u1', 'vnest.dev/object-kind': 'Pod' });
  });

  it('carries a nested tenant\'s control-plane label under a key only this tenant\'s selectors use', () => {
    const meta = hostMetadata({ metadata: { name: 'b-0', namespace: 'team-b', uid: 'u2', labels: { 'vnest.dev/control-plane': 'b' } } }, 'Pod', 'b-0-x-team-b-x-a', { tenant: 'a', hostNamespace: 'h', policy });
    expect(meta.labels).toEqual({ 'vnest.dev/tenant': 'a', 'vnest.dev/namespace': 'team-b', 'vnest.dev/nested-control-plane': 'b' });
  });

  it('leaves the keys host controllers add out of the view a sync compares', () => {
    const view = managedMetadata({ name: 'c', annotations: { 'pv.kubernetes.io/bind-completed': 'yes', 'vnest.dev/object-uid': 'u1', note: 'x' }, labels: { app: 'a' } }, policy);
    expect(view).toEqual({ labels: { app: 'a' }, annotations: { 'vnest.dev/object-uid': 'u1', note: 'x' } });
  });

  it('never copies vnest.dev/ keys of a tenant object as they are: labels go under nested- keys, annotations nowhere', () => {
    // A forged mark, or a nested tenant's own marks on its host copies in this tenant's cluster.
    const long = `vnest.dev/${'x'.repeat(57)}`;
    const meta = hostMetadata({ metadata: { name: 'p', namespace: 'app', uid: 'u1', labels: { 'vnest.dev/tenant': 'victim', 'vnest.dev/nested-tenant': 'v2', [long]: 'y', app: 'a' }, annotations: { 'vnest.dev/object-uid': 'x', 'vnest.dev/token-a': 't' } } }, 'Pod', 'p-x-app-x-t1', { tenant: 't1', hostNamespace: 'h', policy });
    expect(meta.labels).toEqual({ app: 'a', 'vnest.dev/tenant': 't1', 'vnest.dev/namespace': 'app', 'vnest.dev/nested-tenant': 'victim', 'vnest.dev/nested-nested-tenant': 'v2' });
    expect(meta.annotations).toEqual({ 'vnest.dev/object-name': 'p', 'vnest.dev/object-namespace': 'app', 'vnest.dev/object-uid': 'u1', 'vnest.dev/object-kind': 'Pod' });
  });
});

describe('hostMatchLabels', () => {
  it('narrows a selector to the tenant\'s pods of the namespace and carries vnest.dev/ keys as host copies do', () => {
    expect(hostMatchLabels({ app: 'web', 'vnest.dev/tenant': 'b', 'vnest.dev/control-plane': 'b' }, 'a', 'team-b')).toEqual({
      app: 'web', 'vnest.dev/nested-tenant': 'b', 'vnest.dev/nested-control-plane': 'b', 'vnest.dev/tenant': 'a', 'vnest.dev/namespace': 'team-b',
    });
    // Too long to carry: kept as it is, so it selects nothing on the host (no copy carries it).
    const long = `vnest.dev/${'x'.repeat(57)}`;
    expect(hostMatchLabels({ [long]: 'y' }, 'a', 'n')[long]).toBe('y');
  });
});

describe('keyListed', () => {
  it('matches keys, prefixes ending in /, and "" for unprefixed keys', () => {
    expect(keyListed('app', [''])).toBe(true);
    expect(keyListed('a.io/x', [''])).toBe(false);
    expect(keyListed('a.io/x', ['a.io/'])).toBe(true);
    expect(keyListed('a.io/x', ['a.io/y'])).toBe(false);
    expect(keyListed('b.a.io/x', ['a.io/'])).toBe(false);
  });
});
