// A tenant API exposed outside the host cluster, on a real node: with its host Service a NodePort,
// the exported kubeconfig's server is the node address at the node port, and kubectl (and
// `vnest connect`) reach the front door through kube-proxy there with the certificate verified;
// when the Service becomes a LoadBalancer and the host assigns an address, the serving
// certificate and the exported kubeconfig follow it without a restart.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { runKubectl } from '../../src/local/kubectl.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';
import { eventually, hostNamespace, TenantBed } from '../tenant-bed.ts';

const tenant = 'exposed';
const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

describe('a tenant API exposed by its host Service', async () => {
  const k = await kit();
  const env = useEnvironment(() => TenantBed.start([tenant], { realNodes: 1, nodes: 0 }));
  const bed = () => env.current;
  let nodeIp = '';
  let nodePort = 0;

  /** The exported kubeconfig's server, and the names of the serving certificate. */
  const exported = async () => {
    const kubeconfig = Buffer.from((await bed().hostJson<{ data: Record<string, string> }>('-n', hostNamespace, 'get', 'secret', `${tenant}-kubeconfig`)).data.config ?? '', 'base64').toString();
    const certs = (await bed().hostJson<{ data: Record<string, string> }>('-n', hostNamespace, 'get', 'secret', `${tenant}-certs`)).data;
    const names = new X509Certificate(Buffer.from(certs['tls.crt'] ?? '', 'base64')).subjectAltName?.split(', ') ?? [];
    return { kubeconfig, server: /server: (\S+)/.exec(kubeconfig)?.[1], names };
  };
  const kubeconfigFile = async (text: string) => {
    const file = join(bed().host.controlPlane.dir, `exposed-${Date.now()}.kubeconfig`);
    await writeFile(file, text, { mode: 0o600 });
    return file;
  };

  beforeAll(async () => {
    // The front door runs here, on this machine's end of the node's link; the tenant's host
    // Service leads there, and as a NodePort kube-proxy on the real node forwards its node port.
    const port = await ports.next();
    const address = await bed().host.routeServiceHere(hostNamespace, tenant, port);
    await bed().hostKubectl('-n', hostNamespace, 'patch', 'service', tenant, '-p', JSON.stringify({ spec: { type: 'NodePort' } }));
    nodePort = Number(await bed().hostKubectl('-n', hostNamespace, 'get', 'service', tenant, '-o', 'jsonpath={.spec.ports[0].nodePort}'));
    nodeIp = await bed().hostKubectl('get', 'node', 'real-node-0', '-o', 'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}');
    await bed().startSyncer(tenant, { listenPort: port, listenAddress: address, exposeNodeAddress: nodeIp });
  }, 120_000);

  it('exports the node address at the node port, and kubectl verifies the front door there', async () => {
    expect(nodePort).toBeGreaterThan(0);
    const { kubeconfig, server, names } = await exported();
    expect(server).toBe(`https://${nodeIp}:${nodePort}`);
    expect(names).toContain(`IP Address:${nodeIp}`);
    expect(kubeconfig).not.toContain('insecure-skip-tls-verify');
    const file = await kubeconfigFile(kubeconfig);
    const res = await eventually('kubectl through the node port', async () => {
      const r = await runKubectl(k.bin.kubectl, file, ['get', 'namespace', 'default', '-o', 'name']);
      return r.code === 0 ? r : undefined;
    }, 30_000);
    expect(res.stdout.trim()).toBe('namespace/default');
  });

  it('vnest connect uses the exposed address, as it answers with the tenant\'s certificate', async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [main, 'connect', tenant, '-n', hostNamespace, `--kubeconfig=${bed().host.kubeconfigPath}`, '--print'], {
      env: { ...process.env, VNEST_KUBECTL: k.bin.kubectl }, timeout: 60_000,
    });
    expect(stderr).toBe('');
    expect(stdout).toContain(`server: https://${nodeIp}:${nodePort}`);
  });

  it('follows a load-balancer address the host assigns later: certificate and kubeconfig, without a restart', async () => {
    await bed().hostKubectl('-n', hostNamespace, 'patch', 'service', tenant, '-p', JSON.stringify({ spec: { type: 'LoadBalancer' } }));
    // Until an address is assigned, the kubeconfig names the in-cluster Service again.
    await eventually('the in-cluster server while no address is assigned', async () => (await exported()).server === `https://${tenant}.${hostNamespace}.svc:443`, 30_000);
    // What a cloud's load-balancer controller would write.
    await bed().hostKubectl('-n', hostNamespace, 'patch', 'service', tenant, '--subresource=status', '-p', JSON.stringify({ status: { loadBalancer: { ingress: [{ ip: '192.0.2.50' }, { hostname: 'lb.example.test' }] } } }));
    const now = await eventually('the load-balancer address exported', async () => {
      const e = await exported();
      return e.server === 'https://192.0.2.50:443' ? e : undefined;
    }, 30_000);
    expect(now.names).toEqual(expect.arrayContaining(['IP Address:192.0.2.50', 'DNS:lb.example.test']));
    // The node address is no name of it any more: it is a LoadBalancer now.
    expect(now.names).not.toContain(`IP Address:${nodeIp}`);
    // The running front door serves the new certificate: through the node port (a LoadBalancer
    // has one too), verified as the load balancer's host name.
    const file = await kubeconfigFile(now.kubeconfig.replace('https://192.0.2.50:443', `https://${nodeIp}:${nodePort}`));
    const asLb = await runKubectl(k.bin.kubectl, file, ['--tls-server-name=lb.example.test', 'get', 'namespace', 'default', '-o', 'name']);
    expect([asLb.code, asLb.stdout.trim()]).toEqual([0, 'namespace/default']);
    const asNode = await runKubectl(k.bin.kubectl, file, ['get', 'namespace', 'default', '-o', 'name']);
    expect(asNode.code).not.toBe(0);
    expect(asNode.stderr).toMatch(/certificate is valid for .*not 10\.250\.|doesn't contain any IP SANs|x509/);
  });
});
