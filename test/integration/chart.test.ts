// The Helm chart: lint, rendering of the main value combinations, refusal of bad values, server-side
// dry runs against the test bed's host, and a chart-driven end to end: `helm install` into the host,
// then the syncer run locally with the arguments, environment and config file the chart renders
// (and the chart's own service account), against a local control plane.
import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { namespacePodSecurity } from '../../src/cli/pod-security.ts';
import { renderKubeconfig } from '../../src/kube/kubeconfig.ts';
import { kubectlOk, runKubectl } from '../../src/local/kubectl.ts';
import { tail } from '../../src/local/process.ts';
import { resolveSyncerOptions } from '../../src/syncer/options.ts';
import { hostClusterRoleRules, hostRoleRules } from '../../src/syncer/resources/index.ts';
import { podSecurityLevels, policyExceptions, serviceTypes } from '../../src/translate/policy.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';
import { eventually, TenantBed, type List, type PodJson } from '../tenant-bed.ts';

const chart = join(import.meta.dirname, '..', '..', 'charts', 'vnest');
// Values files the tests write: each in a folder of its own, all removed after the file's tests.
const valuesDirs: string[] = [];
afterAll(async () => {
  await Promise.all(valuesDirs.map((d) => rm(d, { recursive: true, force: true })));
});
const valuesFile = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'vnest-chart-'));
  valuesDirs.push(dir);
  return join(dir, 'values.yaml');
};
const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

interface Doc {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
  data?: Record<string, string>;
  spec?: any;
}

