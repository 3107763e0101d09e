import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueCertificate } from '../pki/certs.ts';
import { KubeClient, resourceOfPath } from './client.ts';

describe('resourceOfPath', () => {
  it('names the resource and subresource a request path writes', () => {
    expect(resourceOfPath('/api/v1/namespaces/x/pods/y/status')).toBe('pods/status');
    expect(resourceOfPath('/api/v1/namespaces/x/pods')).toBe('pods');
    expect(resourceOfPath('/api/v1/namespaces/x')).toBe('namespaces');
    expect(resourceOfPath('/api/v1/nodes/n1?fieldManager=a')).toBe('nodes');
    expect(resourceOfPath('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1')).toBe('leases');
    expect(resourceOfPath('/apis/authorization.k8s.io/v1/subjectaccessreviews')).toBe('subjectaccessreviews');
  });
});

describe('a kept-alive connection the server closes as it is reused', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  /** A server that answers the first request on each connection and drops the connection at the next. */
  async function closingServer(): Promise<{ url: string; answered: string[] }> {
    const answered: string[] = [];
    const served = new WeakSet<object>();
    const ca = await createCertificateAuthority('test');
    const serving = await issueCertificate(ca, { commonName: 'localhost', ipAddresses: ['127.0.0.1'], usages: ['server'] });
    server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
      if (served.has(req.socket)) {
        req.socket.destroy();
        return;
      }
      served.add(req.socket);
      answered.push(`${req.method} ${req.url}`);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ kind: 'Namespace', metadata: { name: 'a' } }));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    return { url: `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, answered };
  }

  async function clientOf(url: string): Promise<KubeClient> {
    const dir = mkdtempSync(join(tmpdir(), 'vnest-client-'));
    const file = join(dir, 'kubeconfig');
    writeFileSync(file, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
      clusters: [{ name: 'c', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
    }));
    try {
      return await KubeClient.fromKubeconfigFile(file);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('sends a read again on a new connection', async () => {
    const { url, answered } = await closingServer();
    const client = await clientOf(url);
    try {
      await client.request('GET', '/api/v1/namespaces/a');
      await expect(client.request('GET', '/api/v1/namespaces/a')).resolves.toMatchObject({ metadata: { name: 'a' } });
      expect(answered).toEqual(['GET /api/v1/namespaces/a', 'GET /api/v1/namespaces/a']);
    } finally {
      client.close();
    }
  });

  it('does not send a create again: it could have been stored', async () => {
    const { url, answered } = await closingServer();
    const client = await clientOf(url);
    try {
      await client.request('GET', '/api/v1/namespaces/a');
      await expect(client.request('POST', '/api/v1/namespaces', { metadata: { name: 'b' } })).rejects.toThrow(/socket hang up/);
      expect(answered).toEqual(['GET /api/v1/namespaces/a']);
    } finally {
      client.close();
    }
  });
});
