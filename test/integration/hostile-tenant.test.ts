// A hostile tenant: cluster-admin in its own cluster and nothing else. Each vector it can write
// gets a Warning Event naming the field, and the host side shows no effect: no host object
// created, changed, filled in by a host controller, or left behind. The syncer runs with only the
// namespaced host Role it declares.
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { runKubectl } from '../../src/local/kubectl.ts';
import { hostName } from '../../src/translate/names.ts';
import { kit, useEnvironment } from '../helpers.ts';
import { eventually, hostNamespace, TenantBed, type List, type PodJson } from '../tenant-bed.ts';

const tenant = 'evil';
const ns = 'app';
const pause = 'registry.k8s.io/pause:3.10';
const h = (name: string) => hostName(name, ns, tenant);

type Json = Record<string, any>;
interface EventJson {
  involvedObject: { name: string; kind: string };
  reason: string;
  message: string;
  type: string;
}

const pod = (name: string, spec: Json = {}, metadata: Json = {}): Json => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, ...metadata },
  spec: { containers: [{ name: 'c', image: pause }], ...spec },
});
const container = (extra: Json): Json => ({ containers: [{ name: 'c', image: pause, ...extra }] });
const securityContext = (sc: Json): Json => container({ securityContext: sc });
const volume = (v: Json): Json => ({ volumes: [{ name: 'v', ...v }], containers: [{ name: 'c', image: pause, volumeMounts: [{ name: 'v', mountPath: '/v' }] }] });
const claimTemplate = (spec: Json): Json => volume({ ephemeral: { volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...spec } } } });
const service = (name: string, spec: Json): Json => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { ports: [{ port: 80 }], selector: { app: name }, ...spec },
});
const claim = (name: string, spec: Json): Json => ({
  apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: ns }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...spec },
});

/** One refused vector: the object, the host resource its copy would be, the field its Event names. */
interface Vector {
  what: string;
  obj: Json;
  field: string;
}

