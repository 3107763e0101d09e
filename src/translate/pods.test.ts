import { describe, expect, it } from 'vitest';
import { hostPodSpec, mutablePodFields, podPolicyViolations, podReferences, tokenAnnotation, tokenSources, virtualPodStatus, type Pod, type PodPolicyAllow } from './pods.ts';

const none: PodPolicyAllow = { nodeName: false, hostNetwork: false, hostPID: false, hostIPC: false, hostPath: false, privileged: false, capabilities: false };

function pod(spec: Partial<Pod['spec']>, namespace = 'app'): Pod {
  return { metadata: { name: 'p', namespace, uid: 'u1' }, spec: { containers: [{ name: 'c', image: 'i:1' }], ...spec } };
}

describe('podPolicyViolations', () => {
  it('accepts an ordinary pod', () => {
    expect(podPolicyViolations(pod({}), none)).toEqual([]);
  });

  it('names every field a tenant must not choose, in init and regular containers', () => {
    const v = podPolicyViolations(pod({
      nodeName: 'n1', hostNetwork: true, hostPID: true, hostIPC: true,
      volumes: [{ name: 'root', hostPath: { path: '/' } }],
      initContainers: [{ name: 'init', image: 'i', securityContext: { privileged: true } }],
      containers: [{ name: 'c', image: 'i', securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }],
    }), none);
    expect(v).toEqual([
      'spec.nodeName (n1) is chosen by the host scheduler',
      'spec.hostNetwork is not allowed',
      'spec.hostPID is not allowed',
      'spec.hostIPC is not allowed',
      'hostPath volume root is not allowed',
      'container init is privileged',
      'container c adds capabilities SYS_ADMIN',
    ]);
  });

  it('lets the configuration allow a field', () => {
    expect(podPolicyViolations(pod({ hostNetwork: true }), { ...none, hostNetwork: true })).toEqual([]);
  });
});

