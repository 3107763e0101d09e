import { describe, expect, it } from 'vitest';
import { normalizePem, trustAnchors, trustBundleKey, trustBundleSources, type ClusterTrustBundle } from './trust-bundles.ts';

const pem = (body: string) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(body).toString('base64')}\n-----END CERTIFICATE-----\n`;
const ctb = (name: string, signerName: string | undefined, body: string, labels?: Record<string, string>): ClusterTrustBundle => ({
  metadata: { name, ...(labels ? { labels } : {}) }, spec: { ...(signerName ? { signerName } : {}), trustBundle: pem(body) },
});

describe('ClusterTrustBundle projections', () => {
  const bundles = [
    ctb('one', 'example.com/a', 'cert-1', { alive: 'true' }),
    ctb('two', 'example.com/a', 'cert-2', { alive: 'false' }),
    ctb('three', 'example.com/b', 'cert-3', { alive: 'true' }),
    ctb('four', undefined, 'cert-1'),
  ];

  it('selects by name, or by signer and label selector, as the kubelet does', () => {
    expect(trustAnchors({ name: 'three', path: 'p' }, bundles)).toBe(pem('cert-3'));
    expect(trustAnchors({ signerName: 'example.com/a', labelSelector: { matchLabels: { alive: 'true' } }, path: 'p' }, bundles)).toBe(pem('cert-1'));
    // An empty selector matches every bundle of the signer; certificates come once each, in a stable order.
    expect(trustAnchors({ signerName: 'example.com/a', labelSelector: {}, path: 'p' }, bundles)).toBe(normalizePem([pem('cert-2'), pem('cert-1'), pem('cert-1')]));
    // A missing selector matches nothing.
    expect(trustAnchors({ signerName: 'example.com/a', path: 'p' }, bundles)).toBeUndefined();
  });

  it('gives an empty file for an optional source that matches nothing, and nothing (a failed mount) otherwise', () => {
    expect(trustAnchors({ name: 'missing', optional: true, path: 'p' }, bundles)).toBe('');
    expect(trustAnchors({ name: 'missing', path: 'p' }, bundles)).toBeUndefined();
    expect(trustAnchors({ signerName: 'example.com/none', labelSelector: {}, optional: true, path: 'p' }, bundles)).toBe('');
  });

  it('writes one CERTIFICATE block per certificate with 64-character lines', () => {
    const long = 'x'.repeat(100);
    const out = normalizePem([`-----BEGIN CERTIFICATE-----\n${Buffer.from(long).toString('base64').replace(/(.{10})/g, '$1\n')}\n-----END CERTIFICATE-----`]);
    const lines = out.trim().split('\n');
    expect(lines[0]).toBe('-----BEGIN CERTIFICATE-----');
    expect(lines.at(-1)).toBe('-----END CERTIFICATE-----');
    expect(lines.slice(1, -1).every((l) => l.length <= 64)).toBe(true);
    expect(Buffer.from(lines.slice(1, -1).join(''), 'base64').toString()).toBe(long);
  });

  it('keys sources by how they select, not by path', () => {
    expect(trustBundleKey({ name: 'a', path: 'x' })).toBe(trustBundleKey({ name: 'a', path: 'y' }));
    expect(trustBundleKey({ name: 'a', path: 'x' })).not.toBe(trustBundleKey({ name: 'a', optional: true, path: 'x' }));
    expect(trustBundleKey({ name: 'a', path: 'x' })).toMatch(/^ctb-[0-9a-f]{24}$/);
    expect(trustBundleSources({ volumes: [{ projected: { sources: [{ clusterTrustBundle: { name: 'a', path: 'x' } }, {}] } }, {}] })).toEqual([{ name: 'a', path: 'x' }]);
  });
});
