import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeSnapshot, encodeSnapshot, SnapshotFormatError, type SnapshotInfo } from './file.ts';

const info: SnapshotInfo = { tenant: 'alpha', namespace: 'team', distro: 'k8s', revision: 42, createdAt: '2026-11-23T20:00:00.000Z', vnestVersion: '0.1.0' };
const gz = (doc: unknown) => gzipSync(JSON.stringify(doc));
const valid = { apiVersion: 'vnest.dev/v1', kind: 'TenantSnapshot', ...info, keys: [] };

describe('snapshot file', () => {
  it('round-trips keys and values as bytes, binary included', () => {
    const kvs = [
      { key: Buffer.from('/registry/configmaps/apps/settings'), value: Buffer.from([0x6b, 0x38, 0x73, 0x00, 0xff, 0x0a]) },
      { key: Buffer.from('/registry/namespaces/apps'), value: Buffer.alloc(0) },
    ];
    const back = decodeSnapshot(encodeSnapshot(info, kvs));
    expect(back.info).toEqual(info);
    expect(back.kvs).toEqual(kvs);
  });

  it.each([
    ['plain text', Buffer.from('hello'), 'it is not gzip-compressed'],
    ['gzip of text', gzipSync('hello'), 'its content is not JSON'],
    ['another kind', gz({ apiVersion: 'v1', kind: 'ConfigMap' }), 'it is not a TenantSnapshot'],
    ['JSON null', gz(null), 'it is not a TenantSnapshot'],
    ['a newer format', gz({ ...valid, apiVersion: 'vnest.dev/v2' }), 'its format vnest.dev/v2 is not vnest.dev/v1'],
    ['an unknown distro', gz({ ...valid, distro: 'k0s' }), 'its distro k0s is neither k8s nor k3s'],
    ['no revision', gz({ ...valid, revision: '42' }), 'it lacks its tenant, namespace, revision or creation time'],
    ['keys not pairs', gz({ ...valid, keys: [['a2V5']] }), 'its keys are not a list of [key, value] in base64'],
    ['keys not base64', gz({ ...valid, keys: [['key!', 'dmFsdWU=']] }), 'its keys are not a list of [key, value] in base64'],
    ['an empty key', gz({ ...valid, keys: [['', 'dmFsdWU=']] }), 'its keys are not a list of [key, value] in base64'],
  ])('refuses %s, saying why', (_, data, why) => {
    expect(() => decodeSnapshot(data)).toThrow(SnapshotFormatError);
    expect(() => decodeSnapshot(data)).toThrow(why);
  });
});