describe('hostPodSpec', () => {
  const ctx = { tenant: 't1', hostServiceAccount: 'default', tokens: { secretName: 'p-x-app-x-t1-sa-token' } };

  it('points every reference at the host copies', () => {
    const spec = hostPodSpec(pod({
      volumes: [
        { name: 'a', configMap: { name: 'cm' } },
        { name: 'b', secret: { secretName: 'sec' } },
        { name: 'c', persistentVolumeClaim: { claimName: 'data' } },
        { name: 'd', projected: { sources: [{ configMap: { name: 'cm2' } }, { secret: { name: 'sec2' } }] } },
      ],
      containers: [{
        name: 'c', image: 'i',
        env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'cm3', key: 'k' } } }, { name: 'B', valueFrom: { secretKeyRef: { name: 'sec3', key: 'k' } } }],
        envFrom: [{ configMapRef: { name: 'cm4' } }, { secretRef: { name: 'sec4' } }],
      }],
      imagePullSecrets: [{ name: 'pull' }],
      serviceAccountName: 'builder',
    }), ctx);
    expect(spec.volumes.map((v: any) => v.configMap?.name ?? v.secret?.secretName ?? v.persistentVolumeClaim?.claimName ?? v.projected.sources.map((s: any) => s.configMap?.name ?? s.secret?.name))).toEqual([
      'cm-x-app-x-t1', 'sec-x-app-x-t1', 'data-x-app-x-t1', ['cm2-x-app-x-t1', 'sec2-x-app-x-t1'],
    ]);
    const c = spec.containers[0];
    expect(c.env[0].valueFrom.configMapKeyRef.name).toBe('cm3-x-app-x-t1');
    expect(c.env[1].valueFrom.secretKeyRef.name).toBe('sec3-x-app-x-t1');
    expect(c.envFrom).toEqual([{ configMapRef: { name: 'cm4-x-app-x-t1' } }, { secretRef: { name: 'sec4-x-app-x-t1' } }]);
    expect(spec.imagePullSecrets).toEqual([{ name: 'pull-x-app-x-t1' }]);
    expect(spec.serviceAccountName).toBe('default');
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.enableServiceLinks).toBe(false);
  });

  it('projects service-account tokens from the token Secret at the same path', () => {
    const p = pod({ volumes: [{ name: 'kube-api-access-x', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] } }] });
    const spec = hostPodSpec(p, ctx);
    expect(spec.volumes[0].projected.sources[0]).toEqual({ secret: { name: 'p-x-app-x-t1-sa-token', items: [{ key: 'kube-api-access-x.0', path: 'token' }] } });
  });

  it('projects service-account tokens from host pod annotations at the same path', () => {
    const p = pod({ volumes: [{ name: 'kube-api-access-x', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }, { configMap: { name: 'kube-root-ca.crt' } }] } }] });
    const [src] = tokenSources(p);
    expect(src).toEqual({ key: 'kube-api-access-x.0', expirationSeconds: 3607, audience: undefined });
    const spec = hostPodSpec(p, { ...ctx, tokens: 'annotation' });
    expect(spec.volumes[0].projected.sources[0]).toEqual({
      downwardAPI: { items: [{ path: 'token', fieldRef: { apiVersion: 'v1', fieldPath: `metadata.annotations['${tokenAnnotation('kube-api-access-x.0')}']` } }] },
    });
    expect(spec.volumes[0].projected.sources[1]).toEqual({ configMap: { name: 'kube-root-ca.crt-x-app-x-t1' } });
  });

  it('narrows affinity and spread selectors to the tenant and virtual namespaces', () => {
    const spec = hostPodSpec(pod({
      affinity: { podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname' }],
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, podAffinityTerm: { labelSelector: { matchLabels: { app: 'db' } }, namespaces: ['data'], topologyKey: 'zone' } }],
      } },
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } } }],
    }), ctx);
    const anti = spec.affinity.podAntiAffinity;
    expect(anti.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector).toEqual({
      matchLabels: { app: 'web', 'vnest.dev/tenant': 't1' },
      matchExpressions: [{ key: 'vnest.dev/namespace', operator: 'In', values: ['app'] }],
    });
    const preferred = anti.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm;
    expect(preferred.labelSelector.matchExpressions).toEqual([{ key: 'vnest.dev/namespace', operator: 'In', values: ['data'] }]);
    expect(preferred.namespaces).toBeUndefined();
    expect(spec.topologySpreadConstraints[0].labelSelector.matchLabels).toEqual({ app: 'web', 'vnest.dev/tenant': 't1' });
  });

  it('points in-pod clients at the tenant API when configured', () => {
    const spec = hostPodSpec(pod({ containers: [{ name: 'c', image: 'i', env: [{ name: 'KUBERNETES_SERVICE_HOST', value: 'x' }] }] }), { ...ctx, tenantApi: { host: '10.96.0.10', port: 443 } });
    expect(spec.containers[0].env).toEqual([{ name: 'KUBERNETES_SERVICE_HOST', value: '10.96.0.10' }, { name: 'KUBERNETES_SERVICE_PORT', value: '443' }]);
  });

  it('points cluster-DNS pods at the tenant DNS with the kubelet search path, leaving other policies alone', () => {
    const dns = { nameserver: '10.96.0.10', clusterDomain: 'cluster.local' };
    const spec = hostPodSpec(pod({ dnsConfig: { searches: ['corp.example'], options: [{ name: 'ndots', value: '2' }] } }), { ...ctx, dns });
    expect(spec.dnsPolicy).toBe('None');
    expect(spec.dnsConfig).toEqual({
      nameservers: ['10.96.0.10'],
      searches: ['app.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example'],
      options: [{ name: 'ndots', value: '2' }],
    });
    expect(hostPodSpec(pod({ dnsPolicy: 'Default' }), { ...ctx, dns }).dnsPolicy).toBe('Default');
    expect(hostPodSpec(pod({}), ctx).dnsPolicy).toBeUndefined();
  });

  it('does not change the virtual pod', () => {
    const p = pod({ volumes: [{ name: 'a', configMap: { name: 'cm' } }] });
    const before = structuredClone(p);
    hostPodSpec(p, ctx);
    expect(p).toEqual(before);
  });
});

describe('podReferences', () => {
  it('collects configmaps, secrets and claims from volumes, env and pull secrets', () => {
    const refs = podReferences(pod({
      volumes: [{ name: 'a', configMap: { name: 'cm' } }, { name: 'b', persistentVolumeClaim: { claimName: 'data' } }],
      containers: [{ name: 'c', image: 'i', envFrom: [{ secretRef: { name: 's' } }] }],
      imagePullSecrets: [{ name: 'pull' }],
    }));
    expect([...refs.configmaps]).toEqual(['cm']);
    expect([...refs.secrets].sort()).toEqual(['pull', 's']);
    expect([...refs.pvcs]).toEqual(['data']);
  });
});

describe('status and mutable fields', () => {
  it('copies the host status fields a tenant sees', () => {
    expect(virtualPodStatus({ phase: 'Running', podIP: '10.0.0.1', qosClass: 'BestEffort', nominatedNodeName: 'x' })).toEqual({ phase: 'Running', podIP: '10.0.0.1' });
  });

  it('projects only the fields a live pod may change', () => {
    expect(mutablePodFields({ containers: [{ name: 'c', image: 'a', command: ['x'] }], activeDeadlineSeconds: 5 })).toEqual({
      containers: [{ image: 'a' }], initContainers: [], activeDeadlineSeconds: 5, tolerations: [],
    });
  });
});
