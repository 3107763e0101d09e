import { describe, expect, it } from 'vitest';
import { connectTarget, egressVerdict, type EgressView } from './egress.ts';

const view: EgressView = {
  nodes: [
    { metadata: { name: 'n1' }, status: { addresses: [{ address: '10.0.0.1' }, { address: 'n1' }] } },
    { metadata: { name: 'n2' }, status: { addresses: [{ address: '10.0.0.2' }], daemonEndpoints: { kubeletEndpoint: { Port: 10255 } } } },
  ],
  pods: [
    { metadata: { name: 'p' }, status: { podIP: '10.244.0.5', podIPs: [{ ip: '10.244.0.5' }, { ip: 'fd00::5' }] } },
    { metadata: { name: 'h' }, spec: { hostNetwork: true }, status: { podIP: '10.0.0.3' } },
  ],
  services: [{ metadata: { name: 's' }, spec: { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'] } }, { metadata: { name: 'headless' }, spec: { clusterIP: 'None' } }],
};

describe('egressVerdict', () => {
  it('answers a virtual node\'s kubelet address itself, at the port its status names or 10250', () => {
    expect(egressVerdict('10.0.0.1', 10250, view)).toEqual({ kind: 'kubelet' });
    expect(egressVerdict('n1', 10250, view)).toEqual({ kind: 'kubelet' });
    expect(egressVerdict('10.0.0.2', 10255, view)).toEqual({ kind: 'kubelet' });
    expect(egressVerdict('10.0.0.2', 10250, view).kind).toBe('refuse');
  });

  it('dials the tenant\'s pods (any of their IPs) and Services', () => {
    expect(egressVerdict('10.244.0.5', 8443, view)).toEqual({ kind: 'dial' });
    expect(egressVerdict('fd00::5', 443, view)).toEqual({ kind: 'dial' });
    expect(egressVerdict('10.96.0.20', 443, view)).toEqual({ kind: 'dial' });
  });

  it('refuses everything else: host-network pods, names, other addresses', () => {
    for (const [host, port] of [['10.0.0.3', 443], ['10.0.0.1', 6443], ['None', 443], ['kubernetes.default.svc', 443], ['169.254.169.254', 80], ['10.96.0.1', 443]] as const) {
      const v = egressVerdict(host, port, view);
      expect(v.kind, `${host}:${port}`).toBe('refuse');
      expect(v.kind === 'refuse' && v.reason).toContain(`${host}:${port} is not a pod or Service of this tenant`);
    }
  });
});

describe('connectTarget', () => {
  it('reads host:port, IPv6 in brackets', () => {
    expect(connectTarget('10.0.0.1:10250')).toEqual({ host: '10.0.0.1', port: 10250 });
    expect(connectTarget('[fd00::5]:443')).toEqual({ host: 'fd00::5', port: 443 });
    expect(connectTarget('node-a:10250')).toEqual({ host: 'node-a', port: 10250 });
  });

  it('refuses anything else', () => {
    for (const bad of ['10.0.0.1', '10.0.0.1:0', '10.0.0.1:70000', 'fd00::5:443', '/path', 'a:b', '']) expect(connectTarget(bad), bad).toBeUndefined();
  });
});