const podVectors: Vector[] = [
  { what: 'a privileged container', obj: pod('priv', securityContext({ privileged: true })), field: 'spec.containers[0].securityContext.privileged' },
  { what: 'a privileged init container', obj: pod('priv-init', { initContainers: [{ name: 'i', image: pause, securityContext: { privileged: true } }] }), field: 'spec.initContainers[0].securityContext.privileged' },
  { what: 'an added capability beyond baseline', obj: pod('caps', securityContext({ capabilities: { add: ['SYS_ADMIN'] } })), field: 'spec.containers[0].securityContext.capabilities.add' },
  { what: 'NET_RAW', obj: pod('netraw', securityContext({ capabilities: { add: ['NET_RAW'] } })), field: 'adds NET_RAW' },
  { what: 'a hostPath volume', obj: pod('hostpath', volume({ hostPath: { path: '/' } })), field: 'spec.volumes[0].hostPath' },
  { what: 'host networking', obj: pod('hostnet', { hostNetwork: true }), field: 'spec.hostNetwork' },
  { what: 'the host PID namespace', obj: pod('hostpid', { hostPID: true }), field: 'spec.hostPID' },
  { what: 'the host IPC namespace', obj: pod('hostipc', { hostIPC: true }), field: 'spec.hostIPC' },
  { what: 'a host port', obj: pod('hostport', container({ ports: [{ containerPort: 80, hostPort: 8080 }] })), field: 'spec.containers[0].ports[0].hostPort' },
  { what: 'Unconfined seccomp on the pod', obj: pod('seccomp-pod', { securityContext: { seccompProfile: { type: 'Unconfined' } } }), field: 'spec.securityContext.seccompProfile.type' },
  { what: 'Unconfined seccomp on a container', obj: pod('seccomp-c', securityContext({ seccompProfile: { type: 'Unconfined' } })), field: 'spec.containers[0].securityContext.seccompProfile.type' },
  { what: 'Unconfined AppArmor', obj: pod('apparmor', securityContext({ appArmorProfile: { type: 'Unconfined' } })), field: 'spec.containers[0].securityContext.appArmorProfile.type' },
  { what: 'a custom SELinux type', obj: pod('selinux-type', securityContext({ seLinuxOptions: { type: 'spc_t' } })), field: 'spec.containers[0].securityContext.seLinuxOptions.type' },
  { what: 'a custom SELinux user', obj: pod('selinux-user', { securityContext: { seLinuxOptions: { user: 'system_u' } } }), field: 'spec.securityContext.seLinuxOptions.user' },
  { what: 'an unmasked /proc', obj: pod('procmount', { hostUsers: false, ...securityContext({ procMount: 'Unmasked' }) }), field: 'spec.containers[0].securityContext.procMount' },
  { what: 'an unsafe sysctl', obj: pod('sysctl', { securityContext: { sysctls: [{ name: 'kernel.msgmax', value: '65536' }] } }), field: 'spec.securityContext.sysctls[0]' },
  { what: 'a probe that dials another host', obj: pod('probe-host', container({ livenessProbe: { httpGet: { host: '169.254.169.254', path: '/', port: 80 } } })), field: 'spec.containers[0].livenessProbe.httpGet.host' },
  { what: 'a lifecycle hook that dials another host', obj: pod('hook-host', container({ lifecycle: { preStop: { tcpSocket: { host: '10.0.0.1', port: 22 } } } })), field: 'spec.containers[0].lifecycle.preStop.tcpSocket.host' },
  { what: 'a chosen node', obj: pod('pinned', { nodeName: 'kwok-node-0' }), field: 'spec.nodeName' },
  {
    what: 'node affinity by field', field: 'matchFields',
    obj: pod('matchfields', { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['kwok-node-0'] }] }] } } } }),
  },
  { what: 'a toleration of every taint', obj: pod('tolerate-all', { tolerations: [{ operator: 'Exists' }] }), field: 'spec.tolerations[0]' },
  { what: 'a toleration of a dedicated-node taint', obj: pod('tolerate-dedicated', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }] }), field: 'taint dedicated' },
  { what: 'a priority class', obj: pod('priority', { priorityClassName: 'tenant-high' }), field: 'spec.priorityClassName' },
  { what: 'a runtime class', obj: pod('runtime', { runtimeClassName: 'sandbox' }), field: 'spec.runtimeClassName' },
  { what: 'another scheduler', obj: pod('scheduler', { schedulerName: 'host-batch-scheduler' }), field: 'spec.schedulerName' },
  { what: 'a resource claim', obj: pod('claims', { resourceClaims: [{ name: 'gpu', resourceClaimName: 'gpu' }] }), field: 'spec.resourceClaims' },
  { what: 'an NFS volume', obj: pod('nfs', volume({ nfs: { server: '10.0.0.1', path: '/exports' } })), field: 'spec.volumes[0].nfs' },
  { what: 'a CephFS volume with a secret', obj: pod('cephfs', volume({ cephfs: { monitors: ['10.0.0.1:6789'], secretRef: { name: 'host-ceph' } } })), field: 'spec.volumes[0].cephfs' },
  { what: 'an RBD volume with a secret', obj: pod('rbd', volume({ rbd: { monitors: ['10.0.0.1:6789'], image: 'disk', secretRef: { name: 'host-ceph' } } })), field: 'spec.volumes[0].rbd' },
  { what: 'an iSCSI volume with a secret', obj: pod('iscsi', volume({ iscsi: { targetPortal: '10.0.0.1:3260', iqn: 'iqn.2001-04.com.example:storage', lun: 0, secretRef: { name: 'chap' }, chapAuthSession: true } })), field: 'spec.volumes[0].iscsi' },
  { what: 'a FlexVolume with a secret', obj: pod('flex', volume({ flexVolume: { driver: 'example/driver', secretRef: { name: 'flex' } } })), field: 'spec.volumes[0].flexVolume' },
  { what: 'an Azure File volume', obj: pod('azurefile', volume({ azureFile: { secretName: 'azure', shareName: 'share' } })), field: 'spec.volumes[0].azureFile' },
  { what: 'a gitRepo volume', obj: pod('gitrepo', volume({ gitRepo: { repository: 'https://example.com/repo.git' } })), field: 'spec.volumes[0].gitRepo' },
  { what: 'an ephemeral claim naming a volume', obj: pod('eph-volname', claimTemplate({ volumeName: 'pv-of-another-tenant' })), field: 'ephemeral.volumeClaimTemplate.spec.volumeName' },
  { what: 'an ephemeral claim selecting volumes', obj: pod('eph-selector', claimTemplate({ selector: { matchLabels: { owner: 'someone-else' } } })), field: 'ephemeral.volumeClaimTemplate.spec.selector' },
  {
    what: 'an ephemeral claim cloned from a snapshot', field: 'ephemeral.volumeClaimTemplate.spec.dataSource',
    obj: pod('eph-snapshot', claimTemplate({ dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'host-snap' } })),
  },
];

