// The tenant's datastore through the etcd v3 API's JSON gateway (etcd serves it on its client
// URL): every key at one revision for a snapshot, and a datastore replaced by a snapshot's keys.
import { Agent, request } from 'node:http';

/** One key and its value, as etcd stores them (bytes). */
export interface KeyValue {
  key: Buffer;
  value: Buffer;
}

/** What etcd's gateway answers with when a call fails. */
export class EtcdError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * Keys a snapshot leaves out: kube-apiserver's compaction bookkeeping, which names revisions of the
 * datastore it was read from and means nothing in another.
 */
const skipped = new Set(['compact_rev_key']);

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');
/** The first key and the range end that together mean "every key". */
const everything = b64('\0');

interface RangeResponse {
  header?: { revision?: string };
  kvs?: Array<{ key: string; value?: string; lease?: string }>;
  more?: boolean;
}

/** A client of one etcd endpoint (http://host:port); one connection at a time, kept alive. */
export class Etcd {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly endpoint: string;
  private readonly timeoutMs: number;
  constructor(endpoint: string, timeoutMs = 30_000) {
    this.endpoint = endpoint;
    this.timeoutMs = timeoutMs;
  }

  close(): void {
    this.agent.destroy();
  }

  async call<T>(path: string, body: unknown): Promise<T> {
    const payload = JSON.stringify(body);
    const url = new URL(path, this.endpoint);
    return new Promise<T>((resolve, reject) => {
      const req = request(url, { method: 'POST', agent: this.agent, timeout: this.timeoutMs, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: { error?: string; message?: string } & T;
          try {
            parsed = JSON.parse(text) as typeof parsed;
          } catch {
            reject(new EtcdError(res.statusCode ?? 0, `etcd answered ${path} with ${res.statusCode}: ${text.slice(0, 200)}`));
            return;
          }
          if ((res.statusCode ?? 0) >= 300 || parsed.error) reject(new EtcdError(res.statusCode ?? 0, `etcd ${path}: ${parsed.message ?? parsed.error ?? res.statusCode}`));
          else resolve(parsed);
        });
      });
      req.on('timeout', () => req.destroy(new Error(`etcd ${path}: no answer within ${this.timeoutMs / 1000} s`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /**
   * Every key with its value at one revision, page by page. Keys bound to a lease (Events, which
   * expire) are left out: a restored copy would never expire.
   */
  async readAll(pageSize = 500): Promise<{ revision: number; kvs: KeyValue[] }> {
    const kvs: KeyValue[] = [];
    let revision: string | undefined;
    let from = everything;
    for (;;) {
      const page = await this.call<RangeResponse>('/v3/kv/range', { key: from, range_end: everything, limit: pageSize, ...(revision ? { revision } : {}) });
      revision ??= page.header?.revision ?? '0';
      const items = page.kvs ?? [];
      for (const kv of items) {
        const key = Buffer.from(kv.key, 'base64');
        if (skipped.has(key.toString('latin1')) || (kv.lease && kv.lease !== '0')) continue;
        kvs.push({ key, value: Buffer.from(kv.value ?? '', 'base64') });
      }
      const last = items.at(-1);
      if (!page.more || !last) break;
      from = b64(Buffer.concat([Buffer.from(last.key, 'base64'), Buffer.from([0])]));
    }
    return { revision: Number(revision), kvs };
  }

  /** How many keys the datastore holds. */
  async count(): Promise<number> {
    const res = await this.call<{ count?: string }>('/v3/kv/range', { key: everything, range_end: everything, count_only: true });
    return Number(res.count ?? 0);
  }

  /**
   * Makes the datastore hold exactly `kvs`: every key deleted, then the keys written in
   * transactions of at most `batch` puts (etcd's --max-txn-ops is 128) and about 1 MiB (its
   * request limit is 1.5 MiB). Only for a datastore no API server uses meanwhile.
   */
  async replaceAll(kvs: KeyValue[], batch = 100): Promise<void> {
    await this.call('/v3/kv/deleterange', { key: everything, range_end: everything });
    let ops: unknown[] = [];
    let bytes = 0;
    const flush = async () => {
      if (ops.length) await this.call('/v3/kv/txn', { success: ops });
      ops = [];
      bytes = 0;
    };
    for (const kv of kvs) {
      const size = kv.key.length + kv.value.length;
      if (ops.length >= batch || (ops.length > 0 && bytes + size > 1 << 20)) await flush();
      ops.push({ request_put: { key: b64(kv.key), value: b64(kv.value) } });
      bytes += size;
    }
    await flush();
  }
}