async function helm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)((await kit()).bin.helm, args, { maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const render = async (release: string, sets: string[] = [], extra: string[] = []): Promise<Doc[]> => {
  const res = await helm(['template', release, chart, '--namespace', 'tenants', ...sets.flatMap((s) => ['--set', s]), ...extra]);
  expect(res.stderr).toBe('');
  return parseAllDocuments(res.stdout).map((d) => d.toJS() as Doc).filter(Boolean);
};

interface ContainerLike { name: string; securityContext?: Record<string, unknown>; volumeMounts?: Array<{ name: string; mountPath: string }> }
interface PodSpecLike {
  automountServiceAccountToken?: boolean;
  securityContext?: Record<string, unknown>;
  containers: ContainerLike[];
  initContainers?: ContainerLike[];
  volumes: Array<{ name: string; projected?: { sources: Array<Record<string, unknown>> } }>;
}

const podSpec = (docs: Doc[]): PodSpecLike => docs.find((d) => d.kind === 'StatefulSet')?.spec.template.spec as PodSpecLike;

/** Where in-cluster clients (@kubernetes/client-node's loadFromCluster) read the host credentials. */
const tokenDir = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The syncer's config file as rendered, and the options the syncer resolves from it. */
async function syncerConfig(sets: string[]): Promise<{ raw: Record<string, unknown>; options: ReturnType<typeof resolveSyncerOptions> }> {
  const text = (await render('t1', sets)).find((d) => d.kind === 'ConfigMap')?.data?.['config.yaml'] ?? '';
  const dir = await mkdtemp(join(tmpdir(), 'vnest-config-'));
  try {
    await writeFile(join(dir, 'config.yaml'), text);
    const options = resolveSyncerOptions({}, { VNEST_TENANT: 't1', VNEST_HOST_NAMESPACE: 'tenants', VNEST_VIRTUAL_KUBECONFIG: join(dir, 'virtual.kubeconfig') }, join(dir, 'config.yaml'));
    return { raw: parseAllDocuments(text)[0]?.toJS() as Record<string, unknown>, options };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One rule per (group, resource), as hostRoleRules() lists them. */
function flatten(rules: Doc['rules']): Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> {
  const out = (rules ?? []).flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => ({ apiGroups: [g], resources: [res], verbs: [...r.verbs].sort() }))));
  return out.sort((a, b) => `${a.apiGroups[0]}/${a.resources[0]}`.localeCompare(`${b.apiGroups[0]}/${b.resources[0]}`));
}

const combos: Record<string, string[]> = {
  'k3s defaults': [],
  'k8s distro': ['distro=k8s'],
  'isolation on, no persistence': ['isolation.resourceQuota.enabled=true', 'isolation.limitRange.enabled=true', 'isolation.networkPolicy.enabled=true', 'storage.persistence=false', 'isolation.podSecurityStandard=privileged'],
  'real nodes and the wasmCloud profile': ['syncer.nodeSync=real', 'syncer.profiles={wasmcloud}'],
  'k8s distro, restricted, narrow Service types': ['distro=k8s', 'isolation.podSecurityStandard=restricted', 'isolation.serviceTypes={ClusterIP}', 'isolation.networkPolicy.enabled=true'],
  'exposed by a LoadBalancer and an Ingress': ['service.type=LoadBalancer', 'service.loadBalancerIP=203.0.113.7', 'service.loadBalancerSourceRanges={203.0.113.0/24}', 'ingress.enabled=true', 'ingress.host=t1-api.example.org', 'ingress.ingressClassName=nginx'],
  'exposed by a NodePort': ['service.type=NodePort', 'service.nodePort=30443', 'service.nodeAddress=192.0.2.10'],
};

describe('helm chart', () => {
  it('passes helm lint', async () => {
    const res = await helm(['lint', chart, '--strict']);
    expect(res.stdout).toContain('0 chart(s) failed');
  });

  for (const [name, sets] of Object.entries(combos)) {
    it(`renders ${name}`, async () => {
      const docs = await render('t1', sets);
      const kinds = docs.map((d) => d.kind);
      expect(kinds).toEqual(expect.arrayContaining(['StatefulSet', 'Service', 'ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap']));
      const sts = docs.find((d) => d.kind === 'StatefulSet');
      const syncer = sts?.spec.template.spec.containers.find((c: { name: string }) => c.name === 'syncer');
      expect(syncer.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });
      expect(syncer.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 8443, scheme: 'HTTPS' });
    });
  }

  it('grants in its Role exactly what the syncer declares, and a ClusterRole only when needed', async () => {
    const docs = await render('t1');
    expect(flatten(docs.find((d) => d.kind === 'Role')?.rules)).toEqual(hostRoleRules());
    expect(docs.some((d) => d.kind === 'ClusterRole')).toBe(false);
    const wasm = await render('t1', ['syncer.profiles={wasmcloud}']);
    const role = flatten(wasm.find((d) => d.kind === 'Role')?.rules);
    expect(role).toEqual(expect.arrayContaining([
      { apiGroups: ['runtime.wasmcloud.dev'], resources: ['workloads'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'watch'] },
      { apiGroups: ['runtime.wasmcloud.dev'], resources: ['hosts'], verbs: ['get', 'list', 'watch'] },
    ]));
    const clusterRole = wasm.find((d) => d.kind === 'ClusterRole');
    expect(flatten(clusterRole?.rules).map((r) => `${r.apiGroups[0]}/${r.resources[0]}`)).toEqual(['apiextensions.k8s.io/customresourcedefinitions', 'k8s.cosmonic.io/hostgroups']);
  });

  it('shows every host node in "all" node sync, places pods by the node selector, and reads nodes and RuntimeClasses only when asked', async () => {
    const sets = ['syncer.nodeSync=all', 'isolation.nodeSelector.pool=tenants', 'isolation.nodeSelector.example\\.com/zone=a', 'isolation.runtimeClasses={gvisor}'];
    const { options } = await syncerConfig(sets);
    expect(options.nodeSync).toBe('all');
    expect(options.policy.nodeSelector).toEqual({ pool: 'tenants', 'example.com/zone': 'a' });
    expect([...options.policy.runtimeClasses]).toEqual(['gvisor']);
    const docs = await render('t1', sets);
    expect(flatten(docs.find((d) => d.kind === 'ClusterRole')?.rules)).toEqual(flatten(hostClusterRoleRules('all', [], { runtimeClasses: true })));
    const classesOnly = await render('t1', ['isolation.runtimeClasses={gvisor}']);
    expect(flatten(classesOnly.find((d) => d.kind === 'ClusterRole')?.rules)).toEqual(flatten(hostClusterRoleRules('fake', [], { runtimeClasses: true })));
    expect((await syncerConfig([])).options.policy.nodeSelector).toEqual({});
    const wrong = await helm(['template', 't1', chart, '--set', 'syncer.nodeSync=every']);
    expect(wrong.stderr).toContain('nodeSync');
  });

  it('serves kubectl top only with resourceMetrics.enabled, granting pod-metrics reads in the namespace and node-metrics reads cluster-wide', async () => {
    const off = await render('t1');
    expect(JSON.stringify(off.filter((d) => d.kind === 'Role' || d.kind === 'ClusterRole'))).not.toContain('metrics.k8s.io');
    expect((await syncerConfig([])).options.resourceMetrics).toBe(false);
    const on = await render('t1', ['resourceMetrics.enabled=true']);
    expect(flatten(on.find((d) => d.kind === 'Role')?.rules)).toEqual(hostRoleRules([], 'tenants', true));
    expect(flatten(on.find((d) => d.kind === 'ClusterRole')?.rules)).toEqual(hostClusterRoleRules('fake', [], { resourceMetrics: true }));
    const binding: (Doc & { subjects?: unknown }) | undefined = on.find((d) => d.kind === 'ClusterRoleBinding');
    expect(binding?.subjects).toEqual([{ kind: 'ServiceAccount', name: 'vnest-t1', namespace: 'tenants' }]);
    expect((await syncerConfig(['resourceMetrics.enabled=true'])).options.resourceMetrics).toBe(true);
    const mistyped = await helm(['template', 't1', chart, '--set', 'resourceMetrics.enabled=maybe']);
    expect(mistyped.code).not.toBe(0);
  });

  it('passes custom resource kinds from values to the syncer\'s config file and grows the Role with them', async () => {
    const values = await valuesFile();
    await writeFile(values, JSON.stringify({ syncer: { customResources: [{ apiVersion: 'example.com/v1', kind: 'Widget', plural: 'widgets', direction: 'toHost', references: [{ path: 'spec.secretRef.name', kind: 'Secret' }] }] } }));
    const res = await helm(['template', 't1', chart, '--namespace', 'tenants', '-f', values]);
    const docs = parseAllDocuments(res.stdout).map((d) => d.toJS() as Doc).filter(Boolean);
    const config = docs.find((d) => d.kind === 'ConfigMap')?.data?.['config.yaml'] ?? '';
    const parsed = parseAllDocuments(config)[0]?.toJS() as { customResources: unknown[] };
    expect(parsed.customResources).toEqual([{ apiVersion: 'example.com/v1', kind: 'Widget', plural: 'widgets', direction: 'toHost', references: [{ path: 'spec.secretRef.name', kind: 'Secret' }] }]);
    expect(flatten(docs.find((d) => d.kind === 'Role')?.rules)).toEqual(expect.arrayContaining([{ apiGroups: ['example.com'], resources: ['widgets'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'watch'] }]));
    const missingPlural = await helm(['template', 't1', chart, '--set', 'syncer.customResources[0].apiVersion=example.com/v1', '--set', 'syncer.customResources[0].kind=Widget', '--set', 'syncer.customResources[0].direction=toHost']);
    expect(missingPlural.stderr).toContain("missing property 'plural'");
  });

  it('rejects unknown and mistyped values with a message that names them', async () => {
    const unknown = await helm(['template', 't1', chart, '--set', 'syncer.wrokers=3']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("additional properties 'wrokers' not allowed");
    const mistyped = await helm(['template', 't1', chart, '--set', 'distro=k9s']);
    expect(mistyped.stderr).toContain("value must be one of 'k3s', 'k8s'");
    const longName = await helm(['template', 'a'.repeat(41), chart]);
    expect(longName.stderr).toContain('at most 40 characters');
    const exception = await helm(['template', 't1', chart, '--set', 'isolation.allow={hostnetwork}']);
    expect(exception.stderr).toContain("value must be one of 'nodeName', 'hostNetwork'");
    const serviceType = await helm(['template', 't1', chart, '--set', 'isolation.serviceTypes={Ingress}']);
    expect(serviceType.stderr).toContain("value must be one of 'ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'");
    const field = await helm(['template', 't1', chart, '--set', 'isolation.allowFields={spec.hostNetwork}']);
    expect(field.stderr).toContain('allowFields');
  });

  it('exposes the tenant API as service and ingress say, and tells the syncer the names to serve and export', async () => {
    const apiService = (docs: Doc[]) => docs.find((d) => d.kind === 'Service' && d.metadata.name === 't1') as Doc & { metadata: { annotations?: Record<string, string> } };
    // The default keeps it inside the host cluster.
    const plain = await render('t1');
    expect(apiService(plain).spec).toMatchObject({ type: 'ClusterIP', ports: [{ name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' }] });
    expect(apiService(plain).spec.ports[0]).not.toHaveProperty('nodePort');
    expect(plain.some((d) => d.kind === 'Ingress')).toBe(false);
    const plainConfig = await syncerConfig([]);
    expect(Object.keys(plainConfig.raw).filter((k) => k.startsWith('expose') || k === 'kubeconfigServer')).toEqual([]);
    expect(plainConfig.options).not.toHaveProperty('exposeIngressHost');

    const nodePort = await render('t1', combos['exposed by a NodePort']);
    expect(apiService(nodePort).spec).toMatchObject({ type: 'NodePort', ports: [{ name: 'https', port: 443, targetPort: 8443, nodePort: 30443 }] });
    expect((await syncerConfig(combos['exposed by a NodePort'] ?? [])).options).toMatchObject({ exposeNodeAddress: '192.0.2.10' });

    const values = await valuesFile();
    await writeFile(values, JSON.stringify({
      service: { type: 'LoadBalancer', loadBalancerIP: '203.0.113.7', loadBalancerSourceRanges: ['203.0.113.0/24'], annotations: { 'service.beta.kubernetes.io/aws-load-balancer-internal': 'true' } },
      ingress: { enabled: true, host: 't1-api.example.org', ingressClassName: 'nginx' },
    }));
    const exposed = await render('t1', [], ['-f', values]);
    expect(apiService(exposed).metadata.annotations).toEqual({ 'service.beta.kubernetes.io/aws-load-balancer-internal': 'true' });
    expect(apiService(exposed).spec).toMatchObject({ type: 'LoadBalancer', loadBalancerIP: '203.0.113.7', loadBalancerSourceRanges: ['203.0.113.0/24'] });
    // The headless Service stays as it was.
    expect(exposed.find((d) => d.metadata.name === 't1-headless')?.spec).toMatchObject({ clusterIP: 'None' });
    const ingress = exposed.find((d) => d.kind === 'Ingress') as Doc & { metadata: { annotations?: Record<string, string> } };
    expect(ingress.metadata.name).toBe('t1');
    expect(ingress.metadata.annotations).toEqual({ 'nginx.ingress.kubernetes.io/ssl-passthrough': 'true' });
    expect(ingress.spec).toEqual({
      ingressClassName: 'nginx',
      rules: [{ host: 't1-api.example.org', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 't1', port: { name: 'https' } } } }] } }],
    });
    const config = await syncerConfig(['ingress.enabled=true', 'ingress.host=t1-api.example.org', 'syncer.kubeconfigServer=https://api.example.org:6443']);
    expect(config.options).toMatchObject({ exposeIngressHost: 't1-api.example.org', kubeconfigServer: 'https://api.example.org:6443' });
    expect(config.options).not.toHaveProperty('exposeNodeAddress');
    // Another controller's passthrough annotation in place of ingress-nginx's.
    await writeFile(values, JSON.stringify({ ingress: { enabled: true, host: 't1-api.example.org', annotations: { 'nginx.ingress.kubernetes.io/ssl-passthrough': null, 'haproxy.org/ssl-passthrough': 'true' } } }));
    const haproxy = (await render('t1', [], ['-f', values])).find((d) => d.kind === 'Ingress') as Doc & { metadata: { annotations?: Record<string, string> } };
    expect(haproxy.metadata.annotations).toEqual({ 'haproxy.org/ssl-passthrough': 'true' });
  });

  it('refuses exposure values that do not fit together, saying why', async () => {
    const refused = async (sets: string[]) => {
      const res = await helm(['template', 't1', chart, '--namespace', 'tenants', ...sets.flatMap((x) => ['--set', x])]);
      expect(res.code, sets.join(' ')).not.toBe(0);
      return res.stderr;
    };
    expect(await refused(['service.type=ExternalName'])).toContain("at '/service/type': value must be one of 'ClusterIP', 'NodePort', 'LoadBalancer'");
    expect(await refused(['service.type=NodePort', 'service.nodePort=70000'])).toContain("at '/service/nodePort'");
    expect(await refused(['service.type=LoadBalancer', 'service.loadBalancerIP=my-lb'])).toContain("at '/service/loadBalancerIP'");
    expect(await refused(['ingress.enabled=true', 'ingress.host=*.example.org'])).toContain("at '/ingress/host'");
    expect(await refused(['ingress.enabled=true'])).toContain('ingress.enabled needs ingress.host');
    // The tenant's own Ingresses may claim any name in its domain, so the API's host lies outside it.
    expect(await refused(['ingress.enabled=true', 'ingress.host=api.t1.vnest.local'])).toContain('ingress.host "api.t1.vnest.local" lies in the tenant\'s domain "t1.vnest.local"');
    expect(await refused(['domain=a.example.org', 'ingress.enabled=true', 'ingress.host=a.example.org'])).toContain('lies in the tenant\'s domain "a.example.org"');
    expect(await refused(['service.nodePort=30443'])).toContain('service.nodePort needs service.type NodePort or LoadBalancer');
    expect(await refused(['service.type=LoadBalancer', 'service.nodeAddress=192.0.2.10'])).toContain('service.nodeAddress needs service.type NodePort');
    expect(await refused(['service.loadBalancerIP=203.0.113.7'])).toContain('need service.type LoadBalancer');
  });

  it('checks the isolation values against the syncer\'s own lists', async () => {
    const schema = JSON.parse(await readFile(join(chart, 'values.schema.json'), 'utf8')) as { properties: { isolation: { properties: Record<string, { enum?: string[]; items?: { enum?: string[] } }> } } };
    const isolation = schema.properties.isolation.properties;
    expect(isolation.podSecurityStandard?.enum?.toSorted()).toEqual([...podSecurityLevels].sort());
    expect(isolation.allow?.items?.enum).toEqual([...policyExceptions]);
    expect(isolation.serviceTypes?.items?.enum).toEqual([...serviceTypes]);
  });

  for (const distro of ['k3s', 'k8s']) {
    it(`projects the host token into the syncer container only (${distro})`, async () => {
      for (const persistence of ['true', 'false']) {
        const spec = podSpec(await render('t1', [`distro=${distro}`, `storage.persistence=${persistence}`]));
        // The kubelet's own automount would reach every container, the control plane's included.
        expect(spec.automountServiceAccountToken).toBe(false);
        const containers = [...spec.containers, ...(spec.initContainers ?? [])];
        expect(containers.filter((c) => c.volumeMounts?.some((m) => m.mountPath.replace(/\/+$/, '') === tokenDir)).map((c) => c.name)).toEqual(['syncer']);
        const tokenVolumes = spec.volumes.filter((v) => v.projected?.sources.some((src) => 'serviceAccountToken' in src));
        expect(tokenVolumes).toHaveLength(1);
        expect(tokenVolumes[0]?.projected?.sources).toEqual([
          { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
          { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
        ]);
        expect(containers.filter((c) => c.volumeMounts?.some((m) => m.name === tokenVolumes[0]?.name)).map((c) => c.name)).toEqual(['syncer']);
        expect(spec.securityContext).toMatchObject({ seccompProfile: { type: 'RuntimeDefault' } });
        if (distro === 'k8s') {
          // Every k8s container runs as non-root with the restricted settings.
          for (const c of spec.containers) expect(c.securityContext, c.name).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
        }
      }
    });
  }

  it('selects its own pod on vnest.dev/ keys only, which a tenant cannot set on its pods', async () => {
    const docs = await render('t1', ['isolation.networkPolicy.enabled=true']);
    const sts = docs.find((d) => d.kind === 'StatefulSet');
    const podLabels = sts?.spec.template.metadata.labels as Record<string, string>;
    // The StatefulSet's selector is immutable: upgrades need it as it was.
    expect(sts?.spec.selector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'vnest', 'app.kubernetes.io/instance': 't1' } });
    expect(podLabels).toMatchObject({ 'vnest.dev/control-plane': 't1' });
    const services = docs.filter((d) => d.kind === 'Service');
    expect(services.map((d) => d.metadata.name).sort()).toEqual(['t1', 't1-headless']);
    for (const svc of services) {
      const selector = svc.spec.selector as Record<string, string>;
      expect(Object.keys(selector).filter((k) => !k.startsWith('vnest.dev/')), svc.metadata.name).toEqual([]);
      expect(selector, svc.metadata.name).toEqual({ 'vnest.dev/control-plane': 't1' });
      expect(podLabels).toMatchObject(selector);
    }
    const policies = docs.filter((d) => d.kind === 'NetworkPolicy');
    expect(policies.map((d) => d.metadata.name).sort()).toEqual(['vnest-t1-front-door', 'vnest-t1-workloads']);
    for (const policy of policies) {
      const selectors = [policy.spec.podSelector, ...(policy.spec.ingress as Array<{ from: Array<{ podSelector: unknown }> }>).flatMap((i) => i.from.map((f) => f.podSelector))] as Array<{ matchLabels: Record<string, string> }>;
      for (const sel of selectors) expect(Object.keys(sel.matchLabels).filter((k) => !k.startsWith('vnest.dev/')), policy.metadata.name).toEqual([]);
      expect(selectors, policy.metadata.name).toContainEqual({ matchLabels: { 'vnest.dev/tenant': 't1' } });
    }
    // The workloads policy lets the control plane in; the front door's selects the control plane.
    const workloads = policies.find((d) => d.metadata.name === 'vnest-t1-workloads');
    expect(workloads?.spec.ingress).toContainEqual({ from: expect.arrayContaining([{ podSelector: { matchLabels: { 'vnest.dev/control-plane': 't1' } } }]) });
    const frontDoor = policies.find((d) => d.metadata.name === 'vnest-t1-front-door');
    expect(frontDoor?.spec).toEqual({
      podSelector: { matchLabels: { 'vnest.dev/control-plane': 't1' } },
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { 'vnest.dev/tenant': 't1' } } }], ports: [{ port: 8443, protocol: 'TCP' }] }],
    });
  });

  it('opens the front door to the peers isolation.networkPolicy.frontDoorFrom names, and refuses a peer that is not one', async () => {
    const values = await valuesFile();
    const peers = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }, { ipBlock: { cidr: '192.0.2.0/24' } }];
    await writeFile(values, JSON.stringify({ isolation: { networkPolicy: { enabled: true, frontDoorFrom: peers } } }));
    const docs = await render('t1', [], ['-f', values]);
    const frontDoor = docs.find((d) => d.kind === 'NetworkPolicy' && d.metadata.name === 'vnest-t1-front-door');
    expect(frontDoor?.spec.ingress).toEqual([
      { from: [{ podSelector: { matchLabels: { 'vnest.dev/tenant': 't1' } } }], ports: [{ port: 8443, protocol: 'TCP' }] },
      { from: peers, ports: [{ port: 8443, protocol: 'TCP' }] },
    ]);
    await writeFile(values, JSON.stringify({ isolation: { networkPolicy: { enabled: true, frontDoorFrom: [{ ports: [80] }] } } }));
    const refused = await helm(['template', 't1', chart, '--namespace', 'tenants', '-f', values]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/frontDoorFrom/);
  });

  it('serves the syncer\'s metrics on syncer.metrics.port, scraped by a ServiceMonitor when asked and by the metricsFrom peers only', async () => {
    const plain = await render('t1');
    expect(plain.some((d) => d.kind === 'ServiceMonitor')).toBe(false);
    const values = await valuesFile();
    const peers = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }];
    await writeFile(values, JSON.stringify({ syncer: { metrics: { serviceMonitor: { enabled: true, labels: { release: 'prom' } } } }, isolation: { networkPolicy: { enabled: true, metricsFrom: peers } } }));
    const docs = await render('t1', [], ['-f', values]);
    const config = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'vnest-t1-syncer') as Doc & { data: Record<string, string> };
    expect(parse(config.data['config.yaml'] ?? '').healthPort).toBe(9102);
    const monitor = docs.find((d) => d.kind === 'ServiceMonitor') as Doc & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: unknown[] } };
    expect(monitor.metadata.labels?.release).toBe('prom');
    expect(monitor.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '30s' }]);
    const service = docs.find((d) => d.kind === 'Service' && d.metadata.name === 't1-metrics') as Doc & { spec: { selector: Record<string, string>; ports: unknown[] } };
    expect(service.spec.selector).toEqual({ 'vnest.dev/control-plane': 't1' });
    expect(service.metadata.labels).toEqual(expect.objectContaining(monitor.spec.selector.matchLabels));
    const frontDoor = docs.find((d) => d.kind === 'NetworkPolicy' && d.metadata.name === 'vnest-t1-front-door');
    expect(frontDoor?.spec.ingress).toContainEqual({ from: peers, ports: [{ port: 9102, protocol: 'TCP' }] });
  });

  it('writes the isolation settings into the syncer\'s config file as the syncer reads them', async () => {
    const defaults = await syncerConfig([]);
    // Pods with a subdomain get their tenant FQDN in /etc/hosts from an init container of the syncer's own image, unless turned off.
    expect(defaults.options.hostsImage).toMatch(/^ghcr\.io\/vnest-dev\/vnest:\d/);
    expect((await syncerConfig(['syncer.rewriteHosts.image=registry.example/tools:1'])).options.hostsImage).toBe('registry.example/tools:1');
    expect((await syncerConfig(['syncer.rewriteHosts.enabled=false'])).options.hostsImage).toBeUndefined();
    expect(defaults.options.policy).toMatchObject({ podSecurity: 'baseline', allow: new Set(), allowFields: new Set(), hostLabels: [], hostAnnotations: [], serviceTypes: new Set(serviceTypes), ingressClasses: new Set() });
    // "privileged" is a level of its own now, not a list of exceptions.
    const privileged = await syncerConfig(['isolation.podSecurityStandard=privileged']);
    expect(privileged.raw).toMatchObject({ podSecurity: 'privileged', allow: [] });
    const set = await syncerConfig([
      'isolation.podSecurityStandard=restricted', 'isolation.allow={hostPorts,sysctls}', 'isolation.allowFields={Pod.spec.x,Service.spec.loadBalancerIP}',
      'isolation.priorityClasses={high}', 'isolation.runtimeClasses={gvisor}', 'isolation.schedulers={bin-packer}', 'isolation.tolerations={dedicated}',
      'isolation.hostLabels={sidecar.istio.io/}', 'isolation.hostAnnotations={service.beta.kubernetes.io/aws-load-balancer-type}', 'isolation.serviceTypes={ClusterIP,NodePort}',
      'isolation.ingressClasses={nginx}',
    ]);
    expect(set.raw).toMatchObject({
      podSecurity: 'restricted', allow: ['hostPorts', 'sysctls'], allowFields: ['Pod.spec.x', 'Service.spec.loadBalancerIP'], priorityClasses: ['high'], runtimeClasses: ['gvisor'],
      schedulers: ['bin-packer'], tolerations: ['dedicated'], hostLabels: ['sidecar.istio.io/'], hostAnnotations: ['service.beta.kubernetes.io/aws-load-balancer-type'], serviceTypes: ['ClusterIP', 'NodePort'], ingressClasses: ['nginx'],
    });
    expect(set.options.policy).toEqual({
      podSecurity: 'restricted', allow: new Set(['hostPorts', 'sysctls']), allowFields: new Set(['Pod.spec.x', 'Service.spec.loadBalancerIP']), priorityClasses: new Set(['high']),
      runtimeClasses: new Set(['gvisor']), schedulers: new Set(['bin-packer']), tolerations: new Set(['dedicated']), hostLabels: ['sidecar.istio.io/'],
      hostAnnotations: ['service.beta.kubernetes.io/aws-load-balancer-type'], serviceTypes: new Set(['ClusterIP', 'NodePort']), ingressClasses: new Set(['nginx']),
      nodeSelector: {},
    });
  });
});

