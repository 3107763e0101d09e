// Shared integration-test plumbing: start an environment once per file, print component logs when a
// test fails, and always stop what was started.
import { spawn } from 'node:child_process';
import { connect, createServer, type Server } from 'node:net';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { loadKit, type Kit } from '../src/local/kit.ts';
import { PortAllocator } from '../src/local/ports.ts';
import { waitFor } from '../src/local/wait.ts';

export interface Stoppable {
  stop(): Promise<void>;
  logTails(lines?: number): string;
}

export interface Environment<T extends Stoppable> {
  /** The started environment; valid inside tests. */
  readonly current: T;
}

/** One allocator per test file, so environments started together never share a port. */
export const ports = new PortAllocator();

export function kit(): Promise<Kit> {
  return loadKit();
}

/**
 * Starts `start()` before the file's tests and stops it after them, also when tests fail. When a
 * test fails, the tails of every component log are printed.
 */
export function useEnvironment<T extends Stoppable>(start: () => Promise<T>): Environment<T> {
  let env: T | undefined;
  beforeAll(async () => {
    env = await start();
  });
  afterEach((ctx) => {
    if (env && ctx.task.result?.state === 'fail') console.error(`component logs:\n${env.logTails(60)}`);
  });
  afterAll(async () => {
    await env?.stop();
  });
  return {
    get current(): T {
      if (!env) throw new Error('environment not started');
      return env;
    },
  };
}

/** A TCP server that answers every connection with `greeting`: a stand-in container port. */
export function greeter(greeting: string): Promise<Server & { port: number }> {
  return new Promise((resolve) => {
    const server = createServer((socket) => socket.end(greeting));
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(Object.assign(server, { port: typeof address === 'object' && address ? address.port : 0 }));
    });
  });
}

/**
 * Runs `kubectl port-forward <target> <local>:<remote>` and returns the first `length` bytes a
 * connection through it receives. (Port-forward streams do not always pass the target's half-close
 * on, so it stops at the expected length.)
 */
export async function readThroughPortForward(kubectl: string, kubeconfig: string, args: string[], remotePort: number, length: number): Promise<string> {
  const localPort = await ports.next();
  const child = spawn(kubectl, [`--kubeconfig=${kubeconfig}`, 'port-forward', ...args, `${localPort}:${remotePort}`]);
  try {
    let said = '';
    child.stdout.on('data', (d: Buffer) => (said += d.toString()));
    child.stderr.on('data', (d: Buffer) => (said += d.toString()));
    await waitFor('kubectl port-forward to listen', async () => said.includes('Forwarding from 127.0.0.1'), {
      timeoutMs: 30_000,
      check: () => {
        if (child.exitCode !== null) throw new Error(`kubectl port-forward exited: ${said}`);
      },
    });
    return await new Promise<string>((resolve, reject) => {
      let data = '';
      const socket = connect(localPort, '127.0.0.1');
      socket.setTimeout(10_000, () => socket.destroy(new Error(`no reply through port-forward; kubectl said: ${said}`)));
      socket.on('data', (chunk) => {
        data += chunk.toString();
        if (data.length >= length) {
          socket.destroy();
          resolve(data);
        }
      });
      socket.on('error', reject);
    });
  } finally {
    child.kill('SIGTERM');
  }
}
