import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultPolicy, type IsolationPolicy } from './policy.ts';
import { audienceTokenKey, hostPodView, hostSpecCurrent, mutablePodFields, podResizePatch, podProblems, podReferences, podSpecShape, readinessGatePatch, stoppedPodStatus, tokenAnnotation, tokenSources, translatePod, virtualPodStatus, type Pod, type PodTranslateContext } from './pods.ts';
import { shapePaths } from './shape.ts';
import { trustBundleKey } from './trust-bundles.ts';

function pod(spec: Partial<Pod['spec']>, namespace = 'app'): Pod {
  return { metadata: { name: 'p', namespace, uid: 'u1' }, spec: { containers: [{ name: 'c', image: 'i:1' }], ...spec } };
}

const ctx: PodTranslateContext = { tenant: 't1', hostServiceAccount: 'default', tokens: { secretName: 'p-x-app-x-t1-sa-token', keys: 'volume' }, policy: defaultPolicy() };
const hostPodSpec = (p: Pod, c: PodTranslateContext = ctx) => translatePod(p, c).spec;
const problems = (spec: Partial<Pod['spec']>, policy: Partial<IsolationPolicy> = {}) => translatePod(pod(spec), { ...ctx, policy: defaultPolicy(policy) }).problems;

describe('translatePod: policy', () => {
  it('accepts an ordinary pod', () => {
    expect(problems({})).toEqual([]);
  });

  it('names every baseline control a pod breaks, in init and regular containers', () => {
    const v = problems({
      hostNetwork: true, hostPID: true, hostIPC: true,
      volumes: [{ name: 'root', hostPath: { path: '/' } }],
      securityContext: { sysctls: [{ name: 'kernel.msgmax', value: '1' }], seccompProfile: { type: 'Unconfined' } },
      initContainers: [{ name: 'init', image: 'i', securityContext: { privileged: true } }],
      containers: [{
        name: 'c', image: 'i', ports: [{ containerPort: 80, hostPort: 80 }],
        securityContext: { capabilities: { add: ['SYS_ADMIN', 'CHOWN'] }, procMount: 'Unmasked', seLinuxOptions: { type: 'spc_t' }, appArmorProfile: { type: 'Unconfined' } },
        livenessProbe: { httpGet: { host: '169.254.169.254', port: 80 } },
      }],
    });
    expect(v).toEqual([
      'spec.hostNetwork: host networking is not allowed',
      'spec.hostPID: the host PID namespace is not allowed',
      'spec.hostIPC: the host IPC namespace is not allowed',
      'spec.volumes[0].hostPath: hostPath volumes are not allowed',
      'spec.securityContext.seccompProfile.type: Unconfined seccomp is not allowed',
      'spec.securityContext.sysctls[0]: sysctl kernel.msgmax is not in the safe set',
      'spec.initContainers[0].securityContext.privileged: container init must not be privileged',
      'spec.containers[0].securityContext.capabilities.add: container c adds SYS_ADMIN',
      'spec.containers[0].ports[0].hostPort: host ports are not allowed',
      'spec.containers[0].securityContext.seLinuxOptions.type: SELinux type spc_t is not allowed',
      'spec.containers[0].securityContext.appArmorProfile.type: Unconfined AppArmor is not allowed',
      'spec.containers[0].securityContext.procMount: only the Default /proc mount is allowed',
      'spec.containers[0].livenessProbe.httpGet.host: probes and hooks may not name a host',
    ]);
  });

  it('lets the operator allow single controls, or everything with the privileged level', () => {
    expect(problems({ hostNetwork: true }, { allow: new Set(['hostNetwork']) })).toEqual([]);
    expect(problems({ hostNetwork: true, volumes: [{ name: 'root', hostPath: { path: '/' } }] }, { podSecurity: 'privileged' })).toEqual([]);
  });

  it('applies the restricted level when asked', () => {
    expect(problems({}, { podSecurity: 'restricted' })).toEqual([
      'spec.containers[0].securityContext.allowPrivilegeEscalation must be false',
      'spec.containers[0].securityContext.runAsNonRoot must be true (here or in spec.securityContext)',
      'spec.containers[0].securityContext.seccompProfile.type must be RuntimeDefault or Localhost (here or in spec.securityContext)',
      'spec.containers[0].securityContext.capabilities.drop must include ALL',
    ]);
    const good = {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'c', image: 'i', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    };
    expect(problems(good, { podSecurity: 'restricted' })).toEqual([]);
  });

  it('refuses fields that pick host resources unless the operator permits them', () => {
    expect(problems({
      nodeName: 'n1',
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }] } } },
      tolerations: [{ key: 'dedicated', operator: 'Exists' }, { operator: 'Exists' }, { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' }],
      priorityClassName: 'system-node-critical', runtimeClassName: 'kata', schedulerName: 'other',
    })).toEqual([
      'spec.nodeName: pods may not pick a host node by name (n1); the host scheduler places them',
      'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields: pods may not pick host nodes by field',
      'spec.tolerations[0]: tolerating taint dedicated is not permitted on this host',
      'spec.tolerations[1]: tolerating every taint is not permitted on this host',
      'spec.priorityClassName: priority class system-node-critical is not permitted on this host',
      'spec.runtimeClassName: runtime class kata is not permitted on this host',
      'spec.schedulerName: scheduler other is not permitted on this host',
    ]);
    expect(problems(
      { tolerations: [{ key: 'dedicated', operator: 'Exists' }], priorityClassName: 'batch', runtimeClassName: 'kata', schedulerName: 'other' },
      { tolerations: new Set(['dedicated']), priorityClasses: new Set(['batch']), runtimeClasses: new Set(['kata']), schedulers: new Set(['other']) },
    )).toEqual([]);
    expect(problems({ schedulerName: 'default-scheduler' })).toEqual([]);
  });

  it('gives the container its virtual name as host name unless the pod names one', () => {
    expect(hostPodSpec(pod({})).hostname).toBe('p');
    expect(hostPodSpec(pod({ hostname: 'db-0', subdomain: 'hl' })).hostname).toBe('db-0');
    const dotted: Pod = { ...pod({}), metadata: { name: 'a.b', namespace: 'app', uid: 'u2' } };
    expect(hostPodSpec(dotted).hostname).toBeUndefined();
  });

  it('places every pod by the operator\'s node selector, refusing a pod that asks for other nodes by the same label', () => {
    const policy = defaultPolicy({ nodeSelector: { pool: 'tenants' } });
    expect(translatePod(pod({}), { ...ctx, policy }).spec.nodeSelector).toEqual({ pool: 'tenants' });
    const own = translatePod(pod({ nodeSelector: { disk: 'ssd', pool: 'tenants' } }), { ...ctx, policy });
    expect(own.problems).toEqual([]);
    expect(own.spec.nodeSelector).toEqual({ disk: 'ssd', pool: 'tenants' });
    expect(problems({ nodeSelector: { pool: 'system' } }, { nodeSelector: { pool: 'tenants' } })).toEqual([
      'spec.nodeSelector.pool: this tenant\'s pods run on host nodes with pool=tenants, not "system"',
    ]);
    expect(hostPodSpec(pod({ nodeSelector: { pool: 'system' } })).nodeSelector).toEqual({ pool: 'system' });
  });

  it('drops the nodeName of a pod the syncer bound itself', () => {
    const r = translatePod(pod({ nodeName: 'n1' }), { ...ctx, boundBySyncer: true });
    expect(r.problems).toEqual([]);
    expect(r.spec.nodeName).toBeUndefined();
  });

  it('refuses fields that are not on the allow-list, and copies them when the operator allows the path', () => {
    const spec = { futureField: { x: 1 }, containers: [{ name: 'c', image: 'i', futureContainerField: true }] };
    expect(problems(spec)).toEqual([
      'spec.containers[0].futureContainerField is not on vnest\'s allow-list of fields',
      'spec.futureField is not on vnest\'s allow-list of fields',
    ]);
    const allowed = translatePod(pod(spec), { ...ctx, policy: defaultPolicy({ allowFields: new Set(['Pod.spec.futureField', 'Pod.spec.containers[*].futureContainerField']) }) });
    expect(allowed.problems).toEqual([]);
    expect(allowed.spec.futureField).toEqual({ x: 1 });
    expect(allowed.spec.containers[0].futureContainerField).toBe(true);
  });

  it('refuses references it cannot translate: resource claims, legacy volume types', () => {
    expect(problems({
      resourceClaims: [{ name: 'gpu', resourceClaimName: 'gpu' }],
      volumes: [
        { name: 'a', projected: { sources: [{ clusterTrustBundle: { name: 'b', path: 'p' } }, { podCertificate: { signerName: 'x', keyType: 'RSA3072', credentialBundlePath: 'c' } }] } },
        { name: 'b', nfs: { server: '10.0.0.1', path: '/' } },
        { name: 'c', cephfs: { monitors: ['m'], secretRef: { name: 'ceph' } } },
        { name: 'd', gitRepo: { repository: 'x' } },
      ],
    })).toEqual([
      'spec.resourceClaims: resource claims are not synced to the host',
      'spec.volumes[1].nfs is not on vnest\'s allow-list of fields',
      'spec.volumes[2].cephfs is not on vnest\'s allow-list of fields',
      'spec.volumes[3].gitRepo is not on vnest\'s allow-list of fields',
    ]);
  });

  it("projects the tenant's ClusterTrustBundles from the tenant's trust bundle ConfigMap, never the host's", () => {
    const { spec, problems } = translatePod(pod({ volumes: [{ name: 'ca', projected: { sources: [{ clusterTrustBundle: { signerName: 'example.com/s', labelSelector: {}, path: 'ca.pem' } }] } }] }), ctx);
    expect(problems).toEqual([]);
    expect(spec.volumes[0].projected.sources).toEqual([{ configMap: { name: 't1-trust-bundles', items: [{ key: trustBundleKey({ signerName: 'example.com/s', labelSelector: {}, path: 'ca.pem' }), path: 'ca.pem' }] } }]);
  });

  it('checks ephemeral claim templates like claims', () => {
    expect(problems({ volumes: [{ name: 'e', ephemeral: { volumeClaimTemplate: { spec: { selector: { matchLabels: { a: 'b' } }, volumeName: 'pv-1', dataSource: { kind: 'VolumeSnapshot', apiGroup: 'snapshot.storage.k8s.io', name: 's' } } } } }] })).toEqual([
      'spec.volumes[0].ephemeral.volumeClaimTemplate.spec.selector: a claim may not select volumes by label; on a shared host the host binds claims to volumes',
      'spec.volumes[0].ephemeral.volumeClaimTemplate.spec.volumeName: a claim may not name a volume; on a shared host the host binds claims to volumes',
      'spec.volumes[0].ephemeral.volumeClaimTemplate.spec.dataSource: snapshot.storage.k8s.io/VolumeSnapshot data sources are not synced; only this tenant\'s own claims can be cloned',
    ]);
    const spec = hostPodSpec(pod({ volumes: [{ name: 'e', ephemeral: { volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'], dataSource: { kind: 'PersistentVolumeClaim', name: 'src' } } } } }] }));
    expect(spec.volumes[0].ephemeral.volumeClaimTemplate.spec.dataSource).toEqual({ kind: 'PersistentVolumeClaim', name: 'src-x-app-x-t1' });
  });

  it('names in its shape every field it copies', () => {
    const paths = shapePaths(podSpecShape);
    expect(paths).toContain('containers[*].securityContext.capabilities.add');
    expect(paths).toContain('volumes[*].csi.nodePublishSecretRef.name');
    expect(paths).not.toContain('volumes[*].nfs');
  });
});

describe('translatePod: the host spec', () => {
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

  it('projects tokens from the service account\'s shared Secret, one key per audience and lifetime', () => {
    const shared: PodTranslateContext = { ...ctx, tokens: { secretName: 'default-x-app-x-t1-token', keys: 'audience' }, tokenExpirationSeconds: 3600 };
    const p = pod({ volumes: [
      { name: 'kube-api-access-x', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] } },
      { name: 'vault', projected: { sources: [{ serviceAccountToken: { path: 'vault-token', audience: 'vault' } }, { serviceAccountToken: { path: 'short', expirationSeconds: 60 } }] } },
    ] });
    const spec = hostPodSpec(p, shared);
    const items = spec.volumes.flatMap((v: { projected: { sources: Array<{ secret: { name: string; items: unknown[] } }> } }) => v.projected.sources.map((s) => s.secret));
    expect(items.map((s: { name: string }) => s.name)).toEqual(['default-x-app-x-t1-token', 'default-x-app-x-t1-token', 'default-x-app-x-t1-token']);
    const keys = items.map((s: { items: Array<{ key: string }> }) => s.items[0]?.key);
    // 3607 s as asked; the default lifetime for the audience-only source; lifetimes under 600 s become 600.
    expect(keys[0]).toBe('token.3607');
    expect(keys[1]).toMatch(/^token\.3600\.[0-9a-f]{16}$/);
    expect(keys[2]).toBe('token.600');
    expect(audienceTokenKey({ audience: 'vault' }, 3600)).toBe(keys[1]);
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

  it('keeps a nested tenant\'s narrowing in affinity selectors, under the keys its pods carry on the host', () => {
    const spec = hostPodSpec(pod({
      containers: [{ name: 'c', image: 'i' }],
      affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'db', 'vnest.dev/tenant': 'child' }, matchExpressions: [{ key: 'vnest.dev/namespace', operator: 'In', values: ['data'] }] } }] } },
    }), ctx);
    const term = spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0];
    expect(term.labelSelector.matchLabels).toEqual({ app: 'db', 'vnest.dev/nested-tenant': 'child', 'vnest.dev/tenant': 't1' });
    expect(term.labelSelector.matchExpressions).toContainEqual({ key: 'vnest.dev/nested-namespace', operator: 'In', values: ['data'] });
  });

  it('points in-pod clients at the tenant API when configured, unless the pod names its own (a nested tenant\'s pods do)', () => {
    const api = { ...ctx, tenantApi: { host: '10.96.0.10', port: 443 } };
    expect(hostPodSpec(pod({ containers: [{ name: 'c', image: 'i' }] }), api).containers[0].env).toEqual([{ name: 'KUBERNETES_SERVICE_HOST', value: '10.96.0.10' }, { name: 'KUBERNETES_SERVICE_PORT', value: '443' }]);
    const own = [{ name: 'KUBERNETES_SERVICE_HOST', value: '10.96.7.7' }, { name: 'KUBERNETES_SERVICE_PORT', value: '8443' }];
    expect(hostPodSpec(pod({ containers: [{ name: 'c', image: 'i', env: own }] }), api).containers[0].env).toEqual(own);
  });

  it("gives every container the tenant's service variables before its own, the tenant API's address winning over its Service's", () => {
    const serviceEnv = [{ name: 'KUBERNETES_SERVICE_HOST', value: '10.96.0.1' }, { name: 'KUBERNETES_PORT', value: 'tcp://10.96.0.1:443' }, { name: 'WEB_SERVICE_HOST', value: '10.96.0.20' }];
    const spec = hostPodSpec(pod({ initContainers: [{ name: 'i', image: 'i' }], containers: [{ name: 'c', image: 'i', env: [{ name: 'A', value: '$(WEB_SERVICE_HOST)' }] }] }), { ...ctx, serviceEnv, tenantApi: { host: '10.96.5.5', port: 443 } });
    expect(spec.containers[0].env).toEqual([
      { name: 'KUBERNETES_SERVICE_HOST', value: '10.96.5.5' }, { name: 'KUBERNETES_SERVICE_PORT', value: '443' },
      { name: 'KUBERNETES_PORT', value: 'tcp://10.96.0.1:443' }, { name: 'WEB_SERVICE_HOST', value: '10.96.0.20' },
      { name: 'A', value: '$(WEB_SERVICE_HOST)' },
    ]);
    expect(spec.initContainers[0].env.map((e: { name: string }) => e.name)).toEqual(['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'KUBERNETES_PORT', 'WEB_SERVICE_HOST']);
    expect(spec.enableServiceLinks).toBe(false);
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

  it('gives the downward API the virtual pod\'s name, namespace and UID', () => {
    const spec = hostPodSpec(pod({
      containers: [{ name: 'c', image: 'i', env: [{ name: 'N', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }] }],
      volumes: [{ name: 'd', downwardAPI: { items: [{ path: 'ns', fieldRef: { fieldPath: 'metadata.namespace' } }, { path: 'uid', fieldRef: { fieldPath: 'metadata.uid' } }] } }],
    }));
    expect(spec.containers[0].env.map((e: any) => e.valueFrom.fieldRef.fieldPath)).toEqual([`metadata.annotations['vnest.dev/object-name']`, 'status.podIP']);
    expect(spec.volumes[0].downwardAPI.items.map((i: any) => i.fieldRef.fieldPath)).toEqual([`metadata.annotations['vnest.dev/object-namespace']`, `metadata.annotations['vnest.dev/object-uid']`]);
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

  it('maps the observed generations of the host pod to those of the virtual pod only when the host pod carries every virtual change', () => {
    const host = {
      phase: 'Running', observedGeneration: 3,
      conditions: [{ type: 'Ready', status: 'True', observedGeneration: 3 }, { type: 'PodScheduled', status: 'True', observedGeneration: 2 }, { type: 'Custom', status: 'True' }],
    };
    const previous = { observedGeneration: 40, conditions: [{ type: 'Ready', status: 'False', observedGeneration: 40 }] };
    // 500 virtual updates folded into 3 host generations: observing the newest is observing 500.
    expect(virtualPodStatus(host, { host: 3, virtual: 500, current: true, previous })).toEqual({
      phase: 'Running', observedGeneration: 500,
      conditions: [{ type: 'Ready', status: 'True', observedGeneration: 500 }, { type: 'PodScheduled', status: 'True' }, { type: 'Custom', status: 'True' }],
    });
    // A virtual change not on the host yet: what was observed before stays.
    expect(virtualPodStatus(host, { host: 3, virtual: 501, current: false, previous })).toMatchObject({
      observedGeneration: 40, conditions: [{ type: 'Ready', observedGeneration: 40 }, { type: 'PodScheduled' }, { type: 'Custom' }],
    });
    // The host's kubelet behind its own pod.
    expect(virtualPodStatus(host, { host: 4, virtual: 500, current: true, previous }).observedGeneration).toBe(40);
    expect(virtualPodStatus({ phase: 'Pending' }, { host: 1, virtual: 1, current: true })).toEqual({ phase: 'Pending' });
  });

  it("keeps the tenant's own conditions (readiness gates, an eviction's DisruptionTarget) over the host's, and the kubelet's from the host", () => {
    const host = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }, { type: 'example.com/gate', status: 'True' }] };
    const previous = { conditions: [{ type: 'Ready', status: 'False' }, { type: 'example.com/gate', status: 'False' }, { type: 'DisruptionTarget', status: 'True', reason: 'EvictionByEvictionAPI' }] };
    expect(virtualPodStatus(host, { host: 1, virtual: 1, current: true, previous }).conditions).toEqual([
      { type: 'Ready', status: 'True' },
      { type: 'example.com/gate', status: 'False' },
      { type: 'DisruptionTarget', status: 'True', reason: 'EvictionByEvictionAPI' },
    ]);
  });

  it("passes the tenant's readiness-gate conditions to the host pod, never a kubelet condition", () => {
    const vPod = pod({ readinessGates: [{ conditionType: 'example.com/gate' }, { conditionType: 'Ready' }] });
    vPod.status = { conditions: [{ type: 'example.com/gate', status: 'True', reason: 'LB', lastTransitionTime: 't' }, { type: 'Ready', status: 'True' }, { type: 'Other', status: 'True' }] };
    expect(readinessGatePatch(vPod, { conditions: [{ type: 'Ready', status: 'False' }] })).toEqual({
      status: { conditions: [{ type: 'example.com/gate', status: 'True', reason: 'LB', lastTransitionTime: 't' }] },
    });
    expect(readinessGatePatch(vPod, { conditions: [{ type: 'example.com/gate', status: 'True', reason: 'LB', lastTransitionTime: 'other' }] })).toBeUndefined();
    expect(readinessGatePatch(pod({}), {})).toBeUndefined();
  });

  it('stops a pod whose host pod went before a terminal phase: Failed, not ready, running containers ended', () => {
    const status = {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }, { type: 'DisruptionTarget', status: 'True' }],
      containerStatuses: [{ name: 'a', ready: true, state: { running: { startedAt: 's' } } }, { name: 'b', state: { terminated: { exitCode: 0 } } }],
    };
    const out = stoppedPodStatus(status);
    expect(out.phase).toBe('Failed');
    expect(out.conditions).toMatchObject([{ type: 'Ready', status: 'False' }, { type: 'DisruptionTarget', status: 'True' }]);
    expect(out.containerStatuses).toMatchObject([{ name: 'a', ready: false, state: { terminated: { exitCode: 137, startedAt: 's' } } }, { name: 'b', state: { terminated: { exitCode: 0 } } }]);
    expect(stoppedPodStatus({ containerStatuses: [{ name: 'a', state: { terminated: { exitCode: 0 } } }] }).phase).toBe('Succeeded');
    expect(stoppedPodStatus(undefined)).toEqual({ phase: 'Failed', containerStatuses: [] });
  });

  it('resizes the host pod to the requests and limits the tenant sets, leaving quantities the host added', () => {
    const host = { containers: [{ name: 'a', resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '1' } } }, { name: 'b' }] };
    expect(podResizePatch({ containers: [{ name: 'a', resources: { requests: { cpu: '100m' } } }, { name: 'b' }] }, host)).toBeUndefined();
    expect(podResizePatch({ containers: [{ name: 'a', resources: { requests: { cpu: '200m' } } }, { name: 'b', resources: { limits: { memory: '1Gi' } } }] }, host)).toEqual({
      spec: { containers: [{ name: 'a', resources: { requests: { cpu: '200m' } } }, { name: 'b', resources: { limits: { memory: '1Gi' } } }] },
    });
    expect(podResizePatch({ containers: [], resources: { requests: { cpu: '1' } } }, { containers: [] })).toEqual({ spec: { resources: { requests: { cpu: '1' } } } });
  });

  it('tells whether the host pod carries every change the syncer passes on', () => {
    const v = { containers: [{ name: 'a', image: 'x', resources: { requests: { cpu: '1' } } }], tolerations: [{ key: 't', operator: 'Exists' }], activeDeadlineSeconds: 9 };
    const h = { ...v, tolerations: [{ key: 'host', operator: 'Exists' }, { key: 't', operator: 'Exists' }] };
    expect(hostSpecCurrent(v, h)).toBe(true);
    expect(hostSpecCurrent({ ...v, activeDeadlineSeconds: 8 }, h)).toBe(false);
    expect(hostSpecCurrent({ ...v, containers: [{ name: 'a', image: 'y', resources: { requests: { cpu: '1' } } }] }, h)).toBe(false);
    expect(hostSpecCurrent({ ...v, containers: [{ name: 'a', image: 'x', resources: { requests: { cpu: '2' } } }] }, h)).toBe(false);
    expect(hostSpecCurrent({ ...v, tolerations: [{ key: 'u', operator: 'Exists' }] }, h)).toBe(false);
    expect(hostSpecCurrent({ ...v, ephemeralContainers: [{ name: 'debug' }] }, h)).toBe(false);
  });

  it('projects only the fields a live pod may change', () => {
    expect(mutablePodFields({ containers: [{ name: 'c', image: 'a', command: ['x'] }], activeDeadlineSeconds: 5 })).toEqual({
      containers: [{ image: 'a' }], initContainers: [], activeDeadlineSeconds: 5, tolerations: [],
    });
  });
});

