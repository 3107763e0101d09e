// Free loopback ports. An allocator never hands out the same port twice, so several environments
// started by one process do not race each other for a port.
import { createServer } from 'node:net';

export class PortAllocator {
  private readonly given = new Set<number>();

  async next(): Promise<number> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = await probeFreePort();
      if (!this.given.has(port)) {
        this.given.add(port);
        return port;
      }
    }
    throw new Error('could not find a free loopback port after 50 attempts');
  }
}

function probeFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port from listen(0)'));
      });
    });
  });
}

/** True when nothing listens on 127.0.0.1:`port`. */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
