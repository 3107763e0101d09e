// A loopback TCP proxy between the syncer and one API server, which the chaos harness can make
// misbehave: stall (stop forwarding in both directions, and hold new connections, until resumed)
// or reset (end every open connection with a TCP reset, cutting watch streams mid-event). TLS
// passes through untouched: the syncer's kubeconfig names the proxy's address, which the API
// server's certificate covers (127.0.0.1).
import { connect, createServer, type Server, type Socket } from 'node:net';

export class FaultyProxy {
  readonly name: string;
  private readonly target: { host: string; port: number };
  private server: Server | undefined;
  private readonly pairs = new Set<[Socket, Socket]>();
  private stalled = false;
  private readonly held: Array<() => void> = [];
  port = 0;
  /** Connections reset so far. */
  resets = 0;

  constructor(name: string, target: { host: string; port: number }) {
    this.name = name;
    this.target = target;
  }

  async listen(): Promise<number> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this.port;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined);
    const open = () => {
      if (client.destroyed) return;
      const upstream = connect(this.target.port, this.target.host);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      const forget = () => this.pairs.delete(pair);
      client.on('close', () => { forget(); upstream.destroy(); });
      upstream.on('close', () => { forget(); client.destroy(); });
      client.pipe(upstream);
      upstream.pipe(client);
      if (this.stalled) {
        client.pause();
        upstream.pause();
      }
    };
    if (this.stalled) this.held.push(open);
    else open();
  }

  /** Stops forwarding: open connections go silent both ways, new ones wait. */
  stall(): void {
    this.stalled = true;
    for (const [a, b] of this.pairs) {
      a.unpipe(b);
      b.unpipe(a);
      a.pause();
      b.pause();
    }
  }

  /** Forwards again (what waited is delivered). */
  resume(): void {
    if (!this.stalled) return;
    this.stalled = false;
    for (const [a, b] of this.pairs) {
      a.pipe(b);
      b.pipe(a);
    }
    for (const open of this.held.splice(0)) open();
  }

  /** Resets every open connection (RST both ways). */
  reset(): void {
    for (const [a, b] of [...this.pairs]) {
      this.resets++;
      a.resetAndDestroy();
      b.resetAndDestroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.resume();
    this.reset();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
