import { createServer, type Server } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority } from '../pki/certs.ts';
import { reachable } from './connect.ts';
import { bindingName, clusterRoleName, serviceAccountRef, tokenExpiration } from './service-account.ts';

describe('reachable', () => {
  let ca: CertificateAuthority;
  let other: CertificateAuthority;
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    [ca, other] = await Promise.all([createCertificateAuthority('tenant-ca'), createCertificateAuthority('someone-else')]);
    const serving = await issueCertificate(ca, { commonName: 'front-door', usages: ['server'], dnsNames: ['localhost', 'api.example.org'], ipAddresses: ['127.0.0.1'] });
    server = createServer({ cert: serving.certPem, key: serving.keyPem }, (socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('verifies the tenant\'s certificate and name when given its CA', async () => {
    expect(await reachable(`https://127.0.0.1:${port}`, ca.certPem)).toBe(true);
    expect(await reachable(`https://localhost:${port}`, ca.certPem)).toBe(true);
    // Another CA's server (an ingress controller terminating TLS itself, say) does not count.
    expect(await reachable(`https://127.0.0.1:${port}`, other.certPem)).toBe(false);
  });

  it('checks only that something listens without a CA, and fails fast on a closed port', async () => {
    expect(await reachable(`https://127.0.0.1:${port}`)).toBe(true);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect(await reachable(`https://127.0.0.1:${closedPort}`, ca.certPem)).toBe(false);
  });
});

describe('service account options', () => {
  it('reads [NAMESPACE/]NAME, kube-system by default', () => {
    expect(serviceAccountRef('deployer')).toEqual({ namespace: 'kube-system', name: 'deployer' });
    expect(serviceAccountRef('ci/deployer.bot')).toEqual({ namespace: 'ci', name: 'deployer.bot' });
    for (const bad of ['', '/x', 'ci/', 'Ci/x', 'a/b/c', 'ci/x_y', `${'a'.repeat(64)}/x`]) expect(() => serviceAccountRef(bad), bad).toThrow(/not \[NAMESPACE\/\]NAME/);
  });

  it('takes a token lifetime of at least the API\'s 600 seconds, whole', () => {
    expect(tokenExpiration('600')).toBe(600);
    for (const bad of ['599', '1.5', '-600', 'x', '']) expect(() => tokenExpiration(bad), bad).toThrow(/at least 600/);
  });

  it('names the binding after account and role', () => {
    expect(bindingName({ namespace: 'ci', name: 'deployer' }, 'edit')).toBe('vnest-connect:ci:deployer:edit');
    expect(() => clusterRoleName('a/b')).toThrow(/not a ClusterRole name/);
    expect(clusterRoleName('system:aggregate-to-edit')).toBe('system:aggregate-to-edit');
  });
});
