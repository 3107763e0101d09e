import { describe, expect, it } from 'vitest';
import { podServiceEnv, serviceEnvVars, withServiceEnv, type ServiceForEnv } from './service-env.ts';

const svc = (namespace: string, name: string, clusterIP: string, ports: Array<{ name?: string; port: number; protocol?: string }>): ServiceForEnv =>
  ({ metadata: { name, namespace }, spec: { clusterIP, ports } });

describe('service environment variables', () => {
  it('gives a Service the kubelet\'s variables: host, ports by name, and the link variables per port', () => {
    const env = serviceEnvVars([svc('app', 'redis-main', '10.96.3.4', [{ name: 'client', port: 6379 }, { name: 'gossip', port: 16379, protocol: 'UDP' }])]);
    expect(env).toEqual([
      { name: 'REDIS_MAIN_SERVICE_HOST', value: '10.96.3.4' },
      { name: 'REDIS_MAIN_SERVICE_PORT', value: '6379' },
      { name: 'REDIS_MAIN_SERVICE_PORT_CLIENT', value: '6379' },
      { name: 'REDIS_MAIN_SERVICE_PORT_GOSSIP', value: '16379' },
      { name: 'REDIS_MAIN_PORT', value: 'tcp://10.96.3.4:6379' },
      { name: 'REDIS_MAIN_PORT_6379_TCP', value: 'tcp://10.96.3.4:6379' },
      { name: 'REDIS_MAIN_PORT_6379_TCP_PROTO', value: 'tcp' },
      { name: 'REDIS_MAIN_PORT_6379_TCP_PORT', value: '6379' },
      { name: 'REDIS_MAIN_PORT_6379_TCP_ADDR', value: '10.96.3.4' },
      { name: 'REDIS_MAIN_PORT_16379_UDP', value: 'udp://10.96.3.4:16379' },
      { name: 'REDIS_MAIN_PORT_16379_UDP_PROTO', value: 'udp' },
      { name: 'REDIS_MAIN_PORT_16379_UDP_PORT', value: '16379' },
      { name: 'REDIS_MAIN_PORT_16379_UDP_ADDR', value: '10.96.3.4' },
    ]);
    expect(serviceEnvVars([svc('app', 'v6', 'fd00::5', [{ port: 80 }])]).find((e) => e.name === 'V6_PORT')?.value).toBe('tcp://[fd00::5]:80');
  });

  it('leaves out headless Services and those without an IP (ExternalName)', () => {
    expect(serviceEnvVars([svc('app', 'headless', 'None', [{ port: 80 }]), { metadata: { name: 'ext', namespace: 'app' }, spec: { ports: [{ port: 80 }] } }])).toEqual([]);
  });

  it('a pod gets its namespace\'s Services unless service links are off, and default/kubernetes always', () => {
    const all = [svc('app', 'web', '10.96.0.20', [{ port: 80 }]), svc('other', 'db', '10.96.0.30', [{ port: 5432 }]), svc('default', 'kubernetes', '10.96.0.1', [{ name: 'https', port: 443 }]), svc('app', 'api', '10.96.0.21', [{ port: 8080 }])];
    const names = (env: Array<{ name: string }>) => env.filter((e) => e.name.endsWith('_SERVICE_HOST')).map((e) => e.name);
    expect(names(podServiceEnv('app', undefined, all))).toEqual(['API_SERVICE_HOST', 'KUBERNETES_SERVICE_HOST', 'WEB_SERVICE_HOST']);
    expect(names(podServiceEnv('app', false, all))).toEqual(['KUBERNETES_SERVICE_HOST']);
    // A Service named kubernetes in the pod's namespace does not displace the cluster's.
    expect(podServiceEnv('app', true, [...all, svc('app', 'kubernetes', '10.96.9.9', [{ port: 1 }])]).find((e) => e.name === 'KUBERNETES_SERVICE_HOST')?.value).toBe('10.96.0.1');
  });

  it('puts the variables first and lets the container\'s own win', () => {
    const own = [{ name: 'WEB_SERVICE_HOST', value: 'mine' }, { name: 'URL', value: 'http://$(WEB_SERVICE_HOST)' }];
    expect(withServiceEnv(own, [{ name: 'WEB_SERVICE_HOST', value: '10.96.0.20' }, { name: 'WEB_SERVICE_PORT', value: '80' }])).toEqual([{ name: 'WEB_SERVICE_PORT', value: '80' }, ...own]);
  });
});
