// A stand-in npm registry for image builds: build containers have no route off this machine, so
// their `npm ci` asks this server, which fetches what they ask for from the registry this machine
// uses (`npm config get registry`) and keeps it on disk, so a second build needs no network.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';

export interface NpmRegistryStandIn {
  url: string;
  /** Requests answered from the disk cache and from upstream. */
  stats: { cached: number; fetched: number; failed: number };
  close(): Promise<void>;
}

/**
 * Serves GET requests under `address:port` from `cacheDir`, filling it from `upstream`. Package
 * documents (whose tarball URLs name the upstream) are rewritten to name this server.
 */
export async function startNpmRegistry(opts: { address: string; port: number; upstream: string; cacheDir: string }): Promise<NpmRegistryStandIn> {
  const upstream = opts.upstream.endsWith('/') ? opts.upstream : `${opts.upstream}/`;
  const self = `http://${opts.address}:${opts.port}/`;
  await mkdir(opts.cacheDir, { recursive: true });
  const stats = { cached: 0, fetched: 0, failed: 0 };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').replace(/^\/+/, '');
      if (req.method !== 'GET' || path.includes('..')) {
        res.writeHead(405).end();
        return;
      }
      const isTarball = path.endsWith('.tgz');
      const file = join(opts.cacheDir, createHash('sha256').update(path).digest('hex') + (isTarball ? '.tgz' : '.json'));
      let body: Buffer;
      if (existsSync(file)) {
        body = await readFile(file);
        stats.cached++;
      } else {
        const up = await fetch(upstream + path, { headers: isTarball ? {} : { accept: 'application/json' } });
        if (!up.ok) {
          stats.failed++;
          res.writeHead(up.status, { 'content-type': 'text/plain' }).end(`upstream: ${up.status}`);
          return;
        }
        body = Buffer.from(await up.arrayBuffer());
        // Package documents are not cached: they change when packages are published.
        if (isTarball) {
          await writeFile(`${file}.tmp`, body);
          await rename(`${file}.tmp`, file);
        }
        stats.fetched++;
      }
      if (!isTarball) body = Buffer.from(body.toString('utf8').split(upstream).join(self));
      res.writeHead(200, { 'content-type': isTarball ? 'application/octet-stream' : 'application/json', 'content-length': body.length }).end(body);
    })().catch((err: unknown) => {
      stats.failed++;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`stand-in registry: ${(err as Error).message}`);
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(opts.port, opts.address, () => resolve()));
  return {
    url: self,
    stats,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
