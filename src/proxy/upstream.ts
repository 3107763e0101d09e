// Requests passed on to an API server as they come: plain ones streamed (watches and logs -f),
// upgrades (exec, attach, port-forward) piped byte for byte once the upstream has switched.
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { type Agent, request } from 'node:https';
import type { Duplex } from 'node:stream';

export interface Target {
  server: string;
  path: string;
  headers: OutgoingHttpHeaders;
  tls: Record<string, unknown>;
  agent?: Agent;
  /** A proxied answer's host proxy path, replaced in its HTML and its Location header by the tenant's. */
  rewrite?: { from: string; to: string };
}

const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'host', 'authorization']);

export function status(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

/** Headers to pass on: the client's, minus hop-by-hop ones, credentials and impersonation. */
export function forwardable(headers: IncomingHttpHeaders, keepUpgrade: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    const key = k.toLowerCase();
    if (v === undefined || key.startsWith('impersonate-')) continue;
    if (hopByHop.has(key) && !(keepUpgrade && key === 'connection')) continue;
    out[k] = v;
  }
  return out;
}

/** Streams a plain request (or a body read before) and its answer (watches and logs -f included). */
export async function forward(req: IncomingMessage, res: ServerResponse, t: Target, body?: Buffer): Promise<void> {
  try {
    await forwardOnce(req, res, t, body);
  } catch (err) {
    // A kept-alive upstream connection closed as it was reused: the read never reached the API
    // server, so it is sent again on a new connection (a read has no body left to replay).
    if (req.method !== 'GET' || res.headersSent || !(err as { reused?: boolean }).reused) throw err;
    await forwardOnce(req, res, t, body);
  }
}

function forwardOnce(req: IncomingMessage, res: ServerResponse, t: Target, body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = request(`${t.server}${t.path}`, { method: req.method, headers: t.headers, agent: t.agent, ...t.tls }, (upstream) => {
      if (t.rewrite) {
        const { from, to } = t.rewrite;
        const location = upstream.headers.location;
        if (location) upstream.headers.location = location.replaceAll(from, to);
        const html = req.method !== 'HEAD' && String(upstream.headers['content-type'] ?? '').startsWith('text/html') && !upstream.headers['content-encoding'];
        if (html) {
          const chunks: Buffer[] = [];
          upstream.on('data', (c: Buffer) => chunks.push(c));
          upstream.on('end', () => {
            const page = Buffer.from(Buffer.concat(chunks).toString('utf8').replaceAll(from, to));
            const headers = { ...upstream.headers, 'content-length': String(page.length) };
            delete headers['transfer-encoding'];
            res.writeHead(upstream.statusCode ?? 502, upstream.statusMessage, headers).end(page);
            resolve();
          });
          upstream.on('error', reject);
          return;
        }
      }
      res.writeHead(upstream.statusCode ?? 502, upstream.statusMessage, upstream.headers);
      // Node holds headers back until the first body byte: a watch that matches nothing yet
      // would never open for its client (client-go waits for the headers without a timeout).
      res.flushHeaders();
      upstream.pipe(res);
      upstream.on('end', () => resolve());
      upstream.on('error', reject);
    });
    out.on('error', (err: NodeJS.ErrnoException) => reject(Object.assign(err, { reused: out.reusedSocket && err.code === 'ECONNRESET' })));
    res.on('close', () => out.destroy());
    if (body) out.end(body);
    else if (req.readableEnded) out.end();
    else req.pipe(out);
  });
}

/** Forwards an upgrade (SPDY or WebSocket) and then pipes raw bytes both ways. */
export function tunnel(req: IncomingMessage, socket: Duplex, head: Buffer, t: Target): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = request(`${t.server}${t.path}`, { method: req.method, headers: t.headers, ...t.tls });
    out.on('upgrade', (upstream, upstreamSocket, upstreamHead) => {
      const lines = [`HTTP/1.1 ${upstream.statusCode ?? 101} ${upstream.statusMessage ?? 'Switching Protocols'}`];
      for (let i = 0; i < upstream.rawHeaders.length; i += 2) lines.push(`${upstream.rawHeaders[i]}: ${upstream.rawHeaders[i + 1]}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (upstreamHead.length) socket.write(upstreamHead);
      if (head.length) upstreamSocket.write(head);
      upstreamSocket.pipe(socket);
      socket.pipe(upstreamSocket);
      const end = () => {
        upstreamSocket.destroy();
        socket.destroy();
      };
      upstreamSocket.on('error', end);
      socket.on('error', end);
      upstreamSocket.on('close', end);
      socket.on('close', end);
      resolve();
    });
    out.on('response', (upstream) => {
      // The host refused the upgrade: pass its answer on as it is.
      const lines = [`HTTP/1.1 ${upstream.statusCode ?? 502} ${upstream.statusMessage ?? ''}`];
      for (let i = 0; i < upstream.rawHeaders.length; i += 2) lines.push(`${upstream.rawHeaders[i]}: ${upstream.rawHeaders[i + 1]}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      upstream.pipe(socket);
      resolve();
    });
    out.on('error', reject);
    out.end();
  });
}

/** One request with a body, its whole answer read. */
export function buffered(t: Target, method: string, body: Buffer): Promise<{ status: number; body: Buffer; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const out = request(`${t.server}${t.path}`, { method, headers: t.headers, agent: t.agent, ...t.tls }, (upstream) => {
      const chunks: Buffer[] = [];
      upstream.on('data', (c: Buffer) => chunks.push(c));
      upstream.on('end', () => resolve({ status: upstream.statusCode ?? 502, body: Buffer.concat(chunks), headers: upstream.headers }));
      upstream.on('error', reject);
    });
    out.on('error', reject);
    out.end(body);
  });
}
