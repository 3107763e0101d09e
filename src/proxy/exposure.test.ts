import { describe, expect, it } from 'vitest';
import { exposure, httpsUrl, sameExposure, type ExposedService } from './exposure.ts';

const svc = (spec: ExposedService['spec'], status: ExposedService['status'] = {}): ExposedService => ({ metadata: { name: 't1' }, spec, status });
const https = { name: 'https', port: 443 };

describe('exposure', () => {
  it('adds nothing for a ClusterIP Service and no Ingress', () => {
    expect(exposure({}, svc({ type: 'ClusterIP', ports: [https] }))).toEqual({ sans: [] });
    expect(exposure({})).toEqual({ sans: [] });
  });

  it('names the Ingress host, reached on 443, first', () => {
    expect(exposure({ ingressHost: 'api.t1.example.org' }, svc({ type: 'ClusterIP', ports: [https] }))).toEqual({ sans: ['api.t1.example.org'], server: 'https://api.t1.example.org:443', via: 'ingress' });
    // With a load balancer as well, both are names; the Ingress host stays the server.
    const both = exposure({ ingressHost: 'api.example.org' }, svc({ type: 'LoadBalancer', ports: [https] }, { loadBalancer: { ingress: [{ ip: '203.0.113.7' }] } }));
    expect(both).toEqual({ sans: ['api.example.org', '203.0.113.7'], server: 'https://api.example.org:443', via: 'ingress' });
  });

  it('waits for a load-balancer address, then uses the first one the host assigned, all of them as names', () => {
    const asked = svc({ type: 'LoadBalancer', loadBalancerIP: '203.0.113.7', ports: [https] });
    expect(exposure({}, asked)).toEqual({ sans: ['203.0.113.7'], waiting: 'Service t1 has no load-balancer address yet' });
    const assigned = svc({ type: 'LoadBalancer', ports: [{ name: 'https', port: 443, nodePort: 31000 }] }, { loadBalancer: { ingress: [{ hostname: 'lb-1.elb.example.com' }, { ip: '203.0.113.8', hostname: 'x.example.com' }] } });
    expect(exposure({}, assigned)).toEqual({ sans: ['lb-1.elb.example.com', '203.0.113.8', 'x.example.com'], server: 'https://lb-1.elb.example.com:443', via: 'loadBalancer' });
    // A node address is for NodePort Services only.
    expect(exposure({ nodeAddress: '10.0.0.5' }, assigned).sans).not.toContain('10.0.0.5');
  });

  it('uses the configured node address at the Service\'s node port', () => {
    const nodePort = svc({ type: 'NodePort', ports: [{ name: 'metrics', port: 9102, nodePort: 30001 }, { name: 'https', port: 443, nodePort: 30443 }] });
    expect(exposure({ nodeAddress: '10.250.0.2' }, nodePort)).toEqual({ sans: ['10.250.0.2'], server: 'https://10.250.0.2:30443', via: 'nodePort' });
    expect(exposure({ nodeAddress: 'nodes.example.org' }, nodePort).server).toBe('https://nodes.example.org:30443');
    expect(exposure({}, nodePort)).toEqual({ sans: [], waiting: 'Service t1 is a NodePort, but no node address is configured (chart value service.nodeAddress)' });
    expect(exposure({ nodeAddress: '10.250.0.2' }, svc({ type: 'NodePort', ports: [https] })).waiting).toBe('Service t1 has no node port yet');
    // Not a NodePort Service (the chart's type changed back): the node address is no name of it.
    expect(exposure({ nodeAddress: '10.250.0.2' }, svc({ type: 'ClusterIP', ports: [https] }))).toEqual({ sans: [] });
  });

  it('writes IPv6 addresses in brackets', () => {
    expect(httpsUrl('2001:db8::1', 30443)).toBe('https://[2001:db8::1]:30443');
    expect(exposure({ nodeAddress: '2001:db8::1' }, svc({ type: 'NodePort', ports: [{ port: 443, nodePort: 30443 }] })).server).toBe('https://[2001:db8::1]:30443');
  });

  it('compares names as sets', () => {
    expect(sameExposure({ sans: ['a', 'b'], server: 'https://a:443' }, { sans: ['b', 'a'], server: 'https://a:443' })).toBe(true);
    expect(sameExposure({ sans: ['a'] }, { sans: ['a'], server: 'https://a:443' })).toBe(false);
    expect(sameExposure({ sans: ['a'] }, { sans: ['b'] })).toBe(false);
  });
});
