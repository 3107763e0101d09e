// The kubelet API of every virtual node, as the tenant's control plane sees it through its egress
// (egress.ts): exec, attach, port-forward and container logs of a virtual pod are the same
// requests on its host copy, sent with the syncer's host credentials. The control plane has
// authorised and admitted the request before it dials (a tenant's own admission webhooks see
// `CONNECT pods/exec`); this end only checks that the pod is the tenant's and has a host copy.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent } from 'node:https';
import type { Duplex } from 'node:stream';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import type { Informer } from '../kube/informer.ts';
import { ownership } from '../translate/metadata.ts';
import { hostName } from '../translate/names.ts';
import { HttpError } from './http-error.ts';
import { forward, forwardable, status, tunnel, type Target } from './upstream.ts';

export interface PodCopies {
  tenant: string;
  hostNamespace: string;
  virtualPods: Informer<KubeObject>;
  hostPods: Informer<KubeObject>;
}

/** The name of virtual pod `namespace/name`'s host copy: 404 when there is no such pod, 400 when it has no copy yet. */
export function hostPodName(copies: PodCopies, namespace: string, name: string, uid?: string): string {
  const hName = hostName(name, namespace, copies.tenant);
  const vPod = copies.virtualPods.get(`${namespace}/${name}`);
  const hPod = copies.hostPods.get(`${copies.hostNamespace}/${hName}`);
  if (!vPod || (uid !== undefined && vPod.metadata.uid !== uid)) throw new HttpError(404, 'NotFound', `pods "${name}" not found`);
  if (!hPod || ownership(hPod, copies.tenant, 'Pod', vPod.metadata.uid) !== 'ours') {
    throw new HttpError(400, 'BadRequest', `pod "${name}" has no running copy yet; try again when it is Running`);
  }
  return hName;
}

/** A kubelet request, by path: what it asks of which pod. */
export type KubeletRoute =
  | { kind: 'healthz' }
  | { kind: 'exec' | 'attach' | 'log'; namespace: string; pod: string; uid?: string; container: string }
  | { kind: 'portforward'; namespace: string; pod: string; uid?: string };

const segment = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** The kubelet paths the API server dials (pkg/registry/core/pod/strategy.go), in their plain form only. */
export function classifyKubeletPath(url: string): KubeletRoute | undefined {
  const path = url.split('?')[0] ?? '';
  if (path === '/healthz') return { kind: 'healthz' };
  const parts = path.split('/').slice(1);
  if (!parts.slice(1).every((p) => segment.test(p))) return undefined;
  const [head, namespace = '', pod = '', ...rest] = parts;
  const kinds: Record<string, 'exec' | 'attach' | 'log'> = { exec: 'exec', attach: 'attach', containerLogs: 'log' };
  const kind = kinds[head ?? ''];
  if (kind && rest.length === 1) return { kind, namespace, pod, container: rest[0] as string };
  if ((kind === 'exec' || kind === 'attach') && rest.length === 2) return { kind, namespace, pod, uid: rest[0] as string, container: rest[1] as string };
  if (head === 'portForward' && rest.length <= 1) return { kind: 'portforward', namespace, pod, ...(rest[0] ? { uid: rest[0] } : {}) };
  return undefined;
}

/** Log options the API server passes on, by the names both it and the kubelet use. */
const logParams = ['follow', 'previous', 'timestamps', 'sinceSeconds', 'sinceTime', 'tailLines', 'limitBytes', 'stream'];

/** The kubelet's query (input=1, port=80,443) as the pod subresource's (stdin=true, ports=80&ports=443). */
export function hostQuery(route: Exclude<KubeletRoute, { kind: 'healthz' }>, query: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams();
  if (route.kind === 'portforward') {
    for (const p of query.getAll('port').flatMap((v) => v.split(','))) if (p.trim()) out.append('ports', p.trim());
    return out;
  }
  out.set('container', route.container);
  if (route.kind === 'log') {
    for (const k of logParams) for (const v of query.getAll(k)) out.append(k, v);
    return out;
  }
  const flags: Array<[string, string]> = [['input', 'stdin'], ['output', 'stdout'], ['error', 'stderr'], ['tty', 'tty']];
  for (const [kubelet, api] of flags) if (['1', 'true'].includes(query.get(kubelet) ?? '')) out.set(api, 'true');
  if (route.kind === 'exec') for (const c of query.getAll('command')) out.append('command', c);
  return out;
}

export class KubeletApi {
  private readonly copies: PodCopies;
  private readonly host: KubeClient;
  /** Streams of its own (logs -f holds a connection), apart from the syncer's bounded pool. */
  private readonly agent = new Agent({ keepAlive: true });

  constructor(copies: PodCopies, host: KubeClient) {
    this.copies = copies;
    this.host = host;
  }

  /** A plain request: container logs (and health). */
  async request(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const route = this.route(req);
      if (route.kind === 'healthz') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
        return;
      }
      if (route.kind !== 'log') throw new HttpError(400, 'BadRequest', `${route.kind} needs a connection upgrade (SPDY or WebSocket)`);
      await forward(req, res, await this.target(req, route));
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(502, 'BadGateway', `the host did not answer: ${(err as Error).message}`);
      if (!res.headersSent) res.writeHead(e.code, { 'Content-Type': 'application/json' });
      res.end(status(e.code, e.reason, e.message));
    }
  }

  /** An upgrade: exec, attach or port-forward, piped to the host copy's once the host switches. */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    try {
      const route = this.route(req);
      if (route.kind === 'healthz' || route.kind === 'log') throw new HttpError(400, 'BadRequest', `${req.url ?? ''} does not upgrade the connection`);
      await tunnel(req, socket, head, await this.target(req, route));
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(502, 'BadGateway', `the host did not answer: ${(err as Error).message}`);
      socket.end(`HTTP/1.1 ${e.code} ${e.reason}\r\nContent-Type: application/json\r\n\r\n${status(e.code, e.reason, e.message)}`);
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private route(req: IncomingMessage): KubeletRoute {
    const route = classifyKubeletPath(req.url ?? '/');
    if (!route) throw new HttpError(404, 'NotFound', `a virtual node serves exec, attach, port-forward and container logs only; ${req.url ?? ''} is not one of them`);
    return route;
  }

  private async target(req: IncomingMessage, route: Exclude<KubeletRoute, { kind: 'healthz' }>): Promise<Target> {
    const hName = hostPodName(this.copies, route.namespace, route.pod, route.uid);
    const query = hostQuery(route, new URLSearchParams((req.url ?? '').split('?')[1] ?? ''));
    const sub = route.kind === 'portforward' ? 'portforward' : route.kind;
    const conn = await this.host.connection();
    const qs = query.toString();
    return {
      ...conn,
      agent: this.agent,
      path: `/api/v1/namespaces/${this.copies.hostNamespace}/pods/${hName}/${sub}${qs ? `?${qs}` : ''}`,
      headers: { ...forwardable(req.headers, true), ...conn.headers },
    };
  }
}
