// A small generic Kubernetes REST client: JSON requests and watch streams for any resource type,
// over a keep-alive agent, with client-side rate limiting and request counters. Credentials and TLS
// come from @kubernetes/client-node's KubeConfig (file or in-cluster).
import type { IncomingMessage } from 'node:http';
import { Agent, request, type RequestOptions } from 'node:https';
import { createInterface } from 'node:readline';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeApiError, type Status } from './errors.ts';
import { TokenBucket } from './rate-limit.ts';

/** Where a kind lives in the API. */
export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  generateName?: string;
  managedFields?: unknown[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface ObjectList<T extends KubeObject = KubeObject> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface ClientOptions {
  /** Sustained requests per second (default 300). */
  qps?: number;
  /** Burst above qps (default 600). */
  burst?: number;
  /** Parallel connections to the API server (default 64). */
  maxSockets?: number;
  /** Per-request timeout for non-watch requests (default 30 s). */
  timeoutMs?: number;
  userAgent?: string;
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';
const patchContentTypes: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface RequestCounters {
  reads: number;
  writes: number;
  watches: number;
  /** Writes by `<verb> <resource>[/<subresource>]` (e.g. `PATCH pods/status`), to tell what writes. */
  writesBy: Record<string, number>;
  /** Watch events received, by resource, and their size in KB: what following the caches costs. */
  watchEventsBy: Record<string, number>;
  watchKbBy: Record<string, number>;
  /** Answers by `<verb> <HTTP status>` (`<verb> error` when none came: refused, reset, timed out). */
  answers: Record<string, number>;
}

/** `pods/status` from `/api/v1/namespaces/x/pods/y/status`: the resource (and subresource) a path names. */
export function resourceOfPath(path: string): string {
  const parts = path.split('?')[0]?.split('/').filter(Boolean) ?? [];
  // /api/v1/... or /apis/<group>/<version>/...
  const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  const afterNs = rest[0] === 'namespaces' && rest.length > 2 ? rest.slice(2) : rest;
  return [afterNs[0], afterNs[2]].filter(Boolean).join('/');
}

/** Builds the URL path of a collection or object. */
export function resourcePath(rt: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  const base = rt.group === '' ? `/api/${rt.version}` : `/apis/${rt.group}/${rt.version}`;
  let path = base;
  if (rt.namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
  path += `/${rt.plural}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  if (subresource) path += `/${subresource}`;
  return path;
}

export function apiVersionOf(rt: ResourceType): string {
  return rt.group === '' ? rt.version : `${rt.group}/${rt.version}`;
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export class KubeClient {
  readonly server: string;
  readonly counters: RequestCounters = { reads: 0, writes: 0, watches: 0, writesBy: {}, watchEventsBy: {}, watchKbBy: {}, answers: {} };
  private readonly kubeConfig: KubeConfig;
  private readonly agent: Agent;
  private readonly limiter: TokenBucket;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private tls: Pick<RequestOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'> = {};
  private headers: Record<string, string> = {};
  private authRefreshedAt = 0;

  private constructor(kubeConfig: KubeConfig, opts: ClientOptions) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster (set current-context)');
    this.kubeConfig = kubeConfig;
    this.server = cluster.server.replace(/\/$/, '');
    this.limiter = new TokenBucket(opts.qps ?? 300, opts.burst ?? 600);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.userAgent = opts.userAgent ?? 'vnest';
    this.agent = new Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 64 });
  }

  static async fromKubeconfigFile(path: string, opts: ClientOptions = {}, context?: string): Promise<KubeClient> {
    const kc = new KubeConfig();
    try {
      kc.loadFromFile(path);
    } catch (err) {
      throw new Error(`cannot read kubeconfig ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (context) kc.setCurrentContext(context);
    const client = new KubeClient(kc, opts);
    await client.refreshAuth(true);
    return client;
  }

  /** The pod's own service account (in-cluster configuration). */
  static async inCluster(opts: ClientOptions = {}): Promise<KubeClient> {
    const kc = new KubeConfig();
    kc.loadFromCluster();
    const client = new KubeClient(kc, opts);
    await client.refreshAuth(true);
    return client;
  }

  /** Re-reads credentials at most once a minute, so rotated service-account tokens are picked up. */
  private async refreshAuth(force = false): Promise<void> {
    if (!force && Date.now() - this.authRefreshedAt < 60_000) return;
    const opts: RequestOptions & { headers: Record<string, string> } = { headers: {} };
    await this.kubeConfig.applyToHTTPSOptions(opts);
    this.tls = { ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized: opts.rejectUnauthorized, servername: opts.servername };
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers)) if (typeof v === 'string') headers[k] = v;
    this.headers = headers;
    this.authRefreshedAt = Date.now();
  }

  close(): void {
    this.agent.destroy();
  }

  /**
   * What a proxy needs to send its own requests with this client's identity: server, TLS options
   * and auth headers (current, as credentials rotate).
   */
  async connection(): Promise<{ server: string; tls: Pick<RequestOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>; headers: Record<string, string>; agent: Agent }> {
    await this.refreshAuth();
    return { server: this.server, tls: this.tls, headers: this.headers, agent: this.agent };
  }

  private count(answer: string): void {
    this.counters.answers[answer] = (this.counters.answers[answer] ?? 0) + 1;
  }

  /** One JSON request. Throws KubeApiError for a non-2xx answer. */
  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json', accept = 'application/json'): Promise<T> {
    const text = await this.exchange(method, path, body, contentType, accept);
    try {
      return (text ? JSON.parse(text) : {}) as T;
    } catch (err) {
      throw new Error(`${method} ${path}: invalid JSON in answer`, { cause: err });
    }
  }

  /** A GET whose answer is text, not JSON (a pod's log). Throws KubeApiError for a non-2xx answer. */
  getText(path: string): Promise<string> {
    return this.exchange('GET', path, undefined, 'application/json', '*/*');
  }

  /** One request, answered with its body as text. Throws KubeApiError for a non-2xx answer. */
  private async exchange(method: string, path: string, body: unknown, contentType: string, accept: string): Promise<string> {
    await this.limiter.take();
    await this.refreshAuth();
    if (method === 'GET') this.counters.reads++;
    else {
      this.counters.writes++;
      const key = `${method} ${resourceOfPath(path)}`;
      this.counters.writesBy[key] = (this.counters.writesBy[key] ?? 0) + 1;
    }
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    try {
      return await this.send(method, path, payload, contentType, accept);
    } catch (err) {
      // A kept-alive connection the server closed as we reused it: the request never reached the
      // server. Sent again once, except a create (POST), which could have been stored.
      if (method === 'POST' || !(err instanceof Error) || !(err.cause as { reused?: boolean } | undefined)?.reused) throw err;
      return this.send(method, path, payload, contentType, accept);
    }
  }

  private send(method: string, path: string, payload: string | undefined, contentType: string, accept: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const req = request(
        `${this.server}${path}`,
        {
          method,
          agent: this.agent,
          ...this.tls,
          timeout: this.timeoutMs,
          headers: {
            ...this.headers,
            Accept: accept,
            'User-Agent': this.userAgent,
            ...(payload !== undefined ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            this.count(`${method} ${status}`);
            if (status >= 200 && status < 300) resolve(text);
            else reject(KubeApiError.fromResponse(method, path, status, text));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out after ${this.timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        this.count(`${method} error`);
        const reused = req.reusedSocket && err.code === 'ECONNRESET';
        reject(new Error(`${method} ${path}: ${err.message}`, { cause: Object.assign(err, { reused }) }));
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  get<T extends KubeObject>(rt: ResourceType, namespace: string | undefined, name: string): Promise<T> {
    return this.request<T>('GET', resourcePath(rt, namespace, name));
  }

  list<T extends KubeObject>(rt: ResourceType, namespace: string | undefined, params: { labelSelector?: string; fieldSelector?: string; limit?: number; continue?: string; resourceVersion?: string } = {}): Promise<ObjectList<T>> {
    return this.request<ObjectList<T>>('GET', resourcePath(rt, namespace) + query(params));
  }

  /**
   * Lists objects' metadata only (PartialObjectMetadataList): what counting or naming needs,
   * without their specs. A server that cannot answer so sends the full list, which has the same shape.
   */
  async listMetadata(rt: ResourceType, namespace: string | undefined, params: { labelSelector?: string; fieldSelector?: string; limit?: number; continue?: string } = {}): Promise<ObjectList> {
    const list = await this.request<Partial<ObjectList>>('GET', resourcePath(rt, namespace) + query(params), undefined, 'application/json',
      'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json');
    // An empty PartialObjectMetadataList comes with "items": null.
    return { metadata: list.metadata ?? {}, items: list.items ?? [] };
  }

  create<T extends KubeObject = KubeObject>(rt: ResourceType, namespace: string | undefined, obj: KubeObject, subresource?: string, name?: string): Promise<T> {
    return this.request<T>('POST', resourcePath(rt, namespace, name, subresource), obj);
  }

  patch<T extends KubeObject>(rt: ResourceType, namespace: string | undefined, name: string, patch: unknown, type: PatchType = 'merge', subresource?: string, params: { fieldManager?: string; force?: boolean } = {}): Promise<T> {
    const sent = this.request<T>('PATCH', resourcePath(rt, namespace, name, subresource) + query(params), patch, patchContentTypes[type]);
    if (type !== 'json') return sent;
    // A JSON patch that no longer applies (its resourceVersion test fails, or a path it removes is
    // gone: someone changed the object between our read and this write) is answered 422 without
    // field causes, unlike a real validation error. It is a conflict: read again and retry.
    return sent.catch((err: unknown) => {
      if (err instanceof KubeApiError && err.status === 422 && !(err.details?.causes?.length)) {
        throw new KubeApiError(`${err.message} (the object changed since it was read)`, 409, 'Conflict', err.details);
      }
      throw err;
    });
  }

  delete(rt: ResourceType, namespace: string | undefined, name: string, opts: { gracePeriodSeconds?: number; uid?: string; propagationPolicy?: 'Background' | 'Foreground' | 'Orphan' } = {}): Promise<Status | KubeObject> {
    const body = {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      ...(opts.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: opts.gracePeriodSeconds } : {}),
      ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}),
      ...(opts.propagationPolicy ? { propagationPolicy: opts.propagationPolicy } : {}),
    };
    return this.request('DELETE', resourcePath(rt, namespace, name), body);
  }

  /**
   * Opens a watch and yields its events until the server closes it or `signal` aborts. Throws
   * KubeApiError when the server refuses the watch (for example 410 Gone).
   */
  async *watch<T extends KubeObject>(rt: ResourceType, namespace: string | undefined, params: { resourceVersion?: string; labelSelector?: string; fieldSelector?: string; timeoutSeconds?: number }, signal: AbortSignal): AsyncGenerator<WatchEvent<T>> {
    await this.refreshAuth();
    this.counters.watches++;
    const path = resourcePath(rt, namespace) + query({ ...params, watch: true, allowWatchBookmarks: true });
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${this.server}${path}`, {
        method: 'GET',
        agent: this.agent,
        ...this.tls,
        signal,
        headers: { ...this.headers, Accept: 'application/json', 'User-Agent': this.userAgent },
      }, resolve);
      req.on('error', (err) => reject(new Error(`watch ${path}: ${err.message}`, { cause: err })));
      // The server ends a watch after timeoutSeconds; a stream silent far past that is dead.
      req.setTimeout(((params.timeoutSeconds ?? 600) + 60) * 1000, () => req.destroy(new Error(`watch ${path}: no data for too long`)));
      req.end();
    });
    if ((res.statusCode ?? 0) >= 300) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      throw KubeApiError.fromResponse('GET', path, res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'));
    }
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    const resource = resourceOfPath(path);
    const { watchEventsBy, watchKbBy } = this.counters;
    try {
      for await (const line of lines) {
        if (!line) continue;
        watchEventsBy[resource] = (watchEventsBy[resource] ?? 0) + 1;
        watchKbBy[resource] = (watchKbBy[resource] ?? 0) + line.length / 1024;
        const event = JSON.parse(line) as WatchEvent<T>;
        if (event.type === 'ERROR') {
          const status = event.object as unknown as Status;
          throw KubeApiError.fromStatus('GET', path, status);
        }
        yield event;
      }
    } finally {
      lines.close();
      res.destroy();
    }
  }
}