/**
 * Marks a tenant writes on its own objects are never copied or trusted: the host copy carries this
 * tenant's marks only. (A nested tenant's syncer writes such marks on its host copies in this
 * tenant's cluster: they must sync like anything else.)
 */
const forgedMarks = pod('forged', {}, { labels: { 'vnest.dev/tenant': 'victim', 'vnest.dev/namespace': 'kube-system' }, annotations: { 'vnest.dev/object-uid': 'x', 'vnest.dev/object-name': 'other', 'vnest.dev/token-x': 'stolen' } });

const serviceVectors: Vector[] = [
  { what: 'external IPs', obj: service('ext-ips', { externalIPs: ['10.0.0.1'] }), field: 'spec.externalIPs' },
  { what: 'a load-balancer IP', obj: service('lb-ip', { type: 'LoadBalancer', loadBalancerIP: '203.0.113.7' }), field: 'spec.loadBalancerIP' },
  { what: 'load-balancer source ranges', obj: service('lb-ranges', { type: 'LoadBalancer', loadBalancerSourceRanges: ['0.0.0.0/0'] }), field: 'spec.loadBalancerSourceRanges' },
  { what: 'a load-balancer class', obj: service('lb-class', { type: 'LoadBalancer', loadBalancerClass: 'example.com/internal' }), field: 'spec.loadBalancerClass' },
];

const claimVectors: Vector[] = [
  { what: 'a claim naming a volume', obj: claim('volname', { volumeName: 'pv-of-another-tenant' }), field: 'spec.volumeName' },
  { what: 'a claim selecting volumes', obj: claim('selector', { selector: { matchLabels: { owner: 'someone-else' } } }), field: 'spec.selector' },
  { what: 'a claim cloned from a snapshot', obj: claim('snapshot', { dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'host-snap' } }), field: 'spec.dataSource' },
];

const plural: Record<string, string> = { Pod: 'pods', Service: 'services', PersistentVolumeClaim: 'persistentvolumeclaims', Secret: 'secrets' };

