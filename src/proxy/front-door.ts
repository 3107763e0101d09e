// The tenant's API front door: TLS on 8443. It authenticates tenant users (client certificates of
// the tenant CA; service-account tokens of the virtual cluster, through TokenReview), forwards
// each request to the control plane impersonating that user so the tenant's RBAC decides, and
// serves logs and proxy of virtual pods and Services from their host copies (exec, attach and
// port-forward too, unless the control plane's egress goes through the syncer: then they pass the
// control plane and its admission, see egress.ts). The control plane must never dial a node or pod
// itself: those addresses are the tenant's to write, so such requests are answered here, by the
// syncer's egress, or refused, and so are paths not in canonical form.
import { createHash } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Agent, createServer, type Server } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import type { Informer } from '../kube/informer.ts';
import { ownership, virtualKeyOf } from '../translate/metadata.ts';
import { hostName } from '../translate/names.ts';
import type { TenantCerts } from './certs.ts';
import type { KeyPairPem } from '../pki/certs.ts';
import { isGuardedWrite, webhookRefusal, webhookUrls } from './dial-guard.ts';
import { sharedNamespace } from '../translate/sharing.ts';
import { classifyPath, pathOf, proxyId, proxyVerb, queryOf, writesNamespace, type PathClass } from './paths.ts';
import { HttpError } from './http-error.ts';
import { hostPodName } from './kubelet.ts';
import { buffered, forward, forwardable, status, tunnel, type Target } from './upstream.ts';
import { metricsTable, tableVersion } from './metrics-table.ts';
import { classifyMetricsPath, metricsApiGroup, metricsGroup, metricsOpenApiPath, metricsResourceList, withMetricsGroup, type MetricsRoute, type ResourceMetrics } from './resource-metrics.ts';

export interface FrontDoorOptions {
  port: number;
  address?: string;
  tenant: string;
  hostNamespace: string;
  certs: TenantCerts;
  /** The syncer's client of the tenant's control plane (cluster-admin there). */
  virtual: KubeClient;
  /** The syncer's client of the host. */
  host: KubeClient;
  virtualPods: Informer<KubeObject>;
  hostPods: Informer<KubeObject>;
  /** This tenant's Services in the host namespace (service proxy goes to their host copies). */
  hostServices: Informer<KubeObject>;
  /**
   * Exec, attach and port-forward go to the control plane, which authorises and admits them (the
   * tenant's webhooks see them) and reaches the host pod through the syncer's egress (egress.ts).
   * Unset: they are authorised here and sent to the host pod directly, unseen by admission.
   */
  streamsViaControlPlane?: boolean;
  /** The tenant's metrics.k8s.io, from the host's (absent: the tenant's control plane answers, 404). */
  metrics?: ResourceMetrics;
  ready: () => boolean;
  log: Logger;
}

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

/** A request the front door sends to the host copy of a pod or Service. */
type HostRoute = Extract<PathClass, { kind: 'pod' | 'service-proxy' }>;

function impersonation(user: UserInfo): OutgoingHttpHeaders {
  const h: OutgoingHttpHeaders = { 'Impersonate-User': user.username };
  if (user.groups.length) h['Impersonate-Group'] = user.groups;
  if (user.uid) h['Impersonate-Uid'] = user.uid;
  for (const [k, v] of Object.entries(user.extra)) h[`Impersonate-Extra-${encodeURIComponent(k)}`] = v;
  return h;
}

export class FrontDoor {
  private readonly opts: FrontDoorOptions;
  private readonly server: Server;
  /** The tail of the queue of checked writes (see guardedWrite). */
  private guardedWrites: Promise<void> = Promise.resolve();
  private readonly tokens = new LRUCache<string, UserInfo | false>({ max: 10_000, ttl: 30_000 });
  /**
   * Tenant traffic has connections of its own, apart from the syncer's clients: every open watch
   * holds one, so sharing the syncer's bounded pool would let a few operators' watches starve the
   * tenant's other requests and the syncer itself. Unbounded, as an API server's clients expect.
   */
  private readonly agent = new Agent({ keepAlive: true });
  /** Requests answered, by HTTP status (`upgrade` for exec, attach and port-forward streams). */
  readonly answers: Record<string, number> = {};

  private count(answer: string): void {
    this.answers[answer] = (this.answers[answer] ?? 0) + 1;
  }

