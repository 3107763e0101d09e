// The tenant control plane's only way out: kube-apiserver's egress selector ("cluster": kubelets,
// webhooks, aggregated APIs, pod and service proxy) sends HTTP CONNECT over a Unix socket here.
// - A virtual node's kubelet address is answered here, by the kubelet API of kubelet.ts: exec,
//   attach and port-forward go through the tenant's API server, which authorises and admits them
//   (its own webhooks see CONNECT pods/exec) before dialing.
// - The IP of one of this tenant's host pods or Services is dialed: webhooks and aggregated APIs.
// - Anything else is refused. The addresses the control plane resolves are the tenant's to write
//   (hand-written Endpoints, ExternalName Services, node addresses), so without this a tenant could
//   aim its control plane at the host's API server, a kubelet, or another tenant's pods.
import { chmod, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect, isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { KubeObject } from '../kube/client.ts';
import type { Informer } from '../kube/informer.ts';
import type { KeyPairPem } from '../pki/certs.ts';
import type { KubeletApi } from './kubelet.ts';

/** kube-apiserver's --kubelet-port default: the port of a node that names none in its status. */
export const defaultKubeletPort = 10250;

type NodeLike = KubeObject & { status?: { addresses?: Array<{ address?: string }>; daemonEndpoints?: { kubeletEndpoint?: { Port?: number } } } };
type PodLike = KubeObject & { spec?: { hostNetwork?: boolean }; status?: { podIP?: string; podIPs?: Array<{ ip?: string }> } };
type ServiceLike = KubeObject & { spec?: { clusterIP?: string; clusterIPs?: string[] } };

export interface EgressView {
  nodes: readonly NodeLike[];
  pods: readonly PodLike[];
  services: readonly ServiceLike[];
}

export type EgressVerdict = { kind: 'kubelet' } | { kind: 'dial' } | { kind: 'refuse'; reason: string };

/** What a CONNECT to `host:port` gets, from the tenant's nodes and its host pods and Services. */
export function egressVerdict(host: string, port: number, view: EgressView): EgressVerdict {
  const kubelet = view.nodes.some((n) => (n.status?.daemonEndpoints?.kubeletEndpoint?.Port || defaultKubeletPort) === port
    && (n.status?.addresses ?? []).some((a) => a.address === host));
  if (kubelet) return { kind: 'kubelet' };
  if (isIP(host)) {
    // A host-network pod's IP is its node's: not the tenant's to dial.
    const pod = view.pods.some((p) => !p.spec?.hostNetwork && [p.status?.podIP, ...(p.status?.podIPs ?? []).map((i) => i.ip)].includes(host));
    const service = view.services.some((s) => [s.spec?.clusterIP, ...(s.spec?.clusterIPs ?? [])].includes(host));
    if (pod || service) return { kind: 'dial' };
  }
  return {
    kind: 'refuse',
    reason: `${host}:${port} is not a pod or Service of this tenant, nor the kubelet of one of its nodes; webhooks, aggregated APIs and proxies may reach only the tenant's own pods and Services`,
  };
}

/** `host:port` of a CONNECT request (IPv6 in brackets). */
export function connectTarget(authority: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(authority);
  const port = Number(m?.[3]);
  if (!m || !(port > 0 && port < 65536)) return undefined;
  return { host: (m[1] ?? m[2]) as string, port };
}

export interface EgressOptions {
  socketPath: string;
  kubelet: KubeletApi;
  /** The certificate the virtual nodes' kubelet endpoint presents (the API server does not verify it unless told to). */
  serving: KeyPairPem;
  virtualNodes: Informer<KubeObject>;
  hostPods: Informer<KubeObject>;
  hostServices: Informer<KubeObject>;
  log: Logger;
}

export class EgressProxy {
  private readonly opts: EgressOptions;
  private readonly server: HttpServer;
  private readonly kubeletServer: HttpsServer;
  /** Open tunnels, ended on close (they left the HTTP server's tracking when they connected). */
  private readonly tunnels = new Set<Duplex>();
  /** Connections answered, by verdict. */
  readonly answers: Record<string, number> = {};

  constructor(opts: EgressOptions) {
    this.opts = opts;
    this.kubeletServer = createHttpsServer({ cert: opts.serving.certPem, key: opts.serving.keyPem });
    this.kubeletServer.on('request', (req: IncomingMessage, res: ServerResponse) => void opts.kubelet.request(req, res));
    this.kubeletServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void opts.kubelet.upgrade(req, socket, head));
    this.kubeletServer.on('tlsClientError', (err: Error) => opts.log.debug({ err: err.message }, 'kubelet endpoint: TLS handshake failed'));
    this.server = createHttpServer((_req, res) => {
      res.writeHead(405, { 'Content-Type': 'text/plain' }).end('this is the tenant control plane\'s egress proxy: CONNECT only\n');
    });
    this.server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.connect(req, socket, head));
  }

  async listen(): Promise<void> {
    await rm(this.opts.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.socketPath, () => resolve());
    });
    // The API server may run as another user (the chart's containers share only this socket's folder).
    await chmod(this.opts.socketPath, 0o666);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    for (const socket of this.tunnels) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  setServingCertificate(serving: KeyPairPem): void {
    this.kubeletServer.setSecureContext({ cert: serving.certPem, key: serving.keyPem });
  }

  private count(answer: string): void {
    this.answers[answer] = (this.answers[answer] ?? 0) + 1;
  }

  private connect(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    this.tunnels.add(socket);
    socket.on('close', () => this.tunnels.delete(socket));
    const target = connectTarget(req.url ?? '');
    if (!target) {
      this.count('refused');
      socket.end(`HTTP/1.1 400 Bad Request\r\n\r\nCONNECT needs host:port, not ${JSON.stringify(req.url)}\n`);
      return;
    }
    const verdict = egressVerdict(target.host, target.port, {
      nodes: this.opts.virtualNodes.list(), pods: this.opts.hostPods.list(), services: this.opts.hostServices.list(),
    });
    this.count(verdict.kind === 'refuse' ? 'refused' : verdict.kind);
    if (verdict.kind === 'refuse') {
      this.opts.log.warn({ target: req.url }, 'refused a connection of the tenant\'s control plane');
      // The API server's error shows the status line only: the reason is said there.
      socket.end(`HTTP/1.1 403 Forbidden by vnest: ${verdict.reason}\r\nContent-Type: text/plain\r\n\r\n${verdict.reason}\n`);
      return;
    }
    if (verdict.kind === 'kubelet') {
      socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
      if (head.length) socket.unshift(head);
      this.kubeletServer.emit('connection', socket);
      return;
    }
    const upstream = connect({ host: target.host, port: target.port });
    let opened = false;
    upstream.once('connect', () => {
      opened = true;
      socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', (err) => {
      if (!opened) socket.end(`HTTP/1.1 502 Bad Gateway: ${err.message}\r\nContent-Type: text/plain\r\n\r\n${target.host}:${target.port}: ${err.message}\n`);
      else socket.destroy();
    });
    upstream.on('close', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
  }
}
