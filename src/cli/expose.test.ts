import { describe, expect, it } from 'vitest';
import type { CliError } from './host.ts';
import { exposeArgs, exposeValues as exposeSets, pickNodeAddress, type NodeLike } from './expose.ts';

const refusal = (fn: () => unknown): CliError => {
  try {
    fn();
  } catch (err) {
    return err as CliError;
  }
  throw new Error('not refused');
};

describe('exposeSets', () => {
  it('sets nothing without --expose, and refuses its companions alone', () => {
    expect(exposeSets({})).toEqual([]);
    const alone = refusal(() => exposeSets({ exposeHost: 'x.example.org' }));
    expect(alone.exitCode).toBe(2);
    expect(alone.message).toContain('go with --expose');
  });

  it('maps each kind to the chart values, resetting the other kinds\'', () => {
    expect(exposeSets({ expose: 'ingress', exposeHost: 'team-a-api.example.org' })).toEqual([
      'service.type=ClusterIP', 'service.nodePort=0', 'service.nodeAddress=', 'service.loadBalancerIP=', 'service.loadBalancerSourceRanges=[]', 'ingress.enabled=true', 'ingress.host=team-a-api.example.org',
    ]);
    expect(exposeSets({ expose: 'loadbalancer' })).toEqual(['service.type=LoadBalancer', 'service.nodeAddress=', 'ingress.enabled=false']);
    expect(exposeSets({ expose: 'loadbalancer', exposeHost: '203.0.113.7', nodePort: '30443' })).toEqual(['service.type=LoadBalancer', 'service.nodeAddress=', 'ingress.enabled=false', 'service.loadBalancerIP=203.0.113.7', 'service.nodePort=30443']);
    expect(exposeSets({ expose: 'nodeport', nodePort: '30443' }, '10.0.0.5')).toEqual([
      'service.type=NodePort', 'service.loadBalancerIP=', 'service.loadBalancerSourceRanges=[]', 'ingress.enabled=false', 'service.nodeAddress=10.0.0.5', 'service.nodePort=30443',
    ]);
    // The operator's address wins over the one picked from the nodes.
    expect(exposeSets({ expose: 'nodeport', exposeHost: 'nodes.example.org' }, '10.0.0.5')).toContain('service.nodeAddress=nodes.example.org');
    expect(exposeSets({ expose: 'none' })).toEqual(['service.type=ClusterIP', 'service.nodePort=0', 'service.nodeAddress=', 'service.loadBalancerIP=', 'service.loadBalancerSourceRanges=[]', 'ingress.enabled=false']);
  });

  it('passes lists to helm as JSON, the rest as --set', () => {
    expect(exposeArgs({ expose: 'nodeport' }, '10.0.0.5')).toEqual([
      '--set', 'service.type=NodePort', '--set', 'service.loadBalancerIP=', '--set-json', 'service.loadBalancerSourceRanges=[]', '--set', 'ingress.enabled=false', '--set', 'service.nodeAddress=10.0.0.5',
    ]);
  });

  it('refuses what cannot work, with exit code 2', () => {
    for (const [flags, text] of [
      [{ expose: 'ingress' }, '--expose ingress needs --expose-host NAME'],
      [{ expose: 'ingress', exposeHost: '*.example.org' }, 'is not a DNS name'],
      [{ expose: 'loadbalancer', exposeHost: 'lb.example.org' }, 'the IP address to ask for'],
      [{ expose: 'nodeport', exposeHost: 'not valid' }, 'neither an IP address nor a DNS name'],
      [{ expose: 'nodeport', nodePort: '99999' }, '--node-port must be a port number'],
      [{ expose: 'ingress', exposeHost: 'a.example.org', nodePort: '30443' }, '--node-port goes with --expose nodeport or loadbalancer'],
      [{ expose: 'none', exposeHost: 'a.example.org' }, '--expose none takes no --expose-host'],
    ] as const) {
      const err = refusal(() => exposeSets(flags));
      expect([err.code, err.exitCode], JSON.stringify(flags)).toEqual(['InvalidExpose', 2]);
      expect(err.message).toContain(text);
    }
  });
});

describe('pickNodeAddress', () => {
  const node = (name: string, ready: boolean, addresses: Array<[string, string]>): NodeLike => ({
    metadata: { name },
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }], addresses: addresses.map(([type, address]) => ({ type, address })) },
  });

  it('prefers a Ready node\'s ExternalIP, then an InternalIP, by node name', () => {
    const nodes = [node('b', true, [['InternalIP', '10.0.0.2']]), node('c', true, [['InternalIP', '10.0.0.3'], ['ExternalIP', '198.51.100.3']]), node('a', false, [['ExternalIP', '198.51.100.1']])];
    expect(pickNodeAddress(nodes)).toEqual({ node: 'c', address: '198.51.100.3', type: 'ExternalIP' });
    expect(pickNodeAddress(nodes.slice(0, 1))).toEqual({ node: 'b', address: '10.0.0.2', type: 'InternalIP' });
    expect(pickNodeAddress([node('a', false, [['InternalIP', '10.0.0.1']])])).toBeUndefined();
    expect(pickNodeAddress([])).toBeUndefined();
  });
});
