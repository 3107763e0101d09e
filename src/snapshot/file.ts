// The snapshot file: a tenant's datastore keys at one revision and what they came from, as
// gzip-compressed JSON with a kind and a format version, so that restore can refuse anything else.
import { gunzipSync, gzipSync } from 'node:zlib';
import type { KeyValue } from './etcd.ts';

export const snapshotApiVersion = 'vnest.dev/v1';
export const snapshotKind = 'TenantSnapshot';

/** What a snapshot says about itself. */
export interface SnapshotInfo {
  tenant: string;
  namespace: string;
  distro: 'k8s' | 'k3s';
  /** The datastore revision the keys were read at. */
  revision: number;
  createdAt: string;
  vnestVersion: string;
}

interface SnapshotJson extends SnapshotInfo {
  apiVersion: string;
  kind: string;
  /** [key, value], both base64. */
  keys: Array<[string, string]>;
}

/** A file that is not a snapshot restore can use, and why. */
export class SnapshotFormatError extends Error {}

export function encodeSnapshot(info: SnapshotInfo, kvs: KeyValue[]): Buffer {
  const doc: SnapshotJson = { apiVersion: snapshotApiVersion, kind: snapshotKind, ...info, keys: kvs.map((kv) => [kv.key.toString('base64'), kv.value.toString('base64')]) };
  return gzipSync(JSON.stringify(doc));
}

const isBase64 = (s: unknown): s is string => typeof s === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(s);

export function decodeSnapshot(data: Buffer): { info: SnapshotInfo; kvs: KeyValue[] } {
  let text: string;
  try {
    text = gunzipSync(data).toString('utf8');
  } catch {
    throw new SnapshotFormatError('it is not gzip-compressed, as every vnest snapshot is');
  }
  let doc: Partial<SnapshotJson>;
  try {
    doc = JSON.parse(text) as Partial<SnapshotJson>;
  } catch {
    throw new SnapshotFormatError('its content is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || doc.kind !== snapshotKind) throw new SnapshotFormatError(`it is not a ${snapshotKind}`);
  if (doc.apiVersion !== snapshotApiVersion) throw new SnapshotFormatError(`its format ${String(doc.apiVersion)} is not ${snapshotApiVersion}, the one this vnest reads`);
  if (doc.distro !== 'k8s' && doc.distro !== 'k3s') throw new SnapshotFormatError(`its distro ${String(doc.distro)} is neither k8s nor k3s`);
  if (typeof doc.tenant !== 'string' || typeof doc.namespace !== 'string' || typeof doc.revision !== 'number' || typeof doc.createdAt !== 'string') {
    throw new SnapshotFormatError('it lacks its tenant, namespace, revision or creation time');
  }
  if (!Array.isArray(doc.keys) || !doc.keys.every((e) => Array.isArray(e) && e.length === 2 && isBase64(e[0]) && e[0].length > 0 && isBase64(e[1]))) {
    throw new SnapshotFormatError('its keys are not a list of [key, value] in base64');
  }
  const info: SnapshotInfo = { tenant: doc.tenant, namespace: doc.namespace, distro: doc.distro, revision: doc.revision, createdAt: doc.createdAt, vnestVersion: String(doc.vnestVersion ?? '') };
  return { info, kvs: doc.keys.map(([k, v]) => ({ key: Buffer.from(k, 'base64'), value: Buffer.from(v, 'base64') })) };
}
