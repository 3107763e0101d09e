// A tenant tree on the kwok bed: tenant a on the host, b inside a, c inside b, each control plane
// a process and each syncer using its parent's front door as its host (with only the namespaced
// Role the chart gives it), as `vnest create child --kubeconfig <parent>` sets them up. Domains
// follow the tree from the host's configured root; a pod made in c runs on the host with the right
// names, marks and status at every level; `vnest list --tree` shows each kubeconfig what is below
// it; each parent sees and manages its child; a child sees nothing above it; deleting the middle
// tenant leaves nothing behind at any level. c is created as a tenant type whose objects and Helm
// chart `vnest create --type` renders on the host.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { ControlPlane } from '../../src/local/control-plane.ts';
import { HostCluster, startVirtualControlPlane } from '../../src/local/host-cluster.ts';
import { kubectlOk, runKubectl } from '../../src/local/kubectl.ts';
import { renderKubeconfig } from '../../src/kube/kubeconfig.ts';
import { resolveSyncerOptions } from '../../src/syncer/options.ts';
import { hostClusterRoleRules, hostRoleRules } from '../../src/syncer/resources/index.ts';
import { startSyncer, type RunningSyncer } from '../../src/syncer/run.ts';
import { hostName } from '../../src/translate/names.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';
import { eventually, type List, type PodJson } from '../tenant-bed.ts';

/** Each tenant, the host namespace it lives in (in its parent's cluster), and its parent. */
const tree = [
  { tenant: 'a', namespace: 'tenants', parent: undefined },
  { tenant: 'b', namespace: 'team-b', parent: 'a' },
  { tenant: 'c', namespace: 'team-c', parent: 'b' },
] as const;
type Name = (typeof tree)[number]['tenant'];
const logLine = 'a line from the host pod\n';
/** The root of the tree's domain, as a platform team configures it on the host. */
const rootDomain = 'example.org';
const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
/** The objects of the tenant type c is created as: a namespace with a quota and a Role, a CRD and an object of it. */
const teamType = `
apiVersion: v1
kind: ResourceQuota
metadata: { name: team-quota, namespace: team-apps }
spec: { hard: { pods: "20" } }
---
apiVersion: tenant.example/v1
kind: Budget
metadata: { name: default, namespace: team-apps }
spec: { limit: 5 }
---
apiVersion: v1
kind: Namespace
metadata: { name: team-apps, labels: { team: "yes" } }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: team-reader, namespace: team-apps }
rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] }]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: budgets.tenant.example }
spec:
  group: tenant.example
  scope: Namespaced
  names: { kind: Budget, plural: budgets, singular: budget }
  versions: [{ name: v1, served: true, storage: true, schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } } }]
`;
/**
 * The charts of that type: the fixture chart (a CRD in crds/, a ConfigMap, a Role, a ClusterRole,
 * an object of the CRD, a post-install hook and a test hook) twice, in its own namespace with
 * values and in "default" as it comes.
 */
const teamCharts = `
- name: tools
  namespace: tools
  chart: team-tools.tgz
  values: { greeting: hi, readable: [configmaps, secrets] }
- name: extras
  chart: team-tools.tgz
`;
const fixtureChart = join(import.meta.dirname, '..', 'fixtures', 'charts', 'team-tools');

interface Level {
  cp: ControlPlane;
  syncer?: RunningSyncer;
  /** The tenant's exported kubeconfig (cluster-admin through its front door). */
  kubeconfig: string;
}

class TreeBed {
  readonly host: HostCluster;
  readonly levels = new Map<Name, Level>();
  /** The manifests c's syncer applies: what `vnest create --type team` gave the chart on the host. */
  cType: string | undefined;
  private constructor(host: HostCluster) {
    this.host = host;
  }

