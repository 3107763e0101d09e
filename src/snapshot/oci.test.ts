import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SnapshotFormatError } from './file.ts';
import { parseOciPath, readOciSnapshot, snapshotMediaType, writeOciSnapshot } from './oci.ts';

const exists = () => new Error('tag exists');
const made: string[] = [];
const layout = () => {
  made.push(mkdtempSync(join(tmpdir(), 'vnest-oci-test-')));
  return join(made.at(-1) ?? '', 'snaps');
};

describe('snapshots as OCI artifacts in an image layout', () => {
  afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));
  it('parses oci://DIR[:TAG] and leaves other paths alone', () => {
    expect(parseOciPath('oci:///tmp/snaps')).toEqual({ dir: '/tmp/snaps', tag: 'latest' });
    expect(parseOciPath('oci://./snaps:v1.2')).toEqual({ dir: './snaps', tag: 'v1.2' });
    expect(parseOciPath('oci:///tmp/a:b/c')).toEqual({ dir: '/tmp/a:b/c', tag: 'latest' });
    expect(parseOciPath('/tmp/alpha.vnest-snapshot')).toBeUndefined();
  });

  it('writes an OCI image layout whose tags read back as the snapshot bytes', () => {
    const dir = layout();
    writeOciSnapshot(dir, 'first', Buffer.from('one'), '2026-11-23T20:00:00Z', exists);
    writeOciSnapshot(dir, 'second', Buffer.from('two'), '2026-11-23T21:00:00Z', exists);
    expect(readOciSnapshot(dir, 'first').toString()).toBe('one');
    expect(readOciSnapshot(dir, 'second').toString()).toBe('two');
    expect(JSON.parse(readFileSync(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', index.manifests[0]?.digest.slice(7) ?? ''), 'utf8')) as { layers: Array<{ mediaType: string }> };
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([snapshotMediaType]);
    // A tag is never written over; checking alone writes nothing.
    expect(() => writeOciSnapshot(dir, 'first', Buffer.from('three'), '', exists)).toThrow('tag exists');
    const blobs = readdirSync(join(dir, 'blobs', 'sha256')).length;
    writeOciSnapshot(dir, 'third', Buffer.from('x'), '', exists, true);
    expect(readdirSync(join(dir, 'blobs', 'sha256')).length).toBe(blobs);
  });

  it('refuses what is not there or not intact, saying why', () => {
    const dir = layout();
    expect(() => readOciSnapshot(dir, 'latest')).toThrow(new SnapshotFormatError('it is not an OCI image layout (no index.json)'));
    writeOciSnapshot(dir, 'latest', Buffer.from('snapshot'), '', exists);
    expect(() => readOciSnapshot(dir, 'v2')).toThrow('it has no tag v2 (tags: latest)');
    const layer = readdirSync(join(dir, 'blobs', 'sha256')).find((f) => readFileSync(join(dir, 'blobs', 'sha256', f), 'utf8') === 'snapshot') ?? '';
    writeFileSync(join(dir, 'blobs', 'sha256', layer), 'tampered');
    expect(() => readOciSnapshot(dir, 'latest')).toThrow(`its blob sha256:${layer} does not match its digest`);
  });
});
