import { describe, expect, it } from 'vitest';
import { exportMarks, exportTargets, importAccepted, importName, sharedName, sharedWith, sharedWithSubtree } from './sharing.ts';

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

describe('sibling exports', () => {
  const exported = (annotations: Record<string, string>) => ({ metadata: { name: 'web-x-apps-x-a', namespace: 'team', annotations, labels: {} } });

  it('reads the siblings a Service is exported to, and names what is not a tenant', () => {
    expect(exportTargets(exported({ 'vnest.dev/export-to': 'b, team/c' }))).toEqual({ targets: ['b', 'team/c'], problems: [] });
    expect(exportTargets(exported({}))).toEqual({ targets: [], problems: [] });
    const bad = exportTargets(exported({ 'vnest.dev/export-to': '*, b, Not_A_Name' }));
    expect(bad.targets).toEqual(['b']);
    expect(bad.problems[0]).toMatch(/"\*", "Not_A_Name" name no tenant/);
  });

  it('shares the host copy with the siblings only, never their children', () => {
    expect(exportMarks([])).toEqual({ labels: {}, annotations: {} });
    expect(exportMarks(['b'])).toEqual({ labels: { 'vnest.dev/shared': 'true' }, annotations: { 'vnest.dev/share-with': 'b', 'vnest.dev/share-subtree': 'false' } });
  });

  it('takes an export only from tenants the importer names', () => {
    const copy = { metadata: { name: 'web-x-apps-x-a', namespace: 'team', labels: { 'vnest.dev/tenant': 'a' }, annotations: { 'vnest.dev/object-name': 'web', 'vnest.dev/object-namespace': 'apps' } } };
    expect(importAccepted(copy, 'a')).toBe(true);
    expect(importAccepted(copy, 'x\nteam/a')).toBe(true);
    expect(importAccepted(copy, 'other/a, b')).toBe(false);
    expect(importAccepted(copy, undefined)).toBe(false);
    expect(importAccepted({ ...copy, metadata: { ...copy.metadata, labels: {} } }, 'a')).toBe(false);
    expect(importName(copy)).toBe('a-apps-web');
  });
});