describe('translatePod: the tenant\'s FQDN in /etc/hosts', () => {
  const withHosts: PodTranslateContext = { ...ctx, hostsImage: 'vnest:1', dns: { nameserver: '10.0.0.10', clusterDomain: 'cluster.local' } };
  const sts = (extra: Partial<Pod['spec']> = {}) => ({ ...pod({ subdomain: 'db', initContainers: [{ name: 'setup', image: 'i:1' }], ...extra }), metadata: { name: 'db-0', namespace: 'app', uid: 'u1' } });
  // What a host kubelet writes for the host copy of db-0 (subdomain db) in host namespace vnest-t1.
  const kubeletHosts = [
    '# Kubernetes-managed hosts file.', '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback',
    '10.244.0.7\tdb-0.db.vnest-t1.svc.cluster.local\tdb-0', '# Entries added by HostAliases.', '10.1.1.1\tdb-0.db.other',
  ].join('\n') + '\n';

  it('adds, last, an init container that writes the kubelet\'s file with the tenant\'s FQDN, mounted at /etc/hosts in every container', () => {
    const spec = hostPodSpec(sts(), withHosts);
    expect(spec.initContainers.map((c: { name: string }) => c.name)).toEqual(['setup', 'vnest-hosts']);
    const init = spec.initContainers[1];
    expect(init).toMatchObject({ image: 'vnest:1', command: ['sh', '-c', expect.any(String)], securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } });
    expect(spec.volumes).toContainEqual({ name: 'vnest-hosts', emptyDir: {} });
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'vnest-hosts', mountPath: '/etc/hosts', subPath: 'hosts' });
    expect(spec.initContainers[0].volumeMounts ?? []).toEqual([]);
    // The script, run by a real sh and sed on the kubelet's file.
    const dir = mkdtempSync(join(tmpdir(), 'vnest-hosts-'));
    try {
      writeFileSync(join(dir, 'in'), kubeletHosts);
      const script = (init.command[2] as string).replace('/etc/hosts', join(dir, 'in')).replace('/vnest-hosts/hosts', join(dir, 'out'));
      execFileSync('sh', ['-c', script]);
      expect(readFileSync(join(dir, 'out'), 'utf8')).toBe(kubeletHosts.replace('db-0.db.vnest-t1.svc.cluster.local', 'db-0.db.app.svc.cluster.local'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('adds nothing without a subdomain, an image, or a container left to mount it, nor over a tenant\'s own container of that name', () => {
    const plain = (spec: Record<string, unknown>) => expect(JSON.stringify(spec)).not.toContain('vnest-hosts');
    plain(hostPodSpec(pod({}), withHosts));
    plain(hostPodSpec(sts(), ctx));
    plain(hostPodSpec(sts({ containers: [{ name: 'c', image: 'i', volumeMounts: [{ name: 'h', mountPath: '/etc/hosts' }] }], volumes: [{ name: 'h', emptyDir: {} }] }), withHosts));
    const own = hostPodSpec(sts({ initContainers: [{ name: 'vnest-hosts', image: 'mine' }] }), withHosts);
    expect(own.initContainers).toEqual([{ name: 'vnest-hosts', image: 'mine' }]);
  });

  it('compares the host pod without the added container, and shows no status of it', () => {
    const v = sts();
    const h = hostPodSpec(v, withHosts);
    expect(hostPodView(h, v.spec).initContainers).toEqual(h.initContainers.slice(0, 1));
    expect(hostSpecCurrent(v.spec, hostPodView(h, v.spec))).toBe(true);
    const status = { initContainerStatuses: [{ name: 'setup' }, { name: 'vnest-hosts' }] };
    expect(virtualPodStatus(status, { host: 1, virtual: 1, current: true, dropInitContainer: 'vnest-hosts' }).initContainerStatuses).toEqual([{ name: 'setup' }]);
  });
});

describe('podProblems', () => {
  const policy = defaultPolicy();
  const withMeta = (spec: Partial<Pod['spec']>): Pod => ({ ...pod(spec), metadata: { ...pod(spec).metadata, uid: 'u-1', generation: 1 } });

  it('keeps a verdict per pod and generation, but not past a change of what a live pod may change', () => {
    const ok = withMeta({});
    expect(podProblems(ok, policy)).toEqual([]);
    expect(podProblems(ok, policy)).toBe(podProblems(ok, policy));
    // A toleration of a taint the policy does not allow, added with no new generation (an API
    // server that does not count pod generations): the old verdict must not let it through.
    const tolerating = withMeta({ tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }] });
    expect(podProblems(tolerating, policy).join('; ')).toMatch(/toleration/i);
    // Another policy has verdicts of its own.
    expect(podProblems(tolerating, defaultPolicy({ tolerations: new Set(['dedicated']) }))).toEqual([]);
  });

  it('judges a node the tenant picks, whatever the verdict of the same pod bound by the syncer', () => {
    const scheduled = { conditions: [{ type: 'PodScheduled', status: 'True' }] };
    const bound = Object.freeze({ ...withMeta({ nodeName: 'node-1' }), status: scheduled });
    expect(podProblems(bound, policy)).toEqual([]);
    // Same UID and generation, the node set by the tenant (no PodScheduled): refused.
    const pinned = Object.freeze(withMeta({ nodeName: 'node-1' }));
    expect(podProblems(pinned, policy).join('; ')).toMatch(/nodeName/);
    // The verdict kept for a frozen object is per policy.
    expect(podProblems(pinned, defaultPolicy({ allow: new Set(['nodeName']) }))).toEqual([]);
  });
});
