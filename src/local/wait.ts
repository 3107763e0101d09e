// Polling until a condition holds, failing fast when a component it depends on has died.
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Called before every attempt; throws to abort (for example when a process exited). */
  check?: () => void;
}

/** Calls `probe` until it returns a value other than undefined/false, or times out. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, opts: WaitOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    opts.check?.();
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}${why}`, { cause: lastError });
    }
    await sleep(opts.intervalMs ?? 250);
  }
}

export interface TlsClient {
  caPem?: string;
  certPem?: string;
  keyPem?: string;
  /** Skip server verification (self-signed component endpoints such as /healthz). */
  insecure?: boolean;
}

/** GET over HTTPS; resolves with status and body. */
export function httpsGet(url: string, tls: TlsClient, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        ca: tls.caPem,
        cert: tls.certPem,
        key: tls.keyPem,
        rejectUnauthorized: !tls.insecure,
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