describe('helm chart against the test bed', async () => {
  // kwok forwards every pod port-forward here: to the front door of the syncer these tests run, so
  // `vnest connect` through the tenant pod reaches it.
  const frontDoorPort = await ports.next();
  const env = useEnvironment(() => TenantBed.start(['chart'], { portForwardTarget: { address: '127.0.0.1', port: frontDoorPort } }));
  const bed = () => env.current;
  let syncer: ReturnType<typeof spawn> | undefined;
  afterAll(async () => {
    if (syncer && syncer.exitCode === null) {
      syncer.kill('SIGTERM');
      await new Promise((resolve) => syncer?.once('exit', resolve));
    }
  });
  const vnest = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [main, ...args], { env: { ...process.env, VNEST_KUBECTL: (await kit()).bin.kubectl, VNEST_HELM: (await kit()).bin.helm, ...env }, timeout: 120_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };

  it('passes a server-side dry run of every main combination', async () => {
    await bed().hostKubectl('create', 'namespace', 'dry');
    for (const [name, sets] of Object.entries(combos)) {
      const res = await helm(['template', 'dry1', chart, '--namespace', 'dry', ...sets.flatMap((s) => ['--set', s])]);
      const applied = await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['apply', '--dry-run=server', '-f', '-'], { input: res.stdout });
      expect(applied.stderr, name).toBe('');
      expect(applied.code, name).toBe(0);
    }
  });

  it('runs its pod at the Pod Security level its namespace is labelled with, and its notes print that label', async () => {
    const k = await kit();
    for (const level of ['baseline', 'restricted']) {
      await bed().hostKubectl('create', 'namespace', `psa-${level}`);
      await bed().hostKubectl('label', 'namespace', `psa-${level}`, `pod-security.kubernetes.io/enforce=${level}`);
      await bed().hostKubectl('-n', `psa-${level}`, 'create', 'serviceaccount', 'vnest-t1');
    }
    // Pod Security Admission judges pods, not StatefulSets: a pod as the StatefulSet would make it.
    const dryRunPod = async (sets: string[], ns: string) => {
      const template = (await render('t1', ['storage.persistence=false', ...sets])).find((d) => d.kind === 'StatefulSet')?.spec.template as { metadata: unknown; spec: unknown };
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { ...(template.metadata as object), name: 't1-0', namespace: ns }, spec: template.spec };
      return runKubectl(k.bin.kubectl, bed().host.kubeconfigPath, ['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(pod) });
    };
    for (const distro of ['k3s', 'k8s']) {
      for (const standard of ['baseline', 'restricted']) {
        const sets = [`distro=${distro}`, `isolation.podSecurityStandard=${standard}`];
        const level = namespacePodSecurity({ distro, isolation: { podSecurityStandard: standard } });
        const res = await dryRunPod(sets, `psa-${level}`);
        expect([res.code, res.stderr], `${distro} at ${standard}`).toEqual([0, '']);
        const notes = await helm(['install', 'notes', chart, '--namespace', `psa-${level}`, '--kubeconfig', bed().host.kubeconfigPath, '--dry-run=server', ...sets.flatMap((x) => ['--set', x])]);
        expect(notes.stdout).toContain(`kubectl label namespace psa-${level} --overwrite`);
        for (const mode of ['enforce', 'warn', 'audit']) expect(notes.stdout).toContain(`pod-security.kubernetes.io/${mode}=${level} pod-security.kubernetes.io/${mode}-version=latest`);
      }
    }
    // Why a k3s tenant's namespace is labelled baseline: the k3s server runs as root.
    const k3sRestricted = await dryRunPod(['distro=k3s'], 'psa-restricted');
    expect(k3sRestricted.stderr).toContain('violates PodSecurity "restricted:latest"');
  });

  it('installs with helm, and a syncer run as the chart renders it makes the tenant work', async () => {
    const k = await kit();
    const ns = 'team-a';
    const release = 'team';
    await bed().hostKubectl('create', 'namespace', ns);
    const install = await helm(['install', release, chart, '--namespace', ns, '--kubeconfig', bed().host.kubeconfigPath, '--set', 'storage.persistence=false', '--set', 'coredns.enabled=false']);
    expect(install.stderr).toBe('');
    const sts = JSON.parse(await bed().hostKubectl('-n', ns, 'get', 'statefulset', release, '-o', 'json')) as { spec: { template: { spec: { containers: Array<{ name: string; args: string[]; env: Array<{ name: string; value?: string; valueFrom?: unknown }> }> } } } };
    const container = sts.spec.template.spec.containers.find((c) => c.name === 'syncer');
    expect(container).toBeDefined();
    const config = JSON.parse(await bed().hostKubectl('-n', ns, 'get', 'configmap', `vnest-${release}-syncer`, '-o', 'json')) as { data: Record<string, string> };
    const dir = bed().host.controlPlane.dir;
    const configFile = join(dir, 'chart-syncer-config.yaml');
    await writeFile(configFile, config.data['config.yaml'] ?? '');
    // The chart's own service account and Role, as the pod would have them.
    const token = (await bed().hostKubectl('-n', ns, 'create', 'token', `vnest-${release}`, '--duration=1h')).trim();
    const hostKubeconfig = join(dir, 'chart-sa.kubeconfig');
    await writeFile(hostKubeconfig, renderKubeconfig({ name: 'sa', server: bed().host.server, caPem: bed().host.controlPlane.ca.certPem, credentials: { token } }));
    // The rendered arguments and environment; only what a pod gets from its cluster is replaced.
    const port = frontDoorPort;
    const args = (container?.args ?? []).map((a) => (a.startsWith('--config=') ? `--config=${configFile}` : a));
    const envVars: NodeJS.ProcessEnv = { ...process.env };
    for (const e of container?.env ?? []) {
      if (e.name === 'VNEST_HOST_NAMESPACE') envVars[e.name] = ns;
      else if (e.name === 'VNEST_VIRTUAL_KUBECONFIG') envVars[e.name] = bed().virtual('chart').kubeconfigPath;
      else if (e.value !== undefined) envVars[e.name] = e.value;
    }
    Object.assign(envVars, { VNEST_HOST_KUBECONFIG: hostKubeconfig, VNEST_LISTEN_PORT: String(port), VNEST_LISTEN_ADDRESS: '127.0.0.1' });
    expect(args[0]).toBe('syncer');
    const logFile = join(dir, 'chart-syncer.log');
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, [main, ...args], { env: envVars, stdio: ['ignore', fd, fd] });
    syncer = child;
    closeSync(fd);
    {
      const exported = await eventually('exported kubeconfig', async () => {
        const r = await runKubectl(k.bin.kubectl, bed().host.kubeconfigPath, ['-n', ns, 'get', 'secret', `${release}-kubeconfig`, '-o', 'jsonpath={.data.config}']);
        if (child.exitCode !== null) throw new Error(`syncer exited:\n${tail(logFile, 30)}`);
        return r.code === 0 && r.stdout ? Buffer.from(r.stdout, 'base64').toString() : undefined;
      });
      expect(exported).toContain(`server: https://${release}.${ns}.svc:443`);
      const kubeconfig = join(dir, 'chart-tenant.kubeconfig');
      await writeFile(kubeconfig, exported.replace(`https://${release}.${ns}.svc:443`, `https://127.0.0.1:${port}`));
      await eventually('front door ready', async () => (await runKubectl(k.bin.kubectl, kubeconfig, ['get', '--raw=/readyz'])).code === 0);
      await kubectlOk(k.bin.kubectl, kubeconfig, ['create', 'deployment', 'web', '--image=registry.k8s.io/pause:3.10', '--replicas=2']);
      await eventually('2 Running pods in the tenant', async () => {
        const pods = JSON.parse(await kubectlOk(k.bin.kubectl, kubeconfig, ['get', 'pods', '-l', 'app=web', '-o', 'json'])) as List<PodJson>;
        return pods.items.length === 2 && pods.items.every((p) => p.status.phase === 'Running');
      });
      const hostPods = (await bed().hostJson<List<PodJson>>('-n', ns, 'get', 'pods', '-l', `vnest.dev/tenant=${release}`)).items;
      expect(hostPods).toHaveLength(2);
      // Owned by the chart's Service: uninstalling the tenant collects them.
      expect(hostPods[0]?.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Service', name: release })]);
    }
  });

  const host = () => `--kubeconfig=${bed().host.kubeconfigPath}`;

  it('vnest kubeconfig prints the exported kubeconfig; vnest list shows the tenant', async () => {
    // kubeconfig refuses a tenant that is not ready (exit 7): its pod on kwok becomes ready soon.
    await eventually('tenant team ready on the host', async () => (await bed().hostKubectl('-n', 'team-a', 'get', 'statefulset', 'team', '-o', 'jsonpath={.status.readyReplicas}')) === '1');
    const res = await vnest(['kubeconfig', 'team', '-n', 'team-a', host()]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('server: https://team.team-a.svc:443');
    const list = await vnest(['list', '-o', 'json', host()]);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ name: 'team', namespace: 'team-a', distro: 'k3s' })]);
    expect(parse((await vnest(['list', '-o', 'yaml', host()])).stdout)).toEqual([expect.objectContaining({ name: 'team', namespace: 'team-a', distro: 'k3s' })]);
  });

  it('vnest connect -- COMMAND runs against the tenant through a port-forward to its pod', async () => {
    await eventually('tenant pod team-0 Running on the host', async () => (await bed().hostKubectl('-n', 'team-a', 'get', 'pod', 'team-0', '-o', 'jsonpath={.status.phase}').catch(() => '')) === 'Running');
    const res = await vnest(['connect', 'team', '-n', 'team-a', host(), '--', (await kit()).bin.kubectl, 'get', 'pods', '-A', '-o', 'name']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout.split('\n').filter((l) => l.startsWith('pod/web-'))).toHaveLength(2);
    const printed = await vnest(['connect', 'team', '-n', 'team-a', host(), '--print', '--server=https://127.0.0.1:1']);
    expect(printed.stdout).toContain('server: https://127.0.0.1:1');
  });

  it('says what went wrong, with distinct exit codes', async () => {
    const unknown = await vnest(['kubeconfig', 'nope', '-n', 'team-a', host()]);
    expect([unknown.code, unknown.stderr]).toEqual([4, expect.stringContaining('no tenant "nope" in namespace "team-a"')]);
    const invalid = await vnest(['connect', 'Bad_Name', host()]);
    expect([invalid.code, invalid.stderr]).toEqual([2, expect.stringContaining('must be lower-case')]);
    const noCluster = await vnest(['list', '--kubeconfig=/nonexistent/kubeconfig']);
    expect([noCluster.code, noCluster.stderr]).toEqual([3, expect.stringContaining('cannot reach the host cluster')]);
    const noHelm = await vnest(['create', 'other', host()], { VNEST_HELM: '/nonexistent/helm' });
    expect([noHelm.code, noHelm.stderr]).toEqual([5, expect.stringContaining('helm is not installed')]);
    // helm's own refusal (here the chart's schema) is helm's, with its message: not "not ready".
    const refused = await vnest(['create', 'other', host(), '--set', 'distro=nope']);
    expect([refused.code, refused.stderr]).toEqual([9, expect.stringContaining('helm could not install tenant other')]);
    expect(refused.stderr).toContain('distro');
    // Nothing is left of it: not even the namespace made for it.
    await eventually('namespace other gone', async () => (await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['get', 'namespace', 'other'])).code !== 0);
    const busy = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => busy.once('listening', resolve));
    const busyPort = (busy.address() as { port: number }).port;
    const inUse = await vnest(['connect', 'team', '-n', 'team-a', host(), `--local-port=${busyPort}`, '--', 'true']);
    busy.close();
    expect([inUse.code, inUse.stderr]).toEqual([6, expect.stringContaining(`local port ${busyPort} is already in use`)]);
  });

  it('vnest pause and resume scale the tenant and remove its host pods', async () => {
    // Scaling the StatefulSet stops the syncer in a real pod; here it runs beside the test.
    if (syncer && syncer.exitCode === null) {
      syncer.kill('SIGTERM');
      await new Promise((resolve) => syncer?.once('exit', resolve));
    }
    const paused = await vnest(['pause', 'team', '-n', 'team-a', host()]);
    expect(paused.code).toBe(0);
    expect(await bed().hostKubectl('-n', 'team-a', 'get', 'statefulset', 'team', '-o', 'jsonpath={.spec.replicas}')).toBe('0');
    await eventually('tenant host pods gone', async () => (await bed().hostKubectl('-n', 'team-a', 'get', 'pods', '-l', 'vnest.dev/tenant=team', '-o', 'name')).trim() === '');
    const resumed = await vnest(['resume', 'team', '-n', 'team-a', host()]);
    expect(resumed.code).toBe(0);
    expect(await bed().hostKubectl('-n', 'team-a', 'get', 'statefulset', 'team', '-o', 'jsonpath={.spec.replicas}')).toBe('1');
  });

  it('vnest create installs a tenant with helm and reports progress until it is ready', async () => {
    const res = await vnest(['create', 'second', '-n', 'team-b', host(), '--set', 'storage.persistence=false', '--set', 'coredns.enabled=false', '--timeout=120']);
    expect(res.stderr).toContain('installing tenant second into namespace team-b');
    expect(res.stderr).toContain('tenant second: Running');
    expect(res.stderr).toContain('namespace team-b: Pod Security Admission enforce=baseline, warn=baseline, audit=baseline');
    expect(res.code).toBe(0);
    const ns = await bed().hostJson<{ metadata: { labels: Record<string, string> } }>('get', 'namespace', 'team-b');
    expect(ns.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/enforce-version': 'latest',
      'pod-security.kubernetes.io/warn': 'baseline', 'pod-security.kubernetes.io/warn-version': 'latest',
      'pod-security.kubernetes.io/audit': 'baseline', 'pod-security.kubernetes.io/audit-version': 'latest',
    });
    const list = JSON.parse((await vnest(['list', '-o', 'json', host()])).stdout) as Array<{ name: string; status: string }>;
    expect(list.find((t) => t.name === 'second')?.status).toBe('Running');
  });

  it('vnest create --expose nodeport exposes the tenant at a node\'s address, and vnest upgrade --expose switches to an Ingress', async () => {
    const nodes = await bed().hostJson<{ items: Array<{ metadata: { name: string }; status: { addresses?: Array<{ type: string; address: string }> } }> }>('get', 'nodes');
    const first = nodes.items.toSorted((a, b) => a.metadata.name.localeCompare(b.metadata.name))[0];
    const address = first?.status.addresses?.find((a) => a.type === 'ExternalIP')?.address ?? first?.status.addresses?.find((a) => a.type === 'InternalIP')?.address;
    expect(address).toBeTruthy();
    const base = ['-n', 'team-e', host(), '--set', 'storage.persistence=false', '--set', 'coredns.enabled=false', '--timeout=120'];
    const created = await vnest(['create', 'fifth', ...base, '--expose', 'nodeport', '--node-port', '30555']);
    expect(created.stderr).toContain(`tenant fifth's node port: at node ${first?.metadata.name}'s`);
    expect(created.code).toBe(0);
    const service = () => bed().hostJson<{ spec: { type: string; ports: Array<{ nodePort?: number }> } }>('-n', 'team-e', 'get', 'service', 'fifth');
    const config = async () => parse((await bed().hostJson<{ data: Record<string, string> }>('-n', 'team-e', 'get', 'configmap', 'vnest-fifth-syncer')).data['config.yaml'] ?? '') as Record<string, unknown>;
    expect((await service()).spec).toMatchObject({ type: 'NodePort', ports: [{ nodePort: 30555 }] });
    expect(await config()).toMatchObject({ exposeNodeAddress: address });
    // Upgrade keeps the tenant's values: the NodePort's are reset, so the chart accepts the switch.
    const upgraded = await vnest(['upgrade', 'fifth', ...base, '--expose', 'ingress', '--expose-host', 'fifth-api.example.org']);
    expect(upgraded.stderr).not.toContain('helm could not');
    expect(upgraded.code).toBe(0);
    expect((await service()).spec.type).toBe('ClusterIP');
    const ingress = await bed().hostJson<{ metadata: { annotations: Record<string, string> }; spec: { rules: Array<{ host: string }> } }>('-n', 'team-e', 'get', 'ingress', 'fifth');
    expect(ingress.spec.rules.map((r) => r.host)).toEqual(['fifth-api.example.org']);
    expect(ingress.metadata.annotations).toMatchObject({ 'nginx.ingress.kubernetes.io/ssl-passthrough': 'true' });
    expect(await config()).toMatchObject({ exposeIngressHost: 'fifth-api.example.org' });
    expect(await config()).not.toHaveProperty('exposeNodeAddress');
    const none = await vnest(['upgrade', 'fifth', ...base, '--expose', 'none']);
    expect(none.code).toBe(0);
    expect(await bed().hostKubectl('-n', 'team-e', 'get', 'ingress', '-o', 'name')).toBe('');
    // Flags that do not fit together are refused before anything is done.
    const bad = await vnest(['upgrade', 'fifth', '-n', 'team-e', host(), '--expose', 'ingress']);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('--expose ingress needs --expose-host NAME')]);
    const choice = await vnest(['create', 'sixth', host(), '--expose', 'gateway']);
    expect([choice.code, choice.stderr]).toEqual([2, expect.stringContaining("argument 'gateway' is invalid")]);
  });

  it('vnest create never loosens a stricter Pod Security label, and --no-pod-security-labels leaves the namespace alone', async () => {
    const psa = async (ns: string) => Object.fromEntries(Object.entries((await bed().hostJson<{ metadata: { labels?: Record<string, string> } }>('get', 'namespace', ns)).metadata.labels ?? {})
      .filter(([key]) => key.startsWith('pod-security.kubernetes.io/')));
    await bed().hostKubectl('create', 'namespace', 'team-c');
    await bed().hostKubectl('label', 'namespace', 'team-c', 'pod-security.kubernetes.io/enforce=restricted');
    // The k3s pod cannot run under "restricted", so it never gets ready: exit 7 after the labelling.
    const stricter = await vnest(['create', 'third', '-n', 'team-c', host(), '--set', 'storage.persistence=false', '--set', 'coredns.enabled=false', '--timeout=1']);
    expect(stricter.stderr).toContain('namespace team-c already has Pod Security enforce=restricted, stricter than baseline; left as it is');
    expect(stricter.code).toBe(7);
    expect(await psa('team-c')).toEqual({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/warn': 'baseline', 'pod-security.kubernetes.io/warn-version': 'latest',
      'pod-security.kubernetes.io/audit': 'baseline', 'pod-security.kubernetes.io/audit-version': 'latest',
    });
    const skipped = await vnest(['create', 'fourth', '-n', 'team-d', host(), '--set', 'storage.persistence=false', '--set', 'coredns.enabled=false', '--timeout=1', '--no-pod-security-labels']);
    expect(skipped.stderr).not.toContain('Pod Security');
    expect(await psa('team-d')).toEqual({});
    expect((await vnest(['create', '--help'])).stdout).toContain('--no-pod-security-labels');
  });

  it('vnest delete uninstalls the tenant and leaves none of its host objects', async () => {
    const res = await vnest(['delete', 'team', '-n', 'team-a', host()]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const left = await bed().hostKubectl('-n', 'team-a', 'get', 'pods,services,configmaps,secrets,statefulsets,serviceaccounts,roles', '-l', 'vnest.dev/tenant=team', '-o', 'name');
    expect(left.trim()).toBe('');
    const release = await bed().hostKubectl('-n', 'team-a', 'get', 'statefulsets,roles', '-o', 'name');
    expect(release.trim()).toBe('');
  });
});
