// `vnest describe` and the diagnosis the commands share, on a kwok host through the CLI: a tenant
// whose claim cannot bind (its StorageClass does not exist), one whose pod Pod Security Admission
// refuses, and one that runs (kwok's pods are ready) but has not exported its kubeconfig, whose
// "syncer log" (what kwok serves for every container) holds an error.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { TenantReport } from '../../src/cli/describe.ts';
import { HostCluster } from '../../src/local/host-cluster.ts';
import { kubectlOk } from '../../src/local/kubectl.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';


const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

const syncerError = 'cannot reach the tenant\'s control plane';
const podLogs = [
  JSON.stringify({ level: 30, time: Date.parse('2026-01-01T00:00:00Z'), msg: 'syncer started' }),
  JSON.stringify({ level: 50, time: Date.parse('2026-01-01T00:00:01Z'), tenant: 'ok', err: { type: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:6443' }, msg: syncerError }),
  '',
].join('\n');

describe('vnest describe, and not-ready tenants in create, kubeconfig and connect', () => {
  const env = useEnvironment(async () => HostCluster.start({ kit: await kit(), ports, nodes: 1, podLogs }));
  const host = () => `--kubeconfig=${env.current.kubeconfigPath}`;
  const hostKubectl = async (...args: string[]) => kubectlOk((await kit()).bin.kubectl, env.current.kubeconfigPath, args);
  const vnest = async (args: string[]) => {
    const k = await kit();
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [main, ...args], { env: { ...process.env, VNEST_KUBECTL: k.bin.kubectl, VNEST_HELM: k.bin.helm }, timeout: 150_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };
  const noTenantPods = ['--set', 'coredns.enabled=false'];

  it('create stops waiting on a claim that cannot bind, and says why and what to do', async () => {
    const res = await vnest(['create', 'stuck', host(), ...noTenantPods, '--set', 'storage.storageClass=nope', '--timeout=120']);
    expect(res.stderr).toContain('tenant stuck: Pending (claim data-stuck-0 asks for StorageClass "nope", which the host cluster does not have (the host has none))');
    expect(res.stderr).toContain('tenant stuck is installed but cannot become ready until something is changed: claim data-stuck-0 asks for StorageClass "nope"');
    expect(res.stderr).toContain('What to do: ask the host\'s admin to create StorageClass "nope"');
    expect(res.stderr).toContain('"vnest describe stuck" shows the tenant\'s state');
    expect(res.code).toBe(7);
  });

  it('describe shows the pending claim and pod, the front door, and the cause', async () => {
    const res = await vnest(['describe', 'stuck', host()]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Status:       Pending (not ready)');
    expect(res.stdout).toContain('Helm release: revision 1, deployed (chart vnest-');
    expect(res.stdout).toContain('Volume:       claim data-stuck-0, Pending, 5Gi, StorageClass nope');
    expect(res.stdout).toMatch(/Front door: {3}https:\/\/stuck\.stuck\.svc \(Service stuck, ClusterIP [\d.]+, port 443\)/);
    expect(res.stdout).toContain('Pod:          stuck-0, Pending');
    expect(res.stdout).toContain('StorageClassMissing (persistentvolumeclaim/data-stuck-0)');
    // The scheduler's "unbound immediate PersistentVolumeClaims" follows from it: not a cause of its own.
    expect(res.stdout).not.toContain('Unschedulable');
    const json = JSON.parse((await vnest(['describe', 'stuck', host(), '-o', 'json'])).stdout) as TenantReport;
    expect(json).toMatchObject({ name: 'stuck', namespace: 'stuck', status: 'Pending', ready: false, distro: 'k3s', pod: { name: 'stuck-0', phase: 'Pending' }, kubeconfig: { exported: false } });
    expect(json.causes.map((c) => [c.reason, c.needsAction])).toEqual([['StorageClassMissing', true]]);
    expect(json.hostObjects).toEqual({ pods: 0, services: 0, configmaps: 0, secrets: 0, persistentvolumeclaims: 0, ingresses: 0, networkpolicies: 0 });
    const yaml = parse((await vnest(['describe', 'stuck', host(), '-o', 'yaml'])).stdout) as TenantReport;
    expect(yaml).toMatchObject({ name: 'stuck', status: 'Pending', causes: [expect.objectContaining({ reason: 'StorageClassMissing' })] });
  });

  it('kubeconfig and connect refuse a tenant that is not ready with the cause (exit 7); an unknown tenant is still exit 4', async () => {
    const kubeconfig = await vnest(['kubeconfig', 'stuck', host()]);
    expect([kubeconfig.code, kubeconfig.stdout]).toEqual([7, '']);
    expect(kubeconfig.stderr).toContain('tenant "stuck" in namespace "stuck" is not ready: claim data-stuck-0 asks for StorageClass "nope"');
    const connect = await vnest(['connect', 'stuck', host(), '--', 'true']);
    expect(connect.code).toBe(7);
    expect(connect.stderr).toContain('asks for StorageClass "nope"');
    const unknown = await vnest(['kubeconfig', 'nope', host()]);
    expect([unknown.code, unknown.stderr]).toEqual([4, expect.stringContaining('no tenant "nope" in namespace "nope"')]);
    const unknownDescribe = await vnest(['describe', 'nope', '-n', 'stuck', host()]);
    expect([unknownDescribe.code, unknownDescribe.stderr]).toEqual([4, expect.stringContaining('no tenant "nope" in namespace "stuck"')]);
  });

  it('certs check and certs rotate on a tenant that is not ready: exit 7 with the cause, nothing written', async () => {
    const check = await vnest(['certs', 'check', 'stuck', host()]);
    expect([check.code, check.stdout]).toEqual([7, '']);
    expect(check.stderr).toContain('tenant "stuck" in namespace "stuck" has no certificates yet: its syncer makes them (Secret stuck-certs) when it first starts');
    const rotate = await vnest(['certs', 'rotate', 'stuck', host()]);
    expect([rotate.code, rotate.stdout]).toEqual([7, '']);
    expect(rotate.stderr).toContain('tenant "stuck" in namespace "stuck" is not ready: claim data-stuck-0 asks for StorageClass "nope"');
    expect(await hostKubectl('-n', 'stuck', 'get', 'secrets', '-o', 'name')).not.toContain('stuck-certs');
  });

  it('describe --config-only prints the values the tenant was installed with; a tenant without the chart has none (exit 12)', async () => {
    const yaml = await vnest(['describe', 'stuck', host(), '--config-only']);
    expect([yaml.code, yaml.stderr]).toEqual([0, '']);
    expect(parse(yaml.stdout)).toEqual({ coredns: { enabled: false }, storage: { storageClass: 'nope' }, parentDomain: 'vnest.local' });
    const json = await vnest(['describe', 'stuck', host(), '--config-only', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toEqual({ coredns: { enabled: false }, storage: { storageClass: 'nope' }, parentDomain: 'vnest.local' });
    // (parentDomain: what vnest create read from the host's kube-public/vnest-info, or its default.)
    // A tenant run without the chart (as local mode's): only its exported kubeconfig is there.
    await hostKubectl('create', 'namespace', 'bare');
    await hostKubectl('-n', 'bare', 'create', 'secret', 'generic', 'bare-kubeconfig', '--from-literal=config=apiVersion: v1\nkind: Config\n');
    const bare = await vnest(['describe', 'bare', host(), '--config-only']);
    expect([bare.code, bare.stdout]).toEqual([12, '']);
    expect(bare.stderr).toContain('tenant "bare" in namespace "bare" has no helm release of the vnest chart');
    expect((await vnest(['describe', 'nobody', host(), '--config-only'])).code).toBe(4);
  });

  it('names a pod that Pod Security Admission refuses', async () => {
    await hostKubectl('create', 'namespace', 'psa');
    await hostKubectl('label', 'namespace', 'psa', 'pod-security.kubernetes.io/enforce=restricted');
    const res = await vnest(['create', 'strict', '-n', 'psa', host(), ...noTenantPods, '--set', 'storage.persistence=false', '--no-pod-security-labels', '--timeout=120']);
    expect(res.code).toBe(7);
    expect(res.stderr).toContain('the host refused to create pod strict-0');
    expect(res.stderr).toContain('violates PodSecurity "restricted:latest"');
    const json = JSON.parse((await vnest(['describe', 'strict', '-n', 'psa', host(), '-o', 'json'])).stdout) as TenantReport;
    expect(json).toMatchObject({ status: 'Pending', pod: null, causes: [{ reason: 'PodRefused', object: 'statefulset/strict' }] });
    expect(json.causes[0]?.advice).toContain('pod-security.kubernetes.io/enforce=baseline');
  });

  it('describe shows a running tenant\'s containers, its syncer\'s last errors and its host objects; kubeconfig waits for the export', async () => {
    const created = await vnest(['create', 'ok', host(), ...noTenantPods, '--set', 'storage.persistence=false', '--timeout=120']);
    expect(created.stderr).toContain('tenant ok: Running');
    expect(created.code).toBe(0);
    await hostKubectl('-n', 'ok', 'create', 'configmap', 'copy-x-default-x-ok', '--from-literal=a=b');
    await hostKubectl('-n', 'ok', 'label', 'configmap', 'copy-x-default-x-ok', 'vnest.dev/tenant=ok');
    const res = await vnest(['describe', 'ok', host()]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Status:       Running (ready)');
    expect(res.stdout).toMatch(/syncer\s+true\s+running\s+0/);
    expect(res.stdout).toContain('Syncer:       ready');
    expect(res.stdout).toContain(`2026-01-01T00:00:01.000Z ERROR ${syncerError}: connect ECONNREFUSED 127.0.0.1:6443`);
    expect(res.stdout).not.toContain('syncer started');
    expect(res.stdout).toContain('configmaps 1');
    expect(res.stdout).toContain('KubeconfigNotExported (secret/ok-kubeconfig)');
    // No syncer runs on kwok, so nothing exports its kubeconfig: exit 7, with the syncer's last error.
    const kubeconfig = await vnest(['kubeconfig', 'ok', host()]);
    expect(kubeconfig.code).toBe(7);
    expect(kubeconfig.stderr).toContain(`the syncer has not exported the tenant's kubeconfig yet (Secret ok-kubeconfig); the syncer's last error: ${syncerError}`);
    // Exported (here by hand, as the syncer would), it is printed.
    await hostKubectl('-n', 'ok', 'create', 'secret', 'generic', 'ok-kubeconfig', '--from-literal=config=apiVersion: v1\nkind: Config\nclusters:\n- name: ok\n  cluster:\n    server: https://ok.ok.svc:443\n');
    const printed = await vnest(['kubeconfig', 'ok', host()]);
    expect([printed.code, printed.stderr]).toEqual([0, '']);
    expect(printed.stdout).toContain('server: https://ok.ok.svc:443');
    // Paused, it is not ready, and says how to bring it back.
    expect((await vnest(['pause', 'ok', host()])).code).toBe(0);
    const paused = await vnest(['kubeconfig', 'ok', host()]);
    expect([paused.code, paused.stderr]).toEqual([7, expect.stringContaining('the tenant is paused (scaled to zero). What to do: "vnest resume ok" brings it back')]);
  });

  it('delete removes a stuck tenant', async () => {
    const res = await vnest(['delete', 'stuck', host()]);
    expect([res.code, res.stderr]).toEqual([0, '']);
    expect((await vnest(['describe', 'stuck', host()])).code).toBe(4);
  });
});
