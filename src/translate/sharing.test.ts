import { describe, expect, it } from 'vitest';
import { sharedName, sharedWith, sharedWithSubtree } from './sharing.ts';

const svc = (labels: Record<string, string>, annotations: Record<string, string>, spec: Record<string, unknown> = { clusterIP: '10.96.0.10' }) =>
  ({ metadata: { name: 'dns', namespace: 'infra', labels, annotations }, spec });

describe('shared services', () => {
  it('shares only what the provider labels and names the tenant for', () => {
    const shared = { 'vnest.dev/shared': 'true' };
    expect(sharedWith(svc(shared, { 'vnest.dev/share-with': 'a, b' }), 'b', 'tenants')).toBe(true);
    expect(sharedWith(svc(shared, { 'vnest.dev/share-with': 'tenants/b' }), 'b', 'tenants')).toBe(true);
    expect(sharedWith(svc(shared, { 'vnest.dev/share-with': 'other/b' }), 'b', 'tenants')).toBe(false);
    expect(sharedWith(svc(shared, { 'vnest.dev/share-with': '*' }), 'b', 'tenants')).toBe(true);
    expect(sharedWith(svc(shared, { 'vnest.dev/share-with': 'a' }), 'b', 'tenants')).toBe(false);
    expect(sharedWith(svc(shared, {}), 'b', 'tenants')).toBe(false);
    expect(sharedWith(svc({}, { 'vnest.dev/share-with': '*' }), 'b', 'tenants')).toBe(false);
    expect(sharedWith(svc(shared, { 'vnest.dev/share-with': '*' }, { clusterIP: 'None' }), 'b', 'tenants')).toBe(false);
    expect(sharedWith(svc(shared, { 'vnest.dev/share-with': '*' }, { type: 'ExternalName' }), 'b', 'tenants')).toBe(false);
  });

  it('never shares a tenant\'s own copies back to it', () => {
    const own = { metadata: { name: 'x', namespace: 'tenants', labels: { 'vnest.dev/shared': 'true', 'vnest.dev/tenant': 'b' }, annotations: { 'vnest.dev/share-with': '*' } }, spec: { clusterIP: '10.96.0.9' } };
    expect(sharedWith(own, 'b', 'tenants')).toBe(false);
  });

  it('passes to children unless the provider says not', () => {
    expect(sharedWithSubtree(svc({}, {}))).toBe(true);
    expect(sharedWithSubtree(svc({}, { 'vnest.dev/share-subtree': 'false' }))).toBe(false);
  });

  it('names the tenant\'s copy after the provider\'s namespace and name, within 63 characters', () => {
    expect(sharedName('infra', 'dns')).toBe('infra-dns');
    expect(sharedName('vnest-shared', 'infra-dns')).toBe('infra-dns');
    const long = sharedName('a-namespace-with-a-rather-long-name', 'and-a-service-with-a-long-one-too');
    expect(long).toHaveLength(63);
    expect(long.startsWith('a-namespace-with-a-rather-long-name-and-a-servi')).toBe(true);
  });
});
