// Kubernetes API errors: the Status an API server answers with, and the checks callers make on it.
export interface Status {
  kind?: 'Status';
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; causes?: Array<{ field?: string; message?: string; reason?: string }> };
}

export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly details: Status['details'];

  constructor(message: string, status: number, reason: string, details?: Status['details']) {
    super(message);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
    this.details = details;
  }

  static fromResponse(method: string, path: string, status: number, body: string): KubeApiError {
    let parsed: Status | undefined;
    try {
      parsed = JSON.parse(body) as Status;
    } catch {
      // not a Status
    }
    if (parsed?.kind === 'Status') return KubeApiError.fromStatus(method, path, { ...parsed, code: parsed.code ?? status });
    return new KubeApiError(`${method} ${path}: HTTP ${status}: ${body.slice(0, 300)}`, status, '');
  }

  static fromStatus(method: string, path: string, s: Status): KubeApiError {
    return new KubeApiError(`${method} ${path}: ${s.code ?? 0} ${s.reason ?? ''}: ${s.message ?? ''}`, s.code ?? 0, s.reason ?? '', s.details);
  }
}

const statusOf = (err: unknown): number => (err instanceof KubeApiError ? err.status : 0);

export const isNotFound = (err: unknown): boolean => statusOf(err) === 404;
export const isConflict = (err: unknown): boolean => statusOf(err) === 409 && (err as KubeApiError).reason === 'Conflict';
export const isAlreadyExists = (err: unknown): boolean => statusOf(err) === 409 && (err as KubeApiError).reason === 'AlreadyExists';
export const isGone = (err: unknown): boolean => statusOf(err) === 410;
export const isInvalid = (err: unknown): boolean => statusOf(err) === 422;
export const isForbidden = (err: unknown): boolean => statusOf(err) === 403;
/**
 * A refusal that lasts only while the namespace is full or busy: a ResourceQuota exceeded (or not
 * yet counted by the quota controller), or a namespace being terminated. Forbidden (403), but not
 * for good: Kubernetes' own controllers retry it, and so must ours (a quota raised or a pod gone
 * frees room without any change to the object that was refused).
 */
export const isTransientForbidden = (err: unknown): boolean =>
  statusOf(err) === 403 && /exceeded quota|status unknown for quota|is being terminated/.test((err as KubeApiError).message);
/** A 4xx other than conflicts, throttling and transient refusals: retrying the same request will not help. */
export const isTerminal = (err: unknown): boolean => {
  const s = statusOf(err);
  return s >= 400 && s < 500 && s !== 409 && s !== 429 && s !== 404 && !isTransientForbidden(err);
};

const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET']);

/**
 * An API that cannot answer for now: no connection, a cut or timed-out request, a server error
 * (5xx), throttling (429) or a transient refusal. Trying the same request later may succeed.
 */
export function isUnavailable(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof KubeApiError) return e.status >= 500 || e.status === 429 || isTransientForbidden(e);
    const code = (e as NodeJS.ErrnoException).code;
    if (code && networkCodes.has(code)) return true;
    if (/timed out after \d+ ms|socket hang up/.test(e.message)) return true;
  }
  return false;
}