describe('hostile tenant', () => {
  const env = useEnvironment(() => TenantBed.start([tenant]));
  const bed = () => env.current;
  const kubectl = async (args: string[], input?: string) => runKubectl((await kit()).bin.kubectl, bed().virtual(tenant).kubeconfigPath, args, input === undefined ? {} : { input });
  const apply = async (obj: Json) => {
    const res = await kubectl(['create', '-f', '-'], JSON.stringify(obj));
    // Deprecation warnings on stderr are fine; a refusal by the tenant's API is not.
    expect(res.code, `the tenant API accepts ${obj.kind} ${obj.metadata.name}: ${res.stderr}`).toBe(0);
  };
  const hostGet = async (resource: string, name: string): Promise<Json | undefined> => {
    try {
      return await bed().hostJson<Json>('-n', hostNamespace, 'get', resource, name);
    } catch {
      return undefined;
    }
  };
  const warning = (kind: string, name: string, reason: string, contains = '') =>
    eventually(`a ${reason} warning on ${kind} ${name} naming ${contains}`, async () => {
      const events = (await bed().virtualJson<List<EventJson>>(tenant, '-n', ns, 'get', 'events')).items;
      return events.find((e) => e.involvedObject.kind === kind && e.involvedObject.name === name && e.reason === reason && e.type === 'Warning' && e.message.includes(contains));
    });
  let restricted = '';

  beforeAll(async () => {
    await bed().virtualKubectl(tenant, 'create', 'namespace', ns);
    await eventually('default service account', async () => (await kubectl(['-n', ns, 'get', 'sa', 'default'])).code === 0);
    // What the tenant's own admission wants to exist before it accepts the pods naming them.
    await apply({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'tenant-high' }, value: 1000000 });
    await apply({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'sandbox' }, handler: 'sandbox' });
    restricted = await bed().restrictedHostKubeconfig(tenant);
    await bed().startSyncer(tenant, { hostKubeconfig: restricted });
    for (const v of [...podVectors, ...serviceVectors, ...claimVectors]) await apply(v.obj);
  });

  describe.each([
    ['pod', podVectors],
    ['service', serviceVectors],
    ['claim', claimVectors],
  ] as const)('%s vectors', (_, vectors) => {
    it.each(vectors.map((v) => [v.what, v] as const))('refuses %s', async (_what, v) => {
      const e = await warning(v.obj.kind, v.obj.metadata.name, 'SyncRefused', v.field);
      expect(e.message).toContain(v.field);
      expect(await hostGet(plural[v.obj.kind] as string, h(v.obj.metadata.name))).toBeUndefined();
    });
  });

  it('copies no mark a tenant wrote on its pod: the host copy carries this tenant\'s marks, forged labels only under nested- keys', async () => {
    await apply(forgedMarks);
    const hPod = await eventually('the host copy of the pod with forged marks', () => hostGet('pods', h('forged')));
    const vUid = (await bed().virtualJson<Json>(tenant, '-n', ns, 'get', 'pod', 'forged')).metadata.uid as string;
    const vnestKeys = (m: Record<string, string> | undefined) => Object.fromEntries(Object.entries(m ?? {}).filter(([k]) => k.startsWith('vnest.dev/')));
    // Forged labels stay under nested- keys, which only this tenant's own narrowed selectors use.
    expect(vnestKeys(hPod.metadata.labels as Record<string, string>)).toEqual({
      'vnest.dev/tenant': tenant, 'vnest.dev/namespace': ns, 'vnest.dev/nested-tenant': 'victim', 'vnest.dev/nested-namespace': 'kube-system',
    });
    expect(vnestKeys(hPod.metadata.annotations as Record<string, string>)).toEqual({
      'vnest.dev/object-name': 'forged', 'vnest.dev/object-namespace': ns, 'vnest.dev/object-uid': vUid, 'vnest.dev/object-kind': 'Pod',
    });
  });

  it('keeps the RuntimeClass it made off the host, and its pod naming it too (no host class is permitted)', async () => {
    await warning('Pod', 'runtime', 'SyncRefused', 'spec.runtimeClassName');
    expect(await hostGet('runtimeclasses', 'sandbox')).toBeUndefined();
    expect(await hostGet('pods', h('runtime'))).toBeUndefined();
  });

  it('refuses the Secrets a refused pod references: they never reach the host', async () => {
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'ceph-key', namespace: ns }, stringData: { key: 'k' } });
    await apply(pod('cephfs-ref', volume({ cephfs: { monitors: ['10.0.0.1:6789'], secretRef: { name: 'ceph-key' } } })));
    await warning('Pod', 'cephfs-ref', 'SyncRefused', 'spec.volumes[0].cephfs');
    await sleep(1000);
    expect(await hostGet('secrets', h('ceph-key'))).toBeUndefined();
  });

  describe('secrets', () => {
    it('copies a service-account token Secret as Opaque, so no host controller fills it with a host token', async () => {
      // The host's own syncer service account is the prize: name it.
      await bed().virtualKubectl(tenant, '-n', ns, 'create', 'serviceaccount', `vnest-${tenant}`);
      await apply({
        apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/service-account-token',
        metadata: { name: 'steal', namespace: ns, annotations: { 'kubernetes.io/service-account.name': `vnest-${tenant}` } },
      });
      await apply(pod('thief', volume({ secret: { secretName: 'steal' } })));
      await warning('Secret', 'steal', 'SecretTypeChanged', 'Opaque');
      const copy = await eventually('the host copy', () => hostGet('secrets', h('steal')));
      expect(copy.type).toBe('Opaque');
      expect(Object.keys(copy.metadata.annotations ?? {}).filter((k) => k.startsWith('kubernetes.io/'))).toEqual([]);
      await sleep(2000);
      const later = await hostGet('secrets', h('steal')) as Json;
      const virtualData = (await bed().virtualJson<Json>(tenant, '-n', ns, 'get', 'secret', 'steal')).data ?? {};
      // Whatever the host holds is the tenant's own data, not a host token.
      expect(later.data ?? {}).toEqual(virtualData);
      expect(later.metadata.resourceVersion).toBe(copy.metadata.resourceVersion);
    });

    it('refuses a bootstrap token Secret', async () => {
      await apply({ apiVersion: 'v1', kind: 'Secret', type: 'bootstrap.kubernetes.io/token', metadata: { name: 'bootstrap-token-abcdef', namespace: ns, annotations: { 'vnest.dev/sync': 'true' } }, stringData: { 'token-id': 'abcdef', 'token-secret': '0123456789abcdef' } });
      await warning('Secret', 'bootstrap-token-abcdef', 'SyncRefused', 'bootstrap.kubernetes.io/token');
      expect(await hostGet('secrets', h('bootstrap-token-abcdef'))).toBeUndefined();
    });

    it('copies an unknown Secret type as Opaque and drops service-account annotations from any Secret', async () => {
      await apply({
        apiVersion: 'v1', kind: 'Secret', type: 'example.com/custom',
        metadata: { name: 'custom', namespace: ns, annotations: { 'vnest.dev/sync': 'true', 'kubernetes.io/service-account.name': 'default', note: 'kept' } }, stringData: { a: 'b' },
      });
      const copy = await eventually('the host copy', () => hostGet('secrets', h('custom')));
      expect(copy.type).toBe('Opaque');
      expect(copy.metadata.annotations.note).toBe('kept');
      expect(copy.metadata.annotations['kubernetes.io/service-account.name']).toBeUndefined();
    });
  });

  describe('labels and annotations', () => {
    it('drops keys host add-ons act on from a running pod\'s host copy, keeping the tenant\'s own', async () => {
      await apply(pod('decorated', {}, {
        labels: { app: 'decorated', 'app.kubernetes.io/name': 'decorated', 'azure.workload.identity/use': 'true', 'sidecar.istio.io/inject': 'true' },
        annotations: {
          note: 'kept', 'vault.hashicorp.com/agent-inject': 'true', 'k8s.v1.cni.cncf.io/networks': 'host-net',
          'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false', 'kubernetes.io/egress-bandwidth': '10G',
        },
      }));
      const copy = await eventually('the host pod', () => hostGet('pods', h('decorated')));
      expect(copy.metadata.labels).toMatchObject({ app: 'decorated', 'app.kubernetes.io/name': 'decorated', 'vnest.dev/tenant': tenant });
      expect(Object.keys(copy.metadata.labels).filter((k) => k.includes('istio') || k.includes('azure'))).toEqual([]);
      expect(copy.metadata.annotations.note).toBe('kept');
      expect(Object.keys(copy.metadata.annotations).filter((k) => !k.startsWith('vnest.dev/') && k !== 'note')).toEqual([]);
    });

    it('drops load-balancer and DNS annotations from a Service and node selection from a claim', async () => {
      await apply({ ...service('annotated', {}), metadata: { name: 'annotated', namespace: ns, annotations: { 'service.beta.kubernetes.io/aws-load-balancer-internal': 'false', 'external-dns.alpha.kubernetes.io/hostname': 'www.example.com' } } });
      await apply({ ...claim('annotated', {}), metadata: { name: 'annotated', namespace: ns, annotations: { 'volume.kubernetes.io/selected-node': 'kwok-node-0', 'volume.beta.kubernetes.io/storage-provisioner': 'example.com/host' } } });
      const svc = await eventually('the host Service', () => hostGet('services', h('annotated')));
      const pvc = await eventually('the host claim', () => hostGet('persistentvolumeclaims', h('annotated')));
      for (const obj of [svc, pvc]) expect(Object.keys(obj.metadata.annotations).filter((k) => !k.startsWith('vnest.dev/'))).toEqual([]);
    });

    it('keeps host controllers from adopting a tenant pod that matches their selector', async () => {
      // A host ReplicaSet whose selector matches what a tenant pod can carry.
      const rs = {
        apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'host-rs', namespace: hostNamespace },
        spec: { replicas: 0, selector: { matchLabels: { role: 'adopt-me' } }, template: { metadata: { labels: { role: 'adopt-me' } }, spec: { containers: [{ name: 'c', image: pause }] } } },
      };
      await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['create', '-f', '-'], { input: JSON.stringify(rs) });
      await apply(pod('adoptee', {}, { labels: { role: 'adopt-me' } }));
      await eventually('the host pod', () => hostGet('pods', h('adoptee')));
      await sleep(3000);
      const copy = await hostGet('pods', h('adoptee')) as Json;
      expect(copy.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Service', name: tenant, controller: true })]);
    });
  });

  describe('network policies', () => {
    const policy = (name: string, spec: Json): Json => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec });
    const own = { 'vnest.dev/tenant': tenant };

    it('narrows a policy that names another tenant\'s pods, or every namespace, to this tenant\'s own pods', async () => {
      await apply(policy('grab', {
        podSelector: { matchLabels: { 'vnest.dev/tenant': 'victim' } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: [{ namespaceSelector: {}, podSelector: {} }, { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } }] }],
        egress: [{ to: [{ podSelector: { matchLabels: { 'vnest.dev/tenant': 'victim', app: 'db' } } }] }],
      }));
      const copy = await eventually('the host copy of the policy', () => hostGet('networkpolicies', h('grab')));
      const spec = copy.spec as Json;
      expect(spec.podSelector).toEqual({ matchLabels: { 'vnest.dev/nested-tenant': 'victim', ...own, 'vnest.dev/namespace': ns } });
      // Every namespace means every namespace of this tenant; a namespace by name is this tenant's.
      expect(spec.ingress[0].from).toEqual([{ podSelector: { matchLabels: own } }, { podSelector: { matchLabels: { ...own, 'vnest.dev/namespace': 'kube-system' } } }]);
      expect(spec.egress[0].to).toEqual([{ podSelector: { matchLabels: { 'vnest.dev/nested-tenant': 'victim', app: 'db', ...own, 'vnest.dev/namespace': ns } } }]);
    });
  });

  describe('services', () => {
    it('refuses an export to every tenant or to no tenant name, with an Event, and shares nothing', async () => {
      await apply({ ...service('wide', {}), spec: { ports: [{ port: 80 }], selector: { app: 'wide' } } });
      const copy = await eventually('the host copy of wide', () => hostGet('services', h('wide')));
      expect(copy.metadata.labels?.['vnest.dev/shared']).toBeUndefined();
      // Added to a Service already synced: the Event still comes.
      expect((await kubectl(['-n', ns, 'annotate', 'service', 'wide', 'vnest.dev/export-to=*,Not_A_Tenant'])).code).toBe(0);
      const e = await warning('Service', 'wide', 'ExportRefused', '"*", "Not_A_Tenant" name no tenant');
      expect(e.message).toContain('list sibling tenants as name or namespace/name');
      await sleep(1000);
      const after = await hostGet('services', h('wide')) as Json;
      expect(after.metadata.labels?.['vnest.dev/shared']).toBeUndefined();
      expect(after.metadata.annotations?.['vnest.dev/share-with']).toBeUndefined();
      expect(await hostGet('networkpolicies', `${h('wide')}-export`)).toBeUndefined();
    });

    it('warns when a selector uses a key that host pods do not carry', async () => {
      await apply({ ...service('by-role', {}), spec: { ports: [{ port: 80 }], selector: { 'example.com/role': 'web' } } });
      const e = await warning('Service', 'by-role', 'SelectorNotSynced', 'example.com/role');
      expect(e.message).toContain('hostLabels');
    });

    it('syncs the EndpointSlices of a Service without a selector with its own pods\' addresses only, refusing any other address', async () => {
      await apply(pod('backend'));
      const backend = await eventually('backend has an IP', async () => {
        const p = await bed().virtualJson<PodJson>(tenant, '-n', ns, 'get', 'pod', 'backend');
        return p.status.podIP ? p : undefined;
      });
      const ip = backend.status.podIP as string;
      const hostBackend = await eventually('host backend', () => hostGet('pods', h('backend')));
      const slice = (name: string, service: string, addresses: string[], extra: Json = {}): Json => ({
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'hand' } },
        addressType: 'IPv4', ports: [{ name: '', port: 8080, protocol: 'TCP' }],
        endpoints: [{ addresses, conditions: { ready: true }, ...extra }],
      });
      for (const name of ['manual', 'aimed', 'mirrored']) await apply({ ...service(name, {}), spec: { ports: [{ port: 80 }] } });
      // The tenant names a pod and node of its choosing; the host copy names the host's.
      await apply(slice('manual-1', 'manual', [ip], { targetRef: { kind: 'Pod', namespace: 'kube-system', name: 'kube-apiserver' }, nodeName: 'somewhere' }));
      // Aimed at the host's API server and at a host pod that is not the tenant's.
      await apply(slice('aimed-1', 'aimed', ['10.96.0.1']));
      // Endpoints written by hand: the tenant's control plane mirrors them into a slice, which is synced.
      await apply({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'mirrored', namespace: ns }, subsets: [{ addresses: [{ ip }], ports: [{ port: 8080 }] }] });

      const copy = await eventually('host copy of manual-1', () => hostGet('endpointslices', h('manual-1')));
      expect(copy.metadata.labels).toMatchObject({ 'kubernetes.io/service-name': h('manual'), 'endpointslice.kubernetes.io/managed-by': 'syncer.vnest.dev', 'vnest.dev/tenant': tenant });
      expect(copy.endpoints).toEqual([{ addresses: [ip], conditions: { ready: true }, targetRef: { kind: 'Pod', namespace: hostNamespace, name: h('backend') }, nodeName: hostBackend.spec.nodeName }]);
      expect(copy.ports).toEqual([{ name: '', port: 8080, protocol: 'TCP' }]);
      const mirrored = await eventually('host copy of the mirrored slice', async () => (await bed().hostJson<List<Json>>('-n', hostNamespace, 'get', 'endpointslices', '-l', `kubernetes.io/service-name=${h('mirrored')}`)).items[0]);
      expect(mirrored.endpoints[0].addresses).toEqual([ip]);

      const e = await warning('EndpointSlice', 'aimed-1', 'SyncRefused', 'endpoints[0].addresses: 10.96.0.1');
      expect(e.message).toContain('not the IP of a pod of this cluster');
      expect(await hostGet('endpointslices', h('aimed-1'))).toBeUndefined();
      expect((await bed().hostJson<List<Json>>('-n', hostNamespace, 'get', 'endpointslices', '-l', `kubernetes.io/service-name=${h('aimed')}`)).items).toEqual([]);

      // A Service that gains a selector has its slices made by the host: the copy goes.
      expect((await kubectl(['-n', ns, 'patch', 'service', 'manual', '-p', JSON.stringify({ spec: { selector: { app: 'backend' } } })])).code).toBe(0);
      await eventually('copy of manual-1 removed', async () => (await hostGet('endpointslices', h('manual-1'))) === undefined);
    });

    it('lets the host choose node ports and shows the tenant the ones that answer', async () => {
      await apply(service('nodeport', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }));
      const [v, copy] = await eventually('virtual node port equal to the host\'s', async () => {
        const hostSvc = await hostGet('services', h('nodeport'));
        const virtualSvc = await bed().virtualJson<Json>(tenant, '-n', ns, 'get', 'service', 'nodeport');
        return hostSvc && hostSvc.spec.ports[0].nodePort === virtualSvc.spec.ports[0].nodePort ? [virtualSvc, hostSvc] : undefined;
      });
      expect(copy.spec.ports[0].nodePort).toBe(v.spec.ports[0].nodePort);
      expect(copy.spec.ports[0].nodePort).not.toBe(30080);
    });
  });

  it('gives a pod with scheduling gates its host copy only when the gates are gone', async () => {
    await apply(pod('gated', { schedulingGates: [{ name: 'example.com/wait' }] }));
    await sleep(2000);
    expect(await hostGet('pods', h('gated'))).toBeUndefined();
    await bed().virtualKubectl(tenant, '-n', ns, 'patch', 'pod', 'gated', '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/schedulingGates' }]));
    const copy = await eventually('the host pod', () => hostGet('pods', h('gated')));
    expect(copy.spec.schedulingGates ?? []).toEqual([]);
  });

  describe('a refusal never freezes a host copy', () => {
    const running = async (name: string) => eventually(`${name} Running with a host copy`, async () => {
      const v = await bed().virtualJson<PodJson>(tenant, '-n', ns, 'get', 'pod', name);
      return v.status.phase === 'Running' && (await hostGet('pods', h(name))) ? v : undefined;
    });
    const failedWithoutCopy = async (name: string, field: string) => {
      await warning('Pod', name, 'SyncRefused', field);
      await eventually(`${name} host copy gone`, async () => (await hostGet('pods', h(name))) === undefined);
      const v = await eventually(`${name} Failed`, async () => {
        const p = await bed().virtualJson<PodJson & { status: { reason?: string } }>(tenant, '-n', ns, 'get', 'pod', name);
        return p.status.phase === 'Failed' ? p : undefined;
      });
      expect(v.status.reason).toBe('SyncRefused');
    };

    it('removes the host pod when a toleration the host does not permit is added to a live pod', async () => {
      await apply(pod('live-tolerate'));
      await running('live-tolerate');
      await bed().virtualKubectl(tenant, '-n', ns, 'patch', 'pod', 'live-tolerate', '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/spec/tolerations/-', value: { key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' } }]));
      await failedWithoutCopy('live-tolerate', 'taint dedicated');
    });

    it('removes the host pod when a privileged ephemeral container is added, and adds a benign one', async () => {
      await apply(pod('debug-ok'));
      await apply(pod('debug-priv'));
      await running('debug-ok');
      await running('debug-priv');
      const add = (name: string, extra: Json) => bed().virtualKubectl(tenant, '-n', ns, 'patch', 'pod', name, '--subresource=ephemeralcontainers', '--type=strategic', '-p', JSON.stringify({ spec: { ephemeralContainers: [{ name: 'debugger', image: pause, ...extra }] } }));
      await add('debug-ok', {});
      await eventually('the host pod has the debugger', async () => ((await hostGet('pods', h('debug-ok')))?.spec.ephemeralContainers ?? []).some((c: Json) => c.name === 'debugger'));
      await add('debug-priv', { securityContext: { privileged: true } });
      await failedWithoutCopy('debug-priv', 'spec.ephemeralContainers[0].securityContext.privileged');
    });

    it('removes host copies made under a looser policy when the syncer restarts with a stricter one; deletes still reach the host', async () => {
      await bed().stopSyncers();
      const loose = await bed().startSyncer(tenant, { hostKubeconfig: restricted, allow: 'privileged' });
      await apply(pod('was-allowed', securityContext({ privileged: true })));
      await running('was-allowed');
      await bed().stopSyncer(loose);
      await bed().startSyncer(tenant, { hostKubeconfig: restricted });
      await failedWithoutCopy('was-allowed', 'spec.containers[0].securityContext.privileged');
      await bed().virtualKubectl(tenant, '-n', ns, 'delete', 'pod', 'was-allowed', '--wait=true', '--timeout=60s');
      expect(await hostGet('pods', h('was-allowed'))).toBeUndefined();
    });
  });

  it('leaves nothing of the refused objects on the host', async () => {
    const refused = new Set([...podVectors, ...serviceVectors, ...claimVectors].map((v) => h(v.obj.metadata.name)));
    for (const resource of ['pods', 'secrets', 'configmaps', 'services', 'persistentvolumeclaims']) {
      const items = (await bed().hostJson<List<Json>>('-n', hostNamespace, 'get', resource, '-l', `vnest.dev/tenant=${tenant}`)).items;
      const left = items.map((o) => o.metadata.name as string).filter((n) => refused.has(n) || [...refused].some((r) => n.startsWith(`${r}-`)));
      expect(left, `host ${resource} made for refused objects`).toEqual([]);
    }
  });
});