  static async start(): Promise<TreeBed> {
    const k = await kit();
    const started = await Promise.allSettled([
      HostCluster.start({ kit: k, ports, nodes: 2, podLogs: logLine }),
      ...tree.map((t) => startVirtualControlPlane({ kit: k, ports, name: `tree-${t.tenant}` })),
    ]);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) {
      await Promise.all(started.flatMap((s) => (s.status === 'fulfilled' ? [s.value.stop()] : [])));
      throw failed.reason;
    }
    const [host, ...cps] = started.map((s) => (s as PromiseFulfilledResult<HostCluster | ControlPlane>).value) as [HostCluster, ...ControlPlane[]];
    const bed = new TreeBed(host);
    tree.forEach((t, i) => bed.levels.set(t.tenant, { cp: cps[i] as ControlPlane, kubeconfig: '' }));
    return bed;
  }

  level(name: Name): Level {
    const l = this.levels.get(name);
    if (!l) throw new Error(`no tenant ${name}`);
    return l;
  }

  /** The kubeconfig of the cluster `name` lives in, as its admin: the host's, or the parent's exported one. */
  parentKubeconfig(name: Name): string {
    const parent = tree.find((t) => t.tenant === name)?.parent;
    return parent ? this.level(parent).kubeconfig : this.host.kubeconfigPath;
  }

  async kubectl(kubeconfig: string, ...args: string[]): Promise<string> {
    return kubectlOk((await kit()).bin.kubectl, kubeconfig, args);
  }

  async json<T>(kubeconfig: string, ...args: string[]): Promise<T> {
    return JSON.parse(await this.kubectl(kubeconfig, ...args, '-o', 'json')) as T;
  }

  /**
   * What the chart does in the parent's cluster (namespace, owner Service, ServiceAccount with the
   * syncer's Role), then the syncer with that account's token against the parent's API.
   */
  async install(name: Name): Promise<void> {
    const t = tree.find((x) => x.tenant === name);
    if (!t) throw new Error(`no tenant ${name}`);
    const parent = this.parentKubeconfig(name);
    const k = await kit();
    const apply = (objs: unknown[]) => kubectlOk(k.bin.kubectl, parent, ['apply', '-f', '-'], { input: objs.map((o) => JSON.stringify(o)).join('\n') });
    const sa = `vnest-${name}`;
    await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: t.namespace } }]);
    await apply([
      { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: t.namespace }, spec: { ports: [{ name: 'https', port: 443, targetPort: 8443 }], selector: { 'vnest.dev/control-plane': name } } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: t.namespace } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: sa, namespace: t.namespace }, rules: hostRoleRules() },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: sa, namespace: t.namespace },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: sa }, subjects: [{ kind: 'ServiceAccount', name: sa, namespace: t.namespace }],
      },
      // Shared services on: the chart's ClusterRole reads Services in every namespace.
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: `${t.namespace}-${sa}` }, rules: hostClusterRoleRules('fake', [], { sharedServices: true }) },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `${t.namespace}-${sa}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${t.namespace}-${sa}` }, subjects: [{ kind: 'ServiceAccount', name: sa, namespace: t.namespace }],
      },
    ]);
    if (t.parent) {
      // The owner Service is the parent's Service: wait until the parent's syncer has settled its
      // cluster IP (it recreates a Service whose IP the host gave to another).
      const parentOf = tree.find((x) => x.tenant === t.parent);
      const copy = hostName(name, t.namespace, t.parent);
      await eventually(`the host copy of ${t.parent}'s Service ${t.namespace}/${name}`, async () => {
        const above = this.parentKubeconfig(t.parent);
        const res = await runKubectl(k.bin.kubectl, above, ['-n', parentOf?.namespace ?? '', 'get', 'service', copy, '-o', 'jsonpath={.spec.clusterIP}']);
        const mine = await this.kubectl(parent, '-n', t.namespace, 'get', 'service', name, '-o', 'jsonpath={.spec.clusterIP}');
        return res.code === 0 && res.stdout !== '' && res.stdout === mine;
      });
    }
    const token = (await this.kubectl(parent, '-n', t.namespace, 'create', 'token', sa, '--duration=2h')).trim();
    const parentConfig = await this.json<{ clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }> }>(parent, 'config', 'view', '--raw', '--minify');
    const cluster = parentConfig.clusters[0]?.cluster;
    if (!cluster) throw new Error(`no cluster in ${parent}`);
    const hostKubeconfig = join(this.host.controlPlane.dir, `${name}-host.kubeconfig`);
    await writeFile(hostKubeconfig, renderKubeconfig({
      name: `${name}-host`, server: cluster.server, caPem: Buffer.from(cluster['certificate-authority-data'], 'base64').toString(), credentials: { token }, namespace: t.namespace,
    }), { mode: 0o600 });
    // The domain `vnest create` gives: <name>.<the domain the parent's cluster publishes>.
    const info = await runKubectl(k.bin.kubectl, parent, ['-n', 'kube-public', 'get', 'configmap', 'vnest-info', '-o', 'jsonpath={.data.domain}']);
    const domain = `${name}.${info.stdout || 'vnest.local'}`;
    const port = await ports.next();
    const level = this.level(name);
    const typeFile = join(this.host.controlPlane.dir, `${name}-type.yaml`);
    if (name === 'c') {
      if (this.cType === undefined) throw new Error('c is created as type "team", which `vnest create --type team` renders first');
      await writeFile(typeFile, this.cType);
    }
    level.syncer = await startSyncer(resolveSyncerOptions({
      tenant: name, hostNamespace: t.namespace, domain, virtualKubeconfig: level.cp.kubeconfigPath, hostKubeconfig,
      resyncSeconds: 30, listenPort: port, listenAddress: '127.0.0.1', kubeconfigServer: `https://127.0.0.1:${port}`, coredns: false, sharedServices: true,
      ...(name === 'c' ? { type: 'team', bootstrapManifests: typeFile } : {}),
    }, {}), pino({ level: process.env.VNEST_TEST_LOG ?? 'silent' }));
    const secret = await eventually(`${name}'s exported kubeconfig`, async () => {
      const res = await runKubectl(k.bin.kubectl, parent, ['-n', t.namespace, 'get', 'secret', `${name}-kubeconfig`, '-o', 'jsonpath={.data.config}']);
      return res.code === 0 && res.stdout ? res.stdout : undefined;
    });
    level.kubeconfig = join(this.host.controlPlane.dir, `${name}.kubeconfig`);
    await writeFile(level.kubeconfig, Buffer.from(secret, 'base64'), { mode: 0o600 });
  }

  async stopTenant(name: Name): Promise<void> {
    const level = this.level(name);
    await level.syncer?.stop();
    delete level.syncer;
    await level.cp.stop();
  }

  async stop(): Promise<void> {
    for (const t of [...tree].reverse()) await this.level(t.tenant).syncer?.stop().catch(() => undefined);
    await Promise.all([this.host.stop(), ...[...this.levels.values()].map((l) => l.cp.stop())]);
  }

  logTails(lines = 40): string {
    return [this.host.logTails(lines), ...[...this.levels.values()].map((l) => l.cp.logTails(lines))].join('\n');
  }
}

