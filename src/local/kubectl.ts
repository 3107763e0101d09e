// Runs the kit's kubectl (the pinned version) against a kubeconfig; the real client for tests and
// for local mode's own set-up steps.
import { execFile } from 'node:child_process';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Runs kubectl and resolves with its exit code and output; never rejects on a non-zero exit. */
export function runKubectl(kubectl: string, kubeconfig: string, args: string[], opts: KubectlOptions = {}): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      kubectl,
      [`--kubeconfig=${kubeconfig}`, ...args],
      { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20, env: opts.env ?? process.env },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(new Error(`kubectl ${args.join(' ')} failed to run: ${err.message}`, { cause: err }));
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
    child.stdin?.end(opts.input ?? '');
  });
}

/** Like runKubectl, but throws with kubectl's stderr on a non-zero exit. */
export async function kubectlOk(kubectl: string, kubeconfig: string, args: string[], opts: KubectlOptions = {}): Promise<string> {
  const res = await runKubectl(kubectl, kubeconfig, args, opts);
  if (res.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${res.code}: ${res.stderr.trim()}`);
  return res.stdout;
}
