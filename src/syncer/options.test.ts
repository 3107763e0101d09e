import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OptionsError, resolveSyncerOptions } from './options.ts';

const required = { tenant: 't1', hostNamespace: 'ns', virtualKubeconfig: '/k' };
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'vnest-opt-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('resolveSyncerOptions', () => {
  it('fills defaults, with the tenant name as owner Service', () => {
    const o = resolveSyncerOptions(required, {});
    expect(o).toMatchObject({ tenant: 't1', ownerService: 't1', workers: 16, nodeSync: 'fake', tokenExpirationSeconds: 3600 });
    expect(o.policy.podSecurity).toBe('baseline');
    expect(o.policy.allow.size).toBe(0);
    expect([...o.policy.serviceTypes]).toEqual(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']);
  });

  it('takes flags over environment over config file', () => {
    const dir = tempDir();
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'workers: 4\nresyncSeconds: 60\nnodeSync: real\n');
    const o = resolveSyncerOptions({ ...required, workers: '8' }, { VNEST_RESYNC_SECONDS: '120' }, file);
    expect(o.workers).toBe(8);
    expect(o.resyncSeconds).toBe(120);
    expect(o.nodeSync).toBe('real');
  });

  it('reads the host namespace from the pod when running in a cluster', () => {
    const { hostNamespace: _, ...rest } = required;
    expect(resolveSyncerOptions(rest, {}, undefined, () => 'from-pod').hostNamespace).toBe('from-pod');
  });

  it('reports every mistake at once, saying what to do', () => {
    const dir = tempDir();
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'wrokers: 4\n');
    let err: OptionsError | undefined;
    try {
      resolveSyncerOptions({ tenant: 'Bad_Name', workers: 'many', podSecurity: 'lax', allow: 'privileged,telepathy', allowFields: 'spec.x', nodeSync: 'some', serviceTypes: 'ClusterIP,Wormhole' }, {}, file);
    } catch (e) {
      err = e as OptionsError;
    }
    expect(err).toBeInstanceOf(OptionsError);
    expect(err?.problems).toEqual([
      expect.stringContaining('unknown option "wrokers"'),
      expect.stringContaining("tenant name 'Bad_Name' must be lower-case"),
      '--workers (flag) must be a whole number, not "many"',
      '--pod-security: unknown value(s) lax; choose from baseline, restricted, privileged',
      expect.stringContaining('--allow: unknown value(s) telepathy'),
      '--allow-fields: spec.x must start with Pod.spec, Service.spec or PersistentVolumeClaim.spec',
      expect.stringContaining('--service-types: unknown value(s) Wormhole'),
      '--node-sync must be one of fake, real, all, not "some"',
      expect.stringContaining('the tenant name is required'),
      expect.stringContaining('--host-namespace NS'),
      expect.stringContaining('--virtual-kubeconfig PATH'),
    ]);
  });

  it('takes the exposure\'s Ingress host and node address, refusing what no client could dial', () => {
    const o = resolveSyncerOptions({ ...required, exposeIngressHost: 'api.t1.example.org' }, { VNEST_EXPOSE_NODE_ADDRESS: '10.0.0.5' });
    expect(o).toMatchObject({ exposeIngressHost: 'api.t1.example.org', exposeNodeAddress: '10.0.0.5' });
    expect(resolveSyncerOptions({ ...required, exposeNodeAddress: 'nodes.example.org' }, {}).exposeNodeAddress).toBe('nodes.example.org');
    expect(resolveSyncerOptions({ ...required, exposeNodeAddress: '2001:db8::1' }, {}).exposeNodeAddress).toBe('2001:db8::1');
    expect(() => resolveSyncerOptions({ ...required, exposeIngressHost: '*.example.org', exposeNodeAddress: 'a b' }, {})).toThrow(
      /--expose-ingress-host: "\*\.example\.org" is not a DNS name[\s\S]*--expose-node-address: "a b" is not a DNS name/,
    );
  });

  it('takes an egress socket path that fits a Unix socket', () => {
    expect(resolveSyncerOptions({ ...required, egressSocket: '/run/vnest-egress/egress.sock' }, {}).egressSocket).toBe('/run/vnest-egress/egress.sock');
    expect(resolveSyncerOptions(required, {}).egressSocket).toBeUndefined();
    expect(() => resolveSyncerOptions({ ...required, egressSocket: `/tmp/${'x'.repeat(100)}.sock` }, {})).toThrow(/--egress-socket .* is too long for a Unix socket path/);
  });

  it('builds the isolation policy from its options', () => {
    const { policy } = resolveSyncerOptions({ ...required, allow: 'hostNetwork,privileged', podSecurity: 'restricted', priorityClasses: 'batch', tolerations: 'gpu', hostAnnotations: 'example.com/' }, { VNEST_ALLOW_FIELDS: 'Service.spec.loadBalancerIP' });
    expect(policy.podSecurity).toBe('restricted');
    expect([...policy.allow]).toEqual(['hostNetwork', 'privileged']);
    expect([...policy.allowFields]).toEqual(['Service.spec.loadBalancerIP']);
    expect([...policy.priorityClasses]).toEqual(['batch']);
    expect([...policy.tolerations]).toEqual(['gpu']);
    expect(policy.hostAnnotations).toEqual(['example.com/']);
  });

  it('takes the node sync mode "all" and a node selector of label pairs, refusing what is no label', () => {
    const o = resolveSyncerOptions({ ...required, nodeSync: 'all' }, { VNEST_NODE_SELECTOR: 'pool=tenants, example.com/zone=a' });
    expect(o.nodeSync).toBe('all');
    expect(o.policy.nodeSelector).toEqual({ pool: 'tenants', 'example.com/zone': 'a' });
    expect(resolveSyncerOptions(required, {}).policy.nodeSelector).toEqual({});
    expect(() => resolveSyncerOptions({ ...required, nodeSelector: 'pool,Bad_/x=y,ok=has space' }, {})).toThrow(
      '--node-selector: "pool", "Bad_/x=y", "ok=has space" must be key=value with a label key and value (e.g. pool=tenants)',
    );
  });
});
