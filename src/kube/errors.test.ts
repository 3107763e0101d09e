import { describe, expect, it } from 'vitest';
import { isTerminal, isTransientForbidden, KubeApiError } from './errors.ts';

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
