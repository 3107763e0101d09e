import { describe, expect, it } from 'vitest';
import { isTerminal, isTransientForbidden, isUnavailable, KubeApiError } from './errors.ts';

const status = (code: number, reason: string, message: string) => KubeApiError.fromStatus('POST', '/api/v1/namespaces/t/pods', { kind: 'Status', code, reason, message });

describe('isTerminal', () => {
  it('does not give up on a host quota that refuses a create for now (found by the chaos run, seed 2)', () => {
    const quota = status(403, 'Forbidden', 'pods "p-x-a-x-t" is forbidden: exceeded quota: q, requested: pods=1, used: pods=4, limited: pods=0');
    expect(isTransientForbidden(quota)).toBe(true);
    expect(isTerminal(quota)).toBe(false);
    expect(isTerminal(status(403, 'Forbidden', 'configmaps "c" is forbidden: status unknown for quota: q, resources: configmaps'))).toBe(false);
    expect(isTerminal(status(403, 'Forbidden', 'unable to create new content in namespace t because it is being terminated'))).toBe(false);
  });

  it('still gives up on a refusal that retrying cannot change', () => {
    expect(isTerminal(status(403, 'Forbidden', 'pods is forbidden: User "x" cannot create resource "pods"'))).toBe(true);
    expect(isTerminal(status(422, 'Invalid', 'spec.containers: Required value'))).toBe(true);
    expect(isTerminal(status(409, 'Conflict', 'the object has been modified'))).toBe(false);
    expect(isTerminal(status(500, 'InternalError', 'failed calling webhook'))).toBe(false);
  });
});

describe('isUnavailable', () => {
  const network = (code: string) => new Error(`GET /api/v1/namespaces/t/services/t: connect ${code}`, { cause: Object.assign(new Error(`connect ${code}`), { code }) });

  it('is true while an API cannot answer: no connection, a server error, throttling', () => {
    expect(isUnavailable(network('ECONNREFUSED'))).toBe(true);
    expect(isUnavailable(network('ECONNRESET'))).toBe(true);
    expect(isUnavailable(new Error('GET /api: timed out after 30000 ms'))).toBe(true);
    expect(isUnavailable(status(503, 'ServiceUnavailable', 'etcdserver: leader changed'))).toBe(true);
    expect(isUnavailable(status(429, 'TooManyRequests', 'slow down'))).toBe(true);
    expect(isUnavailable(new Error('wrapped', { cause: status(500, 'InternalError', 'x') }))).toBe(true);
  });

  it('is false for answers that retrying cannot change, and for other errors', () => {
    expect(isUnavailable(status(404, 'NotFound', 'services "t" not found'))).toBe(false);
    expect(isUnavailable(status(403, 'Forbidden', 'services is forbidden: User "x" cannot get resource "services"'))).toBe(false);
    expect(isUnavailable(new Error('the control plane\'s kubeconfig /x did not appear'))).toBe(false);
  });
});
