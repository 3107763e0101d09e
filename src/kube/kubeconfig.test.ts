import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderKubeconfig } from './kubeconfig.ts';

describe('renderKubeconfig', () => {
  it('renders one cluster, user and context with base64 credentials', () => {
    const doc = parse(renderKubeconfig({ name: 't1', server: 'https://127.0.0.1:6443', caPem: 'CA', credentials: { certPem: 'C', keyPem: 'K' }, namespace: 'ns' })) as Record<string, unknown>;
    expect(doc).toEqual({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 't1', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': 'Q0E=' } }],
      users: [{ name: 't1', user: { 'client-certificate-data': 'Qw==', 'client-key-data': 'Sw==' } }],
      contexts: [{ name: 't1', context: { cluster: 't1', user: 't1', namespace: 'ns' } }],
      'current-context': 't1',
    });
  });

  it('renders a bearer token user', () => {
    const doc = parse(renderKubeconfig({ name: 't', server: 'https://x', caPem: 'CA', credentials: { token: 'abc' } })) as { users: Array<{ user: unknown }> };
    expect(doc.users[0]?.user).toEqual({ token: 'abc' });
  });
});
