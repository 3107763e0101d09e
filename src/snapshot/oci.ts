// A snapshot as an OCI artifact in an image layout directory on disk (`oci://DIR[:TAG]`): the
// snapshot file is its one layer, so registries' tools (oras, skopeo, crane) can push and pull it.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SnapshotFormatError } from './file.ts';

export const snapshotMediaType = 'application/vnd.vnest.snapshot.v1+gzip';
export const snapshotArtifactType = 'application/vnd.vnest.snapshot.v1';
const manifestMediaType = 'application/vnd.oci.image.manifest.v1+json';
const emptyMediaType = 'application/vnd.oci.empty.v1+json';
const refName = 'org.opencontainers.image.ref.name';

interface Descriptor { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string> }
interface Index { schemaVersion: number; mediaType?: string; manifests: Descriptor[] }

/** `oci://DIR[:TAG]` as the directory and tag (default `latest`); undefined for any other path. */
export function parseOciPath(path: string): { dir: string; tag: string } | undefined {
  if (!path.startsWith('oci://')) return undefined;
  const rest = path.slice('oci://'.length);
  const m = /^(.*?)(?::([A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?$/.exec(rest);
  return { dir: m?.[1] || rest, tag: m?.[2] ?? 'latest' };
}

const digestOf = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

function writeBlob(dir: string, data: Buffer): string {
  const digest = digestOf(data);
  const file = join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  if (!existsSync(file)) writeFileSync(file, data, { mode: 0o600 });
  return digest;
}

function readIndex(dir: string): Index | undefined {
  const file = join(dir, 'index.json');
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as Index;
}

/**
 * Adds the snapshot to the layout (made if need be) under `tag`. An existing tag is refused:
 * `exists` says so, as a file that exists is never written over; `checkOnly` checks just that.
 */
export function writeOciSnapshot(dir: string, tag: string, snapshot: Buffer, created: string, exists: () => Error, checkOnly = false): void {
  const index = readIndex(dir) ?? { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] };
  if (index.manifests.some((m) => m.annotations?.[refName] === tag)) throw exists();
  if (checkOnly) return;
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const empty = Buffer.from('{}');
  const layer: Descriptor = { mediaType: snapshotMediaType, digest: writeBlob(dir, snapshot), size: snapshot.length };
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: manifestMediaType, artifactType: snapshotArtifactType,
    config: { mediaType: emptyMediaType, digest: writeBlob(dir, empty), size: empty.length },
    layers: [layer],
    annotations: { 'org.opencontainers.image.created': created },
  }));
  index.manifests.push({ mediaType: manifestMediaType, artifactType: snapshotArtifactType, digest: writeBlob(dir, manifest), size: manifest.length, annotations: { [refName]: tag } });
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
}

/** The snapshot file's bytes under `tag` in the layout, each blob checked against its digest. */
export function readOciSnapshot(dir: string, tag: string): Buffer {
  let index: Index | undefined;
  try {
    index = readIndex(dir);
  } catch {
    throw new SnapshotFormatError('its index.json is not JSON');
  }
  if (!index || !Array.isArray(index.manifests)) throw new SnapshotFormatError('it is not an OCI image layout (no index.json)');
  const found = index.manifests.find((m) => m.annotations?.[refName] === tag);
  if (!found) throw new SnapshotFormatError(`it has no tag ${tag} (tags: ${index.manifests.map((m) => m.annotations?.[refName]).filter(Boolean).join(', ') || 'none'})`);
  const blob = (d: Descriptor) => {
    if (!/^sha256:[0-9a-f]{64}$/.test(d.digest)) throw new SnapshotFormatError(`it names a blob by an unknown digest ${d.digest}`);
    let data: Buffer;
    try {
      data = readFileSync(join(dir, 'blobs', 'sha256', d.digest.slice('sha256:'.length)));
    } catch {
      throw new SnapshotFormatError(`its blob ${d.digest} is missing`);
    }
    if (digestOf(data) !== d.digest) throw new SnapshotFormatError(`its blob ${d.digest} does not match its digest`);
    return data;
  };
  const manifest = JSON.parse(blob(found).toString('utf8')) as { artifactType?: string; layers?: Descriptor[] };
  const layer = manifest.layers?.find((l) => l.mediaType === snapshotMediaType);
  if (!layer) throw new SnapshotFormatError(`its tag ${tag} is not a vnest snapshot (no ${snapshotMediaType} layer)`);
  return blob(layer);
}
