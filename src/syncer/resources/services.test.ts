import { describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../translate/policy.ts';
import { hostSecretType } from './configmaps.ts';
import { hostServiceSpec } from './services.ts';

const svc = (spec: Record<string, unknown>) => ({ metadata: { name: 's', namespace: 'app' }, spec: { type: 'ClusterIP', clusterIP: '10.96.0.20', ports: [{ port: 80 }], selector: { app: 'web' }, ...spec } });

describe('hostServiceSpec', () => {
  it('shares the cluster IP, narrows the selector to the tenant, and leaves node ports to the host', () => {
    const { spec, problems } = hostServiceSpec(svc({ type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }], clusterIPs: ['10.96.0.20'] }), 't1', defaultPolicy(), '10.96.0.20');
    expect(problems).toEqual([]);
    expect(spec).toEqual({ type: 'NodePort', clusterIP: '10.96.0.20', ports: [{ port: 80 }], selector: { app: 'web', 'vnest.dev/tenant': 't1', 'vnest.dev/namespace': 'app' } });
  });

  it('asks the host for the tenant\'s node ports when the operator allows them, and not when told not to', () => {
    const nodePort = svc({ type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }, { port: 81, name: 'b', nodePort: 30081 }] });
    const policy = defaultPolicy({ allowFields: new Set(['Service.spec.ports[*].nodePort']) });
    expect(hostServiceSpec(nodePort, 't1', policy, '10.96.0.20').spec.ports).toEqual([{ port: 80, nodePort: 30080 }, { port: 81, name: 'b', nodePort: 30081 }]);
    expect(hostServiceSpec(nodePort, 't1', policy, '10.96.0.20', false).spec.ports).toEqual([{ port: 80 }, { port: 81, name: 'b' }]);
  });

  it('selects a nested tenant\'s control-plane pod by the key its host copy carries', () => {
    const { spec } = hostServiceSpec(svc({ selector: { 'vnest.dev/control-plane': 'b' } }), 'a', defaultPolicy(), '10.96.0.20');
    expect(spec.selector).toEqual({ 'vnest.dev/nested-control-plane': 'b', 'vnest.dev/tenant': 'a', 'vnest.dev/namespace': 'app' });
  });

  it('refuses external IPs, load-balancer fields, unknown fields and types the operator did not allow', () => {
    const { problems } = hostServiceSpec(svc({
      type: 'LoadBalancer', externalIPs: ['1.2.3.4'], loadBalancerIP: '1.2.3.4', loadBalancerSourceRanges: ['0.0.0.0/0'], loadBalancerClass: 'x', futureField: true,
    }), 't1', defaultPolicy({ serviceTypes: new Set(['ClusterIP']) }));
    expect(problems).toEqual([
      'spec.externalIPs: external IPs would route host traffic to this Service; they are not allowed',
      'spec.loadBalancerIP: the host operator chooses load-balancer IPs, source ranges and classes (operator setting: --allow-fields)',
      'spec.loadBalancerSourceRanges: the host operator chooses load-balancer IPs, source ranges and classes (operator setting: --allow-fields)',
      'spec.loadBalancerClass: the host operator chooses load-balancer IPs, source ranges and classes (operator setting: --allow-fields)',
      'spec.futureField is not on vnest\'s allow-list of fields',
      'spec.type: LoadBalancer Services are not allowed on this host (allowed: ClusterIP)',
    ]);
  });

  it('copies a load-balancer field the operator allows', () => {
    const { spec, problems } = hostServiceSpec(svc({ type: 'LoadBalancer', loadBalancerIP: '1.2.3.4' }), 't1', defaultPolicy({ allowFields: new Set(['Service.spec.loadBalancerIP']) }));
    expect(problems).toEqual([]);
    expect(spec.loadBalancerIP).toBe('1.2.3.4');
  });
});

describe('hostSecretType', () => {
  it('keeps workload types, turns token and unknown types into Opaque, and refuses bootstrap tokens', () => {
    expect(hostSecretType(undefined)).toEqual({ type: 'Opaque' });
    expect(hostSecretType('kubernetes.io/tls')).toEqual({ type: 'kubernetes.io/tls' });
    expect(hostSecretType('kubernetes.io/dockerconfigjson')).toEqual({ type: 'kubernetes.io/dockerconfigjson' });
    expect(hostSecretType('kubernetes.io/service-account-token')).toEqual({ type: 'Opaque' });
    expect(hostSecretType('helm.sh/release.v1')).toEqual({ type: 'Opaque' });
    expect(hostSecretType('bootstrap.kubernetes.io/token')).toEqual({ refusal: 'type: bootstrap.kubernetes.io/token Secrets are not synced to the host' });
  });
});
