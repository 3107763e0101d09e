import { describe, expect, it } from 'vitest';
import { hostEndpointSlice } from './endpointslices.ts';

const slice = (endpoints: Array<Record<string, unknown>>, addressType = 'IPv4') => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 's', namespace: 'app' },
  addressType, endpoints, ports: [{ name: 'http', port: 8080, protocol: 'TCP', unknown: 1 }],
});
const owners = (ip: string) => (ip === '10.0.0.5' ? { hostPodName: 'web-x-app-x-t', nodeName: 'node-1' } : undefined);

describe('hostEndpointSlice', () => {
  it('keeps addresses of the tenant\'s pods, with the host\'s pod and node names instead of the tenant\'s', () => {
    const { body, problems } = hostEndpointSlice(slice([{
      addresses: ['10.0.0.5'], conditions: { ready: true }, hostname: 'web-0', zone: 'z', hints: { forZones: [{ name: 'z' }] },
      targetRef: { kind: 'Pod', namespace: 'kube-system', name: 'etcd' }, nodeName: 'elsewhere',
    }]), 'host-ns', owners);
    expect(problems).toEqual([]);
    expect(body).toEqual({
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.0.0.5'], conditions: { ready: true }, hostname: 'web-0', targetRef: { kind: 'Pod', namespace: 'host-ns', name: 'web-x-app-x-t' }, nodeName: 'node-1' }],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
  });

  it('refuses any other address, and FQDN slices, naming the field', () => {
    expect(hostEndpointSlice(slice([{ addresses: ['10.0.0.5'] }, { addresses: ['10.96.0.1'] }]), 'h', owners).problems)
      .toEqual(['endpoints[1].addresses: 10.96.0.1 is not the IP of a pod of this cluster']);
    expect(hostEndpointSlice(slice([], 'FQDN'), 'h', owners).problems[0]).toMatch(/^addressType: FQDN/);
  });
});