type Json = { metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } };

describe('a tenant tree three levels deep', () => {
  const env = useEnvironment(() => TreeBed.start());
  const bed = () => env.current;
  const admin = (name: Name) => bed().level(name).kubeconfig;
  /** The names a pod of c's `apps` namespace has at each level, leaf first. */
  const namesOf = (pod: string) => {
    const inB = hostName(pod, 'apps', 'c');
    const inA = hostName(inB, 'team-c', 'b');
    const inHost = hostName(inA, 'team-b', 'a');
    return { inB, inA, inHost };
  };

  const vnest = async (...args: string[]) => {
    const k = await kit();
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [main, ...args], { env: { ...process.env, VNEST_KUBECTL: k.bin.kubectl, VNEST_HELM: k.bin.helm }, timeout: 120_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };

  it('vnest create --type renders the type\'s Helm charts with its objects and gives them to the chart', async () => {
    const host = bed().host.kubeconfigPath;
    const dir = bed().host.controlPlane.dir;
    const k = await kit();
    // The platform team's types: the chart packaged into the ConfigMap's binaryData (kubectl puts
    // a file that is not UTF-8 there), and one whose "chart" is not a chart.
    await promisify(execFile)(k.bin.helm, ['package', fixtureChart, '--destination', dir]);
    await writeFile(join(dir, 'manifests.yaml'), teamType);
    await writeFile(join(dir, 'charts.yaml'), teamCharts);
    await writeFile(join(dir, 'broken.tgz'), Buffer.from([0x1f, 0x8b, 0xff, 0xfe, 0x00]));
    await bed().kubectl(host, 'create', 'namespace', 'vnest-system');
    await bed().kubectl(host, '-n', 'vnest-system', 'create', 'configmap', 'vnest-type-team', `--from-file=manifests.yaml=${join(dir, 'manifests.yaml')}`,
      `--from-file=charts.yaml=${join(dir, 'charts.yaml')}`, `--from-file=team-tools.tgz=${join(dir, 'team-tools-0.1.0.tgz')}`);
    await bed().kubectl(host, '-n', 'vnest-system', 'create', 'configmap', 'vnest-type-broken', `--from-file=charts.yaml=${join(dir, 'charts.yaml')}`, `--from-file=team-tools.tgz=${join(dir, 'broken.tgz')}`);
    expect(Object.keys((await bed().json<{ binaryData?: Record<string, string> }>(host, '-n', 'vnest-system', 'get', 'configmap', 'vnest-type-team')).binaryData ?? {})).toEqual(['team-tools.tgz']);

    const broken = await vnest('create', 'broken', '--type', 'broken', `--kubeconfig=${host}`);
    expect(broken.stderr).toContain('tenant type broken: charts.yaml entry 1 (tools): helm could not render chart team-tools.tgz');
    expect(broken.stderr).toContain('Fix ConfigMap vnest-system/vnest-type-broken.');
    expect(broken.code).toBe(8);
    expect((await runKubectl(k.bin.kubectl, host, ['get', 'namespace', 'broken'])).code).not.toBe(0);

    const created = await vnest('create', 'charted', '--type', 'team', `--kubeconfig=${host}`, '--set', 'storage.persistence=false', '--set', 'coredns.enabled=false', '--timeout=120');
    expect(created.code, created.stderr).toBe(0);
    // What the chart gives the tenant's syncer: its config file and the manifests it applies. c (a
    // process in this bed, inside b) is started with exactly these; this tenant is not needed more.
    const syncerConfig = (await bed().json<{ data: Record<string, string> }>(host, '-n', 'charted', 'get', 'configmap', 'vnest-charted-syncer')).data;
    const manifests = syncerConfig['bootstrap.yaml'] ?? '';
    bed().cType = manifests;
    // Creating it again is refused (nothing changes); upgrade changes it, keeping its other values.
    const again = await vnest('create', 'charted', `--kubeconfig=${host}`, '--set', 'syncer.logLevel=debug');
    expect(again.code).toBe(10);
    expect(again.stderr).toContain('tenant "charted" already exists in namespace "charted". Change it with "vnest upgrade charted"');
    const upgraded = await vnest('upgrade', 'charted', `--kubeconfig=${host}`, '--set', 'syncer.logLevel=debug', '--timeout=120');
    expect(upgraded.code, upgraded.stderr).toBe(0);
    const after = (await bed().json<{ data: Record<string, string> }>(host, '-n', 'charted', 'get', 'configmap', 'vnest-charted-syncer')).data;
    expect(after['config.yaml']).toContain('logLevel: "debug"');
    expect(after['bootstrap.yaml']).toBe(manifests);
    const missing = await vnest('upgrade', 'no-such', `--kubeconfig=${host}`);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain('no tenant "no-such" in namespace "no-such"');
    expect(await bed().kubectl(host, 'get', 'namespace', 'charted', '-o', 'jsonpath={.metadata.annotations.vnest\\.dev/created-for}')).toBe('charted');
    const deleted = await vnest('delete', 'charted', `--kubeconfig=${host}`);
    expect(deleted.code, deleted.stderr).toBe(0);
    // The namespace create made for it goes with it.
    expect(deleted.stdout).toContain('namespace charted deleted');
    await eventually('namespace charted gone', async () => (await runKubectl(k.bin.kubectl, host, ['get', 'namespace', 'charted'])).code !== 0);

    expect(created.stderr).toContain('tenant type team: 18 object(s) to apply inside the tenant');
    expect(syncerConfig['config.yaml']).toContain('type: "team"');
    expect(syncerConfig['config.yaml']).toContain('bootstrapManifests: /etc/vnest/bootstrap.yaml');
    const objects = parseAllDocuments(manifests).map((d) => d.toJS() as Json & { kind: string } | null).filter((o) => o !== null);
    expect(objects.map((o) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort()).toEqual([
      'Budget team-apps/default', 'ClusterRole default/extras-gadget-viewer', 'ClusterRole tools/tools-gadget-viewer', 'ConfigMap default/extras-installed', 'ConfigMap default/extras-settings',
      'ConfigMap tools/tools-installed', 'ConfigMap tools/tools-settings', 'CustomResourceDefinition /budgets.tenant.example', 'CustomResourceDefinition default/gadgets.tools.example',
      'CustomResourceDefinition tools/gadgets.tools.example', 'Gadget default/extras-default', 'Gadget tools/tools-default', 'Namespace /team-apps', 'Namespace /tools',
      'ResourceQuota team-apps/team-quota', 'Role default/extras-reader', 'Role team-apps/team-reader', 'Role tools/tools-reader',
    ]);
  });

  it('installs each tenant inside its parent, its syncer using the parent\'s API with the chart\'s Role only', async () => {
    await bed().kubectl(bed().host.kubeconfigPath, '-n', 'kube-public', 'create', 'configmap', 'vnest-info', `--from-literal=domain=${rootDomain}`);
    for (const t of tree) await bed().install(t.tenant);
    for (const t of tree) expect(await bed().kubectl(admin(t.tenant), 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}')).toBe('vnest-admin');
  });

  it('routes a child\'s Service in its parent to the child\'s control-plane pod on the host', async () => {
    // b's control plane as the chart runs it in a: a pod labelled vnest.dev/control-plane=b, which
    // b's owner Service selects. (Here b's control plane is a process; this pod stands in for it.)
    await eventually('the default ServiceAccount in a/team-b', async () => (await runKubectl((await kit()).bin.kubectl, admin('a'), ['-n', 'team-b', 'get', 'sa', 'default'])).code === 0);
    await kubectlOk((await kit()).bin.kubectl, admin('a'), ['apply', '-f', '-'], { input: JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'b-0', namespace: 'team-b', labels: { 'vnest.dev/control-plane': 'b' } },
      spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
    }) });
    const hostPod = hostName('b-0', 'team-b', 'a');
    const ip = await eventually('b-0 running on the host', async () => {
      const p = await bed().json<PodJson>(bed().host.kubeconfigPath, '-n', 'tenants', 'get', 'pod', hostPod).catch(() => undefined);
      return p?.status.phase === 'Running' && p.status.podIP ? p.status.podIP : undefined;
    });
    // The copy of b's Service on the host has that pod as its endpoint, and no other pod of a.
    const service = hostName('b', 'team-b', 'a');
    await eventually('the endpoint of b\'s Service on the host', async () => {
      const slices = await bed().json<List<{ endpoints?: Array<{ addresses: string[] }> }>>(bed().host.kubeconfigPath, '-n', 'tenants', 'get', 'endpointslices', '-l', `kubernetes.io/service-name=${service}`);
      return JSON.stringify(slices.items.flatMap((e) => e.endpoints ?? []).flatMap((e) => e.addresses)) === JSON.stringify([ip]);
    });
    const hostLabels = (await bed().json<PodJson>(bed().host.kubeconfigPath, '-n', 'tenants', 'get', 'pod', hostPod)).metadata.labels ?? {};
    // The control-plane key itself is never copied: a's pods cannot be selected by the host's own Services for a.
    expect(hostLabels['vnest.dev/control-plane']).toBeUndefined();
    expect(hostLabels['vnest.dev/nested-control-plane']).toBe('b');
  });

  it('gives each tenant a domain under its parent\'s, published in its cluster for its children', async () => {
    const domain = async (kubeconfig: string) => bed().kubectl(kubeconfig, '-n', 'kube-public', 'get', 'configmap', 'vnest-info', '-o', 'jsonpath={.data.domain}');
    expect(await domain(admin('a'))).toBe('a.example.org');
    expect(await domain(admin('b'))).toBe('b.a.example.org');
    expect(await domain(admin('c'))).toBe('c.b.a.example.org');
  });

  it('applies a tenant type\'s objects and charts inside the new tenant, CRDs and namespaces first, and reports it', async () => {
    const info = await eventually('the type applied in c', async () => {
      const data = (await bed().json<{ data: Record<string, string> }>(admin('c'), '-n', 'kube-public', 'get', 'configmap', 'vnest-info')).data;
      return data.bootstrap?.startsWith('applied') ? data : undefined;
    });
    expect(info).toMatchObject({ tenant: 'c', type: 'team', bootstrap: 'applied 18 object(s)' });
    expect(await bed().kubectl(admin('c'), 'get', 'namespace', 'team-apps', '-o', 'jsonpath={.metadata.labels.team}')).toBe('yes');
    expect(await bed().kubectl(admin('c'), '-n', 'team-apps', 'get', 'resourcequota', 'team-quota', '-o', 'jsonpath={.spec.hard.pods}')).toBe('20');
    expect(await bed().kubectl(admin('c'), '-n', 'team-apps', 'get', 'role', 'team-reader', '-o', 'name')).toBe('role.rbac.authorization.k8s.io/team-reader\n');
    expect(await bed().kubectl(admin('c'), '-n', 'team-apps', 'get', 'budgets.tenant.example', 'default', '-o', 'jsonpath={.spec.limit}')).toBe('5');
    // The charts' objects, each release in its namespace with its values; the cluster-scoped ones
    // in none; the post-install hook like any object; the test hook not at all.
    expect(await bed().kubectl(admin('c'), 'get', 'namespace', 'tools', '-o', 'name')).toBe('namespace/tools\n');
    expect(await bed().kubectl(admin('c'), '-n', 'tools', 'get', 'configmap', 'tools-settings', '-o', 'jsonpath={.data.greeting}')).toBe('hi');
    expect(await bed().kubectl(admin('c'), '-n', 'default', 'get', 'configmap', 'extras-settings', '-o', 'jsonpath={.data.greeting}')).toBe('hello');
    expect(await bed().kubectl(admin('c'), '-n', 'tools', 'get', 'role', 'tools-reader', '-o', 'jsonpath={.rules[0].resources}')).toBe('["configmaps","secrets"]');
    expect(await bed().kubectl(admin('c'), '-n', 'default', 'get', 'role', 'extras-reader', '-o', 'jsonpath={.rules[0].resources}')).toBe('["configmaps"]');
    for (const release of ['tools', 'extras']) {
      expect(await bed().kubectl(admin('c'), 'get', 'clusterrole', `${release}-gadget-viewer`, '-o', 'jsonpath={.rules[0].resources}')).toBe('["gadgets"]');
      expect(await bed().kubectl(admin('c'), '-n', release === 'tools' ? 'tools' : 'default', 'get', 'gadgets.tools.example', `${release}-default`, '-o', 'jsonpath={.spec.size}')).toBe('3');
    }
    expect(await bed().kubectl(admin('c'), '-n', 'tools', 'get', 'configmap', 'tools-installed', '-o', 'jsonpath={.data.by}')).toBe('hook');
    expect((await bed().json<List<Json>>(admin('c'), 'get', 'pods', '-A')).items.map((p) => p.metadata.name)).not.toContain('tools-test');
    // Tenants made without a type get nothing of it.
    expect((await runKubectl((await kit()).bin.kubectl, admin('b'), ['get', 'namespace', 'team-apps'])).code).not.toBe(0);
  });

  it('vnest create --type names a type the platform team defined, or says which there are', async () => {
    const res = await vnest('create', 'typed', '--type', 'nope', `--kubeconfig=${bed().host.kubeconfigPath}`);
    expect(res.code).toBe(8);
    expect(res.stderr).toContain('no tenant type "nope" on this cluster (types: broken, team)');
    // Nothing was installed.
    expect((await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['get', 'namespace', 'typed'])).code).not.toBe(0);
  });

  it('vnest list --tree shows each kubeconfig the tenants below its cluster, and nothing above', async () => {
    const tree = async (kubeconfig: string) => {
      const res = await vnest('list', '--tree', '-o', 'json', `--kubeconfig=${kubeconfig}`);
      expect(res.code, res.stderr).toBe(0);
      return JSON.parse(res.stdout) as unknown;
    };
    const node = (name: string, namespace: string, domain: string, parent: string | null, children: unknown[]) =>
      expect.objectContaining({ name, namespace, domain, parent, children, status: 'Unknown' });
    const c = node('c', 'team-c', 'c.b.a.example.org', 'team-b/b', []);
    const b = node('b', 'team-b', 'b.a.example.org', 'tenants/a', [c]);
    expect(await tree(bed().host.kubeconfigPath)).toEqual([node('a', 'tenants', 'a.example.org', null, [b])]);
    expect(await tree(admin('b'))).toEqual([node('c', 'team-c', 'c.b.a.example.org', null, [])]);
    expect(await tree(admin('c'))).toEqual([]);
    const table = await vnest('list', '--tree', `--kubeconfig=${bed().host.kubeconfigPath}`);
    expect(table.stdout).toMatch(/^NAME\s+NAMESPACE\s+STATUS\s+DOMAIN\s+AGE.*\n^a\s+tenants\s.*a\.example\.org.*\n^└─ b\s+team-b\s.*\n^ {3}└─ c\s+team-c\s.*c\.b\.a\.example\.org.*\n$/m);
  });

  it('runs a pod made in the leaf tenant on the host, with names, marks and status right at every level', async () => {
    await bed().kubectl(admin('c'), 'create', 'namespace', 'apps');
    await eventually('the default ServiceAccount in c', async () => (await runKubectl((await kit()).bin.kubectl, admin('c'), ['-n', 'apps', 'get', 'sa', 'default'])).code === 0);
    const long = 'a-pod-whose-name-is-long-enough-to-need-hashing';
    for (const pod of ['leaf', long]) await bed().kubectl(admin('c'), '-n', 'apps', 'run', pod, '--image=registry.k8s.io/pause:3.10', '--restart=Never');
    for (const pod of ['leaf', long]) {
      const { inB, inA, inHost } = namesOf(pod);
      for (const n of [inB, inA, inHost]) expect(n.length, n).toBeLessThanOrEqual(63);
      const leaf = await eventually(`${pod} Running in c`, async () => {
        const p = await bed().json<PodJson>(admin('c'), '-n', 'apps', 'get', 'pod', pod);
        return p.status.phase === 'Running' && p.status.podIP ? p : undefined;
      });
      const hostPod = await bed().json<PodJson>(bed().host.kubeconfigPath, '-n', 'tenants', 'get', 'pod', inHost);
      expect(hostPod.status.phase).toBe('Running');
      expect(leaf.status.podIP).toBe(hostPod.status.podIP);
      expect(leaf.spec.nodeName).toBe(hostPod.spec.nodeName);
      // Each level's copy carries that level's syncer's marks and names its own virtual object.
      const copies: Array<[string, string, string, string, string]> = [
        [admin('b'), 'team-c', inB, 'c', `apps/${pod}`],
        [admin('a'), 'team-b', inA, 'b', `team-c/${inB}`],
        [bed().host.kubeconfigPath, 'tenants', inHost, 'a', `team-b/${inA}`],
      ];
      for (const [kubeconfig, ns, name, tenant, source] of copies) {
        const copy = await eventually(`${ns}/${name} Running`, async () => {
          const p = await bed().json<PodJson>(kubeconfig, '-n', ns, 'get', 'pod', name);
          return p.status.phase === 'Running' ? p : undefined;
        });
        expect(copy.metadata.labels?.['vnest.dev/tenant'], name).toBe(tenant);
        const ann = copy.metadata.annotations ?? {};
        expect(`${ann['vnest.dev/object-namespace']}/${ann['vnest.dev/object-name']}`, name).toBe(source);
        expect(copy.status.podIP, name).toBe(hostPod.status.podIP);
      }
    }
    // Logs reach the host pod through every front door on the way.
    expect(await bed().kubectl(admin('c'), '-n', 'apps', 'logs', 'leaf')).toBe(logLine);
  });

  it('syncs an Ingress whose hosts lie in the tenant\'s domain through every level, and refuses names outside it', async () => {
    const apply = async (obj: unknown) => kubectlOk((await kit()).bin.kubectl, admin('c'), ['apply', '-f', '-'], { input: JSON.stringify(obj) });
    const ingress = (name: string, host: string | undefined, extra: Record<string, unknown> = {}) => ({
      apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace: 'apps' },
      spec: { rules: [{ ...(host ? { host } : {}), http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }], ...extra },
    });
    await bed().kubectl(admin('c'), '-n', 'apps', 'create', 'service', 'clusterip', 'web', '--tcp=80:80');
    await bed().kubectl(admin('c'), '-n', 'apps', 'create', 'secret', 'generic', 'site-cert', '--from-literal=tls.crt=cert', '--from-literal=tls.key=key');
    await apply(ingress('site', 'www.c.b.a.example.org', { tls: [{ hosts: ['www.c.b.a.example.org'], secretName: 'site-cert' }] }));
    // Its parent's name, a sibling's, one outside the tree, and every name at once.
    const refused: Array<[string, string | undefined]> = [['parent', 'www.b.a.example.org'], ['sibling', 'www.d.b.a.example.org'], ['outside', 'example.com'], ['catch-all', undefined]];
    for (const [name, host] of refused) await apply(ingress(name, host));

    const up = (name: string) => hostName(hostName(hostName(name, 'apps', 'c'), 'team-c', 'b'), 'team-b', 'a');
    type IngressJson = Json & { spec: { rules: Array<{ host: string; http: { paths: Array<{ backend: { service: { name: string } } }> } }>; tls: Array<{ secretName: string }> } };
    const copy = await eventually('the Ingress on the host', async () => {
      const res = await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['-n', 'tenants', 'get', 'ingress', up('site'), '-o', 'json']);
      return res.code === 0 ? JSON.parse(res.stdout) as IngressJson : undefined;
    });
    expect(copy.spec.rules[0]?.host).toBe('www.c.b.a.example.org');
    expect(copy.spec.rules[0]?.http.paths[0]?.backend.service.name).toBe(up('web'));
    expect(copy.spec.tls[0]?.secretName).toBe(up('site-cert'));
    const cert = await eventually('the TLS Secret on the host', async () => {
      const res = await runKubectl((await kit()).bin.kubectl, bed().host.kubeconfigPath, ['-n', 'tenants', 'get', 'secret', up('site-cert'), '-o', 'jsonpath={.data.tls\\.crt}']);
      return res.code === 0 && res.stdout ? res.stdout : undefined;
    });
    expect(Buffer.from(cert, 'base64').toString()).toBe('cert');
    expect(await bed().kubectl(bed().host.kubeconfigPath, '-n', 'tenants', 'get', 'service', up('web'), '-o', 'name')).toBe(`service/${up('web')}\n`);

    for (const [name] of refused) {
      const event = await eventually(`a SyncRefused Event on Ingress ${name}`, async () => (await bed().json<List<Json & { involvedObject: { name: string }; reason: string; message: string }>>(admin('c'), '-n', 'apps', 'get', 'events')).items
        .find((e) => e.involvedObject.name === name && e.reason === 'SyncRefused'));
      expect(event.message).toMatch(name === 'catch-all' ? /without a host/ : /not in the tenant's domain c\.b\.a\.example\.org/);
      // Not even the first level up got a copy.
      expect((await runKubectl((await kit()).bin.kubectl, admin('b'), ['-n', 'team-c', 'get', 'ingress', hostName(name, 'apps', 'c')])).code).not.toBe(0);
    }
  });

  it('shares a host Service only with the tenants its provider names, their children too unless it says not', async () => {
    const host = bed().host.kubeconfigPath;
    const svc = (name: string, shareWith: string, subtree = true) => ({
      apiVersion: 'v1', kind: 'Service', metadata: {
        name, namespace: 'infra', labels: { 'vnest.dev/shared': 'true' },
        annotations: { 'vnest.dev/share-with': shareWith, ...(subtree ? {} : { 'vnest.dev/share-subtree': 'false' }) },
      },
      spec: { selector: { app: name }, ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] },
    });
    await bed().kubectl(host, 'create', 'namespace', 'infra');
    const apply = async (obj: unknown) => kubectlOk((await kit()).bin.kubectl, host, ['apply', '-f', '-'], { input: JSON.stringify(obj) });
    await apply(svc('dns', 'tenants/a'));
    await apply(svc('private', 'a', false));
    await apply(svc('elsewhere', 'other'));
    // Not labelled as shared: an annotation alone shares nothing.
    await apply({ ...svc('unlabelled', '*'), metadata: { ...svc('unlabelled', '*').metadata, labels: {} } });
    const ip = (name: string) => bed().kubectl(host, '-n', 'infra', 'get', 'service', name, '-o', 'jsonpath={.spec.clusterIP}');
    const shared = async (kubeconfig: string) => Object.fromEntries((await bed().json<List<Json & { spec: { clusterIP: string } }>>(kubeconfig, '-n', 'vnest-shared', 'get', 'services')).items
      .map((s) => [s.metadata.name, s.spec.clusterIP]));
    const dns = await ip('dns');
    const expected: Record<Name, Record<string, string>> = { a: { 'infra-dns': dns, 'infra-private': await ip('private') }, b: { 'infra-dns': dns }, c: { 'infra-dns': dns } };
    for (const t of ['a', 'b', 'c'] as const) {
      await eventually(`the shared Services in ${t}`, async () => JSON.stringify(await shared(admin(t)).catch(() => ({}))) === JSON.stringify(expected[t]));
    }
    // The tenant cannot change them, nor put anything beside them.
    for (const args of [['-n', 'vnest-shared', 'delete', 'service', 'infra-dns'], ['-n', 'vnest-shared', 'create', 'configmap', 'x'], ['delete', 'namespace', 'vnest-shared'], ['label', 'namespace', 'vnest-shared', 'x=y']]) {
      const res = await runKubectl((await kit()).bin.kubectl, admin('a'), args);
      expect(res.code, args.join(' ')).not.toBe(0);
      expect(res.stderr, args.join(' ')).toMatch(/Forbidden|forbidden/);
    }
    expect(await shared(admin('a'))).toEqual(expected.a);
    // Withdrawn by the provider: gone at every level.
    await bed().kubectl(host, '-n', 'infra', 'annotate', 'service', 'dns', 'vnest.dev/share-with=other', '--overwrite');
    for (const t of ['a', 'b', 'c'] as const) {
      await eventually(`dns withdrawn from ${t}`, async () => !('infra-dns' in await shared(admin(t))));
    }
  });

  it('lets a parent\'s admin get a child\'s kubeconfig and manage its workloads', async () => {
    // b's kubeconfig, as a's admin reads it from a (where b's syncer exported it).
    const exported = await bed().kubectl(admin('a'), '-n', 'team-b', 'get', 'secret', 'b-kubeconfig', '-o', 'jsonpath={.data.config}');
    const path = join(bed().host.controlPlane.dir, 'b-from-a.kubeconfig');
    await writeFile(path, Buffer.from(exported, 'base64'), { mode: 0o600 });
    await bed().kubectl(path, 'create', 'namespace', 'ops');
    await eventually('the default ServiceAccount in b/ops', async () => (await runKubectl((await kit()).bin.kubectl, path, ['-n', 'ops', 'get', 'sa', 'default'])).code === 0);
    await bed().kubectl(path, '-n', 'ops', 'run', 'tool', '--image=registry.k8s.io/pause:3.10', '--restart=Never');
    await eventually('b/ops/tool Running', async () => (await bed().json<PodJson>(path, '-n', 'ops', 'get', 'pod', 'tool')).status.phase === 'Running');
    expect((await bed().json<PodJson>(bed().host.kubeconfigPath, '-n', 'tenants', 'get', 'pod', hostName(hostName('tool', 'ops', 'b'), 'team-b', 'a'))).status.phase).toBe('Running');
  });

  it('shows a child\'s admin nothing of its parent or the host', async () => {
    const namespaces = (await bed().json<List<Json>>(admin('b'), 'get', 'namespaces')).items.map((n) => n.metadata.name);
    expect(namespaces).toContain('team-c');
    expect(namespaces).not.toContain('team-b');
    expect(namespaces).not.toContain('tenants');
    // Nothing of a's copies is visible in b: only b's own pods and c's copies.
    const pods = (await bed().json<List<PodJson>>(admin('b'), 'get', 'pods', '-A')).items;
    expect(pods.every((p) => p.metadata.labels?.['vnest.dev/tenant'] !== 'b')).toBe(true);
    const secrets = (await bed().json<List<Json>>(admin('c'), 'get', 'secrets', '-A')).items.map((s) => s.metadata.name);
    expect(secrets.some((s) => s.endsWith('-kubeconfig') || s.endsWith('-certs'))).toBe(false);
  });

  it('removes everything of the middle tenant at every level when it is deleted', async () => {
    // What uninstalling b from a does: b's control plane and syncer end (and c with them, which
    // lived in b), and b's owner Service goes, which owns every copy b's syncer made in a.
    await bed().stopTenant('c');
    await bed().stopTenant('b');
    await bed().kubectl(bed().parentKubeconfig('b'), '-n', 'team-b', 'delete', 'service', 'b', '--wait=false');
    await bed().kubectl(bed().parentKubeconfig('b'), '-n', 'team-b', 'delete', 'pod', 'b-0', '--wait=false');
    const kinds = 'pods,secrets,configmaps,services,persistentvolumeclaims,ingresses.networking.k8s.io';
    await eventually('nothing of b left in a', async () => (await bed().json<List<Json>>(admin('a'), '-n', 'team-b', 'get', kinds, '-l', 'vnest.dev/tenant=b')).items.length === 0, 120_000);
    await eventually('nothing of b left on the host', async () => {
      const left = (await bed().json<List<Json>>(bed().host.kubeconfigPath, '-n', 'tenants', 'get', kinds, '-l', 'vnest.dev/tenant=a')).items
        .filter((o) => o.metadata.annotations?.['vnest.dev/object-namespace'] === 'team-b');
      return left.length === 0;
    }, 120_000);
    // a itself keeps running.
    expect(await bed().kubectl(admin('a'), 'get', 'namespace', 'team-b', '-o', 'name')).toBe('namespace/team-b\n');
  });
});