  constructor(opts: FrontDoorOptions) {
    this.opts = opts;
    this.server = createServer({
      cert: opts.certs.serving.certPem,
      key: opts.certs.serving.keyPem,
      ca: opts.certs.ca.certPem,
      requestCert: true,
      rejectUnauthorized: false,
    });
    // Node closes an idle kept-alive connection after 5 s; a client that reuses it at that moment
    // gets "socket hang up". Clients of an API server expect it to keep idle connections as long as
    // kube-apiserver does (90 s), and Go's clients drop theirs after 90 s too.
    this.server.keepAliveTimeout = 90_000;
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      res.once('finish', () => this.count(String(res.statusCode)));
      this.handle(req, res).catch((err: unknown) => this.fail(res, err));
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.count('upgrade');
      this.handleUpgrade(req, socket, head).catch((err: unknown) => {
        if (err instanceof HttpError) {
          socket.end(`HTTP/1.1 ${err.code} ${err.reason}\r\nContent-Type: application/json\r\n\r\n${status(err.code, err.reason, err.message)}`);
          return;
        }
        this.opts.log.warn({ err: (err as Error).message, url: req.url }, 'upgrade failed');
        socket.end(`HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\n\r\n${status(502, 'BadGateway', (err as Error).message)}`);
      });
    });
  }

  /**
   * Serves a new certificate (names added or gone as the tenant's exposure changed) to new
   * connections; open ones keep theirs. The CA that verifies client certificates stays.
   */
  setServingCertificate(serving: KeyPairPem): void {
    this.server.setSecureContext({ cert: serving.certPem, key: serving.keyPem, ca: this.opts.certs.ca.certPem });
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.address ?? '0.0.0.0', () => {
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : this.opts.port);
      });
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => {
      this.agent.destroy();
      resolve();
    }));
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (err instanceof HttpError && !res.headersSent) {
      res.writeHead(err.code, { 'Content-Type': 'application/json' }).end(status(err.code, err.reason, err.message));
      return;
    }
    this.opts.log.warn({ err: (err as Error).message }, 'front door request failed');
    if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'application/json' });
    res.end(status(502, 'BadGateway', `the tenant's control plane did not answer: ${(err as Error).message}`));
  }

  /** Who is calling: a verified client certificate, else a bearer token the tenant API accepts. */
  async authenticate(req: IncomingMessage): Promise<UserInfo | undefined> {
    const socket = req.socket as TLSSocket;
    if (socket.authorized) {
      const subject = socket.getPeerCertificate().subject as unknown as Record<string, string | string[] | undefined> | undefined;
      const cn = subject?.CN;
      const o = subject?.O;
      if (typeof cn === 'string' && cn) {
        return { username: cn, groups: [...(o === undefined ? [] : Array.isArray(o) ? o : [o]), 'system:authenticated'], extra: {} };
      }
    }
    const auth = req.headers.authorization;
    if (!auth?.startsWith('Bearer ')) return undefined;
    const token = auth.slice(7).trim();
    const key = createHash('sha256').update(token).digest('hex');
    const cached = this.tokens.get(key);
    if (cached !== undefined) return cached || undefined;
    const review = await this.opts.virtual.create<KubeObject & { status?: { authenticated?: boolean; user?: { username: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> } } }>(
      { group: 'authentication.k8s.io', version: 'v1', plural: 'tokenreviews', kind: 'TokenReview', namespaced: false },
      undefined,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: { name: '' }, spec: { token } },
    );
    const u = review.status?.authenticated ? review.status.user : undefined;
    const user: UserInfo | false = u ? { username: u.username, ...(u.uid ? { uid: u.uid } : {}), groups: u.groups ?? [], extra: u.extra ?? {} } : false;
    this.tokens.set(key, user);
    return user || undefined;
  }

  /** Whether `user` may do `verb` on the resource: a SubjectAccessReview in the tenant's cluster. */
  private async allowed(user: UserInfo, attrs: Record<string, string>): Promise<boolean> {
    const review = await this.opts.virtual.create<KubeObject & { status?: { allowed?: boolean } }>(
      { group: 'authorization.k8s.io', version: 'v1', plural: 'subjectaccessreviews', kind: 'SubjectAccessReview', namespaced: false },
      undefined,
      { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', metadata: { name: '' }, spec: { user: user.username, uid: user.uid, groups: user.groups, extra: user.extra, resourceAttributes: attrs } },
    );
    return review.status?.allowed === true;
  }

  /** The identity to forward as: the caller, or whom the caller may impersonate (kubectl --as). */
  private async effectiveUser(req: IncomingMessage, user: UserInfo): Promise<UserInfo | string> {
    const as = req.headers['impersonate-user'];
    if (typeof as !== 'string') return user;
    if (!(await this.allowed(user, { verb: 'impersonate', resource: 'users', name: as }))) return `${user.username} may not impersonate user ${as}`;
    const raw = req.headers['impersonate-group'];
    const groups = raw === undefined ? [] : Array.isArray(raw) ? raw : raw.split(',').map((g) => g.trim());
    for (const g of groups) {
      if (!(await this.allowed(user, { verb: 'impersonate', resource: 'groups', name: g }))) return `${user.username} may not impersonate group ${g}`;
    }
    return { username: as, groups: [...groups, 'system:authenticated'], extra: {} };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = pathOf(req.url ?? '/');
    if (path === '/healthz' || path === '/livez') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
      return;
    }
    if (path === '/readyz') {
      // The control plane answers (its /version is JSON; /readyz is plain text) and caches are synced.
      const ok = this.opts.ready() && (await this.opts.virtual.request('GET', '/version').then(() => true, () => false));
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ok' : 'not ready');
      return;
    }
    const { route, user } = await this.admit(req);
    if (writesNamespace(req.method, path, sharedNamespace)) {
      throw new HttpError(403, 'Forbidden', `namespaces "${sharedNamespace}" is forbidden: it holds the Services the host shares with this cluster, which only vnest changes`);
    }
    if ((route.kind === 'pod' && !this.viaControlPlane(route)) || route.kind === 'service-proxy') {
      await forward(req, res, await this.hostTarget(req, user, route));
      return;
    }
    const metricsRoute = this.opts.metrics ? classifyMetricsPath(path) : undefined;
    if (metricsRoute) {
      await this.serveMetrics(req, res, user, metricsRoute);
      return;
    }
    const conn = await this.opts.virtual.connection();
    const target = { ...conn, agent: this.agent, path: req.url ?? '/', headers: { ...forwardable(req.headers, false), ...conn.headers, ...impersonation(user) } };
    if (this.opts.metrics && path === '/apis' && req.method === 'GET') {
      await this.augmented(res, target, withMetricsGroup);
      return;
    }
    if (this.opts.metrics && req.method === 'GET' && (path === '/openapi/v3' || path === `/openapi/v3/${metricsOpenApiPath}`)) {
      await this.metricsOpenApi(req, res, target);
      return;
    }
    if (isGuardedWrite(req.method, path)) await this.guardedWrite(req, res, target);
    else await forward(req, res, target);
  }

  private async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { route, user } = await this.admit(req);
    if (route.kind !== 'pod' && route.kind !== 'service-proxy') {
      throw new HttpError(400, 'BadRequest', 'only pod exec, attach, port-forward and pod or service proxy can upgrade the connection here');
    }
    if (route.kind === 'pod' && this.viaControlPlane(route)) {
      const conn = await this.opts.virtual.connection();
      await tunnel(req, socket, head, { ...conn, path: req.url ?? '/', headers: { ...forwardable(req.headers, true), ...conn.headers, ...impersonation(user) } });
      return;
    }
    await tunnel(req, socket, head, await this.hostTarget(req, user, route));
  }

  /** Whether a pod subresource goes to the control plane (see streamsViaControlPlane). */
  private viaControlPlane(route: Extract<PathClass, { kind: 'pod' }>): boolean {
    return this.opts.streamsViaControlPlane === true && route.sub !== 'log' && route.sub !== 'proxy';
  }

  /**
   * What the request asks for and who asks. A path not in canonical form is refused before anything
   * is asked of the control plane, node proxy once the caller is known: neither ever reaches it.
   */
  private async admit(req: IncomingMessage): Promise<{ route: Exclude<PathClass, { kind: 'reject' | 'node-proxy' }>; user: UserInfo }> {
    const route = classifyPath(req.url ?? '/');
    if (route.kind === 'reject') throw new HttpError(400, 'BadRequest', `request path refused: ${route.message}`);
    const caller = await this.authenticate(req);
    if (!caller) throw new HttpError(401, 'Unauthorized', 'Unauthorized');
    const user = await this.effectiveUser(req, caller);
    if (typeof user === 'string') throw new HttpError(403, 'Forbidden', user);
    if (route.kind === 'node-proxy') throw new HttpError(403, 'Forbidden', 'node proxy is not available in a virtual cluster: nodes are the host\'s');
    return { route, user };
  }

  /**
   * Authorises a pod subresource or a service proxy against the tenant's RBAC as Kubernetes would,
   * and returns the same request on the translated host object, to be sent with the syncer's host
   * credentials: the host then dials only pod IPs and Endpoints it assigned itself.
   */
  private async hostTarget(req: IncomingMessage, user: UserInfo, route: HostRoute): Promise<Target> {
    const { namespace, name } = route;
    const [resource, sub] = route.kind === 'pod' ? ['pods', route.sub] : ['services', 'proxy'];
    const verb = sub === 'proxy' ? proxyVerb(req.method) : sub === 'log' ? 'get' : 'create';
    if (!verb) throw new HttpError(405, 'MethodNotAllowed', `method ${req.method ?? ''} is not supported on ${resource}/${sub}`);
    // Kubernetes authorises a proxy on the whole `scheme:name:port` segment; RBAC resourceNames see the same here.
    const id = proxyId(route);
    if (!(await this.allowed(user, { namespace, verb, resource, subresource: sub, name: id }))) {
      throw new HttpError(403, 'Forbidden', `${resource} "${id}" is forbidden: User "${user.username}" cannot ${verb} resource "${resource}/${sub}" in the namespace "${namespace}"`);
    }
    const hName = hostName(name, namespace, this.opts.tenant);
    const key = `${this.opts.hostNamespace}/${hName}`;
    if (route.kind === 'pod') {
      hostPodName(this.opts, namespace, name);
    } else {
      const hSvc = this.opts.hostServices.get(key);
      if (!hSvc) throw new HttpError(404, 'NotFound', `services "${name}" has no copy on the host: it does not exist in namespace "${namespace}" or was not synced (see its Events)`);
      // The host name alone could be another virtual object's (names may contain "-x-").
      if (ownership(hSvc, this.opts.tenant, 'Service') !== 'ours' || virtualKeyOf(hSvc, this.opts.tenant) !== `${namespace}/${name}`) {
        throw new HttpError(400, 'BadRequest', `service "${name}" has no copy on the host: host Service ${hName} is not its copy`);
      }
    }
    const conn = await this.opts.host.connection();
    const segment = proxyId({ ...route, name: hName });
    const path = `/api/v1/namespaces/${this.opts.hostNamespace}/${resource}/${segment}/${sub}${route.rest}${queryOf(req.url ?? '')}`;
    const headers = { ...forwardable(req.headers, true), ...conn.headers };
    if (sub !== 'proxy') return { ...conn, agent: this.agent, path, headers };
    // The host API server rewrites links in a proxied HTML page, and a redirect's Location, to its
    // own proxy path, which names the host copy: those become the tenant's path again. Pages come
    // uncompressed so they can be read.
    delete headers['accept-encoding'];
    const rewrite = {
      from: `/api/v1/namespaces/${this.opts.hostNamespace}/${resource}/${segment}/proxy`,
      to: `/api/v1/namespaces/${namespace}/${resource}/${id}/proxy`,
    };
    return { ...conn, agent: this.agent, path, headers, rewrite };
  }

  /**
   * metrics.k8s.io in the tenant's OpenAPI v3 (`kubectl explain podmetrics`): the index from the
   * control plane with the group's entry taken from the host's, and the group's document from the
   * host's metrics-server (the same schema). Without a host metrics API the index stays the
   * control plane's, and the document is a 503 saying why.
   */
  private async metricsOpenApi(req: IncomingMessage, res: ServerResponse, target: Target): Promise<void> {
    const metrics = this.opts.metrics as ResourceMetrics;
    if (pathOf(req.url ?? '/') !== '/openapi/v3') {
      const doc = await metrics.openApiDocument(queryOf(req.url ?? ''));
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(doc));
      return;
    }
    const entry = await metrics.openApiEntry();
    await this.augmented(res, target, (doc) => {
      const d = doc as { paths?: Record<string, unknown> } | null;
      if (!d?.paths) return doc;
      const { [metricsOpenApiPath]: _tenants, ...paths } = d.paths;
      return { ...d, paths: entry ? { ...paths, [metricsOpenApiPath]: entry } : paths };
    });
  }

  /**
   * A document from the control plane (`/apis`, `/openapi/v3`) changed by `change`, in the JSON
   * form asked for (for `/apis` the plain APIGroupList or aggregated discovery): protobuf is not
   * offered to the control plane, so the document can be read and changed here.
   */
  private async augmented(res: ServerResponse, target: Target, change: (doc: unknown) => unknown): Promise<void> {
    const accept = String(target.headers.accept ?? 'application/json').split(',').map((a) => a.trim()).filter((a) => a && !a.includes('protobuf'));
    const headers = { ...target.headers, accept: accept.length ? accept.join(',') : 'application/json' };
    delete headers['if-none-match'];
    delete headers['accept-encoding'];
    const answer = await buffered({ ...target, headers }, 'GET', Buffer.alloc(0));
    let body = answer.body;
    if (answer.status === 200) {
      try {
        body = Buffer.from(JSON.stringify(change(JSON.parse(body.toString('utf8')))));
      } catch {
        // Not JSON after all: passed on as it came.
      }
    }
    const out: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined && !['etag', 'content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(k)) out[k] = v;
    res.writeHead(answer.status, out).end(body);
  }

  /**
   * metrics.k8s.io: discovery for any authenticated user; pod and node metrics when the tenant's
   * RBAC allows get or list on pods.metrics.k8s.io or nodes.metrics.k8s.io, as kube-apiserver checks
   * them. The metrics API has no watch and no writes.
   */
  private async serveMetrics(req: IncomingMessage, res: ServerResponse, user: UserInfo, route: MetricsRoute | { kind: 'unknown'; message: string }): Promise<void> {
    const json = (code: number, doc: unknown): void => void res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(doc));
    if (route.kind === 'unknown') throw new HttpError(404, 'NotFound', route.message);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource: ${metricsGroup} is read-only (get and list)`);
    if (route.kind === 'group') return json(200, metricsApiGroup);
    if (route.kind === 'resources') return json(200, metricsResourceList);
    const query = new URLSearchParams(queryOf(req.url ?? '').slice(1));
    if (query.get('watch') === 'true' || query.get('watch') === '1') throw new HttpError(405, 'MethodNotAllowed', `${metricsGroup} does not support watch; poll with get or list`);
    const labelSelector = query.get('labelSelector') ?? undefined;
    const namespace = route.kind === 'pods' ? route.namespace : undefined;
    const verb = route.name === undefined ? 'list' : 'get';
    const attrs = { group: metricsGroup, resource: route.kind, verb, ...(namespace ? { namespace } : {}), ...(route.name ? { name: route.name } : {}) };
    if (!(await this.allowed(user, attrs))) {
      const where = namespace ? ` in the namespace "${namespace}"` : ' at the cluster scope';
      throw new HttpError(403, 'Forbidden', `${route.kind}.${metricsGroup}${route.name ? ` "${route.name}"` : ''} is forbidden: User "${user.username}" cannot ${verb} resource "${route.kind}" in API group "${metricsGroup}"${where}`);
    }
    const metrics = this.opts.metrics as ResourceMetrics;
    const fieldSelector = query.get('fieldSelector') ?? undefined;
    if (route.kind === 'nodes' && fieldSelector) throw new HttpError(400, 'BadRequest', 'field selectors are not supported on nodes.metrics.k8s.io; select nodes by label');
    const includeObject = query.get('includeObject');
    if (includeObject !== null && !['None', 'Metadata', 'Object'].includes(includeObject)) throw new HttpError(400, 'BadRequest', `includeObject ${JSON.stringify(includeObject)} is not one of None, Metadata, Object`);
    const doc = route.kind === 'pods' ? await metrics.pods(namespace, route.name, labelSelector, fieldSelector) : await metrics.nodes(route.name, labelSelector);
    // kubectl get asks for a Table: the columns metrics-server gives.
    const table = tableVersion(req.headers.accept);
    json(200, table ? metricsTable(doc, table, includeObject) : doc);
  }

  /**
   * A write that could store a webhook URL: tried first as a dry run, and refused when the object
   * it would store dials a URL. Such writes go one at a time, so nothing changes the object
   * between the check and the write (the front door is the tenant's only way in).
   */
  private async guardedWrite(req: IncomingMessage, res: ServerResponse, target: Target): Promise<void> {
    const body = await readBody(req, maxGuardedBody);
    const turn = this.guardedWrites.then(async () => {
      const sep = target.path.includes('?') ? '&' : '?';
      const dry = await buffered({ ...target, path: `${target.path}${sep}dryRun=All`, headers: { ...target.headers, accept: 'application/json' } }, req.method ?? 'POST', body);
      if (dry.status < 300) {
        let stored: unknown;
        try {
          stored = JSON.parse(dry.body.toString('utf8'));
        } catch {
          stored = undefined;
        }
        const fields = webhookUrls(stored);
        if (fields.length > 0) throw new HttpError(403, 'Forbidden', webhookRefusal(fields));
      }
      await forward(req, res, target, body);
    });
    this.guardedWrites = turn.catch(() => undefined);
    await turn;
  }

}

/** Largest body of a checked write (the API server's own limit is 3 MiB). */
const maxGuardedBody = 3 * 1024 * 1024;

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new HttpError(413, 'RequestEntityTooLarge', `the request body is larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

