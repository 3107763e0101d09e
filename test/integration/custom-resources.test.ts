// Custom resource sync against real components: the wasmCloud profile (with a stand-in operator on
// the host) and an unrelated CRD configured alone. No real wasmCloud operator runs here.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKubectl } from '../../src/local/kubectl.ts';
import { CustomResourceConfigError } from '../../src/syncer/custom/discovery.ts';
import { hostName } from '../../src/translate/names.ts';
import { kit, useEnvironment } from '../helpers.ts';
import { eventually, hostNamespace, TenantBed, type List } from '../tenant-bed.ts';
import { FakeWasmcloudOperator } from '../wasmcloud-operator.ts';

const tenant = 'wasm';
const fixtures = join(import.meta.dirname, '..', 'fixtures', 'crds');
const h = (name: string) => hostName(name, 'apps', tenant);

interface Obj {
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; uid: string };
  spec: any;
  status?: any;
}

const widgetConfig = [{
  apiVersion: 'example.com/v1', kind: 'Widget', direction: 'toHost', selector: 'sync!=off',
  references: [{ path: 'spec.secretRef.name', kind: 'Secret' }],
}];

describe('custom resources', () => {
  const env = useEnvironment(() => TenantBed.start([tenant]));
  const bed = () => env.current;
  let operator: FakeWasmcloudOperator | undefined;
  const apply = async (kubeconfig: string, manifest: unknown) => {
    const res = await runKubectl((await kit()).bin.kubectl, kubeconfig, ['apply', '-f', '-'], { input: JSON.stringify(manifest) });
    expect(res.stderr).toBe('');
  };
  const tenantApply = (m: unknown) => apply(bed().virtual(tenant).kubeconfigPath, m);
  const hostGet = (kind: string, name: string, ns: string | undefined = hostNamespace) =>
    bed().hostJson<Obj>(...(ns ? ['-n', ns] : []), 'get', kind, name).catch(() => undefined);
  const tenantGet = (kind: string, name: string, ns: string | undefined = 'apps') =>
    bed().virtualJson<Obj>(tenant, ...(ns ? ['-n', ns] : []), 'get', kind, name).catch(() => undefined);

  beforeAll(async () => {
    await bed().hostKubectl('apply', '-f', join(fixtures, 'wasmcloud.yaml'), '-f', join(fixtures, 'widget.yaml'));
    await bed().hostKubectl('wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s');
    // What the host offers tenants: wasmCloud hosts in the tenant's host namespace, a host group.
    await apply(bed().host.kubeconfigPath, { apiVersion: 'runtime.wasmcloud.dev/v1alpha1', kind: 'Host', metadata: { name: 'host-sample', namespace: hostNamespace, labels: { hostgroup: 'default' } }, spec: { hostId: 'NABCDEFGHIJKLMNOPQRSTUVWXYZ234567', hostname: 'host-sample.default', httpPort: 4000 } });
    await apply(bed().host.kubeconfigPath, { apiVersion: 'k8s.cosmonic.io/v1alpha1', kind: 'HostGroup', metadata: { name: 'default' }, spec: { replicas: 1 } });
    operator = await FakeWasmcloudOperator.start(bed().host.kubeconfigPath, hostNamespace);
  });
  afterAll(async () => {
    await operator?.stop();
  });

  it('refuses at start a kind the host does not serve, and a reference path the schema lacks', async () => {
    let err: unknown;
    try {
      await bed().startSyncer(tenant, {
        customResources: JSON.stringify([
          { apiVersion: 'example.com/v1', kind: 'Gadget', direction: 'toHost' },
          { apiVersion: 'example.com/v1', kind: 'Widget', direction: 'toHost', references: [{ path: 'spec.secretRef.nmae', kind: 'Secret' }] },
        ]),
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CustomResourceConfigError);
    expect((err as CustomResourceConfigError).problems).toEqual([
      expect.stringContaining('the host serves no Gadget in example.com'),
      'Widget reference spec.secretRef.nmae: the schema has no field spec.secretRef.nmae',
    ]);
  });

  it('copies the CRDs into the tenant once the syncer runs with the wasmCloud profile and a configured kind', async () => {
    await bed().startSyncer(tenant, { profile: 'wasmcloud', customResources: JSON.stringify(widgetConfig) });
    const crds = (await bed().virtualJson<List<Obj>>(tenant, 'get', 'crds')).items.map((c) => c.metadata.name).sort();
    expect(crds).toEqual([
      'artifacts.runtime.wasmcloud.dev', 'hostgroups.k8s.cosmonic.io', 'hosts.runtime.wasmcloud.dev', 'widgets.example.com',
      'workloaddeployments.runtime.wasmcloud.dev', 'workloadreplicasets.runtime.wasmcloud.dev', 'workloads.runtime.wasmcloud.dev',
    ]);
  });

  it('syncs the example manifests to the host with rewritten references, and brings status back', async () => {
    await bed().virtualKubectl(tenant, 'create', 'namespace', 'apps');
    await bed().virtualKubectl(tenant, '-n', 'apps', 'create', 'secret', 'docker-registry', 'ghcr-secret', '--docker-server=ghcr.io', '--docker-username=u', '--docker-password=p');
    await bed().virtualKubectl(tenant, '-n', 'apps', 'create', 'configmap', 'app-config', '--from-literal=LOG_LEVEL=debug');
    await tenantApply({ apiVersion: 'runtime.wasmcloud.dev/v1alpha1', kind: 'Artifact', metadata: { name: 'http-hello-world', namespace: 'apps' }, spec: { image: 'ghcr.io/wasmcloud/components/http-hello-world-rust:0.1.0', imagePullSecret: { name: 'ghcr-secret' } } });
    const template = {
      metadata: { labels: { app: 'hello-world' } },
      spec: {
        hostSelector: { hostgroup: 'default' },
        components: [{ name: 'http-component', image: 'ghcr.io/wasmcloud/components/http-hello-world-rust:0.1.0', poolSize: 10, imagePullSecret: { name: 'ghcr-secret' }, localResources: { environment: { configFrom: [{ name: 'app-config' }] } } }],
        hostInterfaces: [{ namespace: 'wasi', package: 'http', interfaces: ['incoming-handler'], config: { address: '0.0.0.0:8080' } }],
      },
    };
    await tenantApply({ apiVersion: 'runtime.wasmcloud.dev/v1alpha1', kind: 'WorkloadDeployment', metadata: { name: 'hello-world', namespace: 'apps' }, spec: { replicas: 3, deployPolicy: 'RollingUpdate', artifacts: [{ name: 'http-component', artifactFrom: { name: 'http-hello-world' } }], template } });
    await tenantApply({ apiVersion: 'runtime.wasmcloud.dev/v1alpha1', kind: 'Workload', metadata: { name: 'hello-world', namespace: 'apps' }, spec: { ...template.spec, volumes: [{ name: 'cache', ephemeral: {} }, { name: 'creds', secret: { name: 'ghcr-secret' } }] } });

    const artifact = await eventually('host Artifact', () => hostGet('artifacts.runtime.wasmcloud.dev', h('http-hello-world')));
    expect(artifact.spec.imagePullSecret.name).toBe(h('ghcr-secret'));
    expect(artifact.metadata.labels?.['vnest.dev/tenant']).toBe(tenant);
    const wd = await eventually('host WorkloadDeployment', () => hostGet('workloaddeployments.runtime.wasmcloud.dev', h('hello-world')));
    expect(wd.spec.artifacts[0].artifactFrom.name).toBe(h('http-hello-world'));
    expect(wd.spec.template.spec.components[0].localResources.environment.configFrom[0].name).toBe(h('app-config'));
    expect(wd.spec.template.spec.hostSelector).toEqual({ hostgroup: 'default' });
    expect(wd.spec.template.spec.components[0].imagePullSecret.name).toBe(h('ghcr-secret'));
    const w = await eventually('host Workload', () => hostGet('workloads.runtime.wasmcloud.dev', h('hello-world')));
    expect(w.spec.components[0].imagePullSecret.name).toBe(h('ghcr-secret'));
    expect(w.spec.volumes).toEqual([{ name: 'cache', ephemeral: {} }, { name: 'creds', secret: { name: h('ghcr-secret') } }]);
    // What they reference is on the host too.
    await eventually('referenced secret and configmap on the host', async () => Boolean((await hostGet('secret', h('ghcr-secret'))) && (await hostGet('configmap', h('app-config')))));

    // The stand-in operator acts on the host copies; the tenant sees the result.
    const vw = await eventually('Workload Ready in the tenant', async () => {
      const o = await tenantGet('workloads.runtime.wasmcloud.dev', 'hello-world');
      return o?.status?.phase === 'Ready' ? o : undefined;
    });
    expect(vw.status.conditions[0]).toMatchObject({ type: 'Ready', status: 'True' });
    await eventually('WorkloadDeployment ready replicas in the tenant', async () => (await tenantGet('workloaddeployments.runtime.wasmcloud.dev', 'hello-world'))?.status?.readyReplicas === 3);
  });

  it('passes spec changes to the host, and deletes the host copy when the tenant deletes', async () => {
    await bed().virtualKubectl(tenant, '-n', 'apps', 'patch', 'workloaddeployments.runtime.wasmcloud.dev', 'hello-world', '--type=merge', '-p', '{"spec":{"replicas":5}}');
    await eventually('host replicas 5', async () => (await hostGet('workloaddeployments.runtime.wasmcloud.dev', h('hello-world')))?.spec.replicas === 5);
    await bed().virtualKubectl(tenant, '-n', 'apps', 'delete', 'workloads.runtime.wasmcloud.dev', 'hello-world');
    await eventually('host Workload gone', async () => (await hostGet('workloads.runtime.wasmcloud.dev', h('hello-world'))) === undefined);
  });

  it('shows the host\'s Hosts and HostGroups read-only, reverting tenant edits', async () => {
    const host = await eventually('Host in the tenant', () => tenantGet('hosts.runtime.wasmcloud.dev', 'host-sample', 'vnest-host'));
    expect(host.spec).toEqual({ hostId: 'NABCDEFGHIJKLMNOPQRSTUVWXYZ234567', hostname: 'host-sample.default', httpPort: 4000 });
    expect(host.metadata.labels?.hostgroup).toBe('default');
    await eventually('HostGroup in the tenant', () => tenantGet('hostgroups.k8s.cosmonic.io', 'default', undefined));
    await bed().virtualKubectl(tenant, '-n', 'vnest-host', 'patch', 'hosts.runtime.wasmcloud.dev', 'host-sample', '--type=merge', '-p', '{"spec":{"httpPort":9999}}');
    await eventually('tenant edit reverted', async () => (await tenantGet('hosts.runtime.wasmcloud.dev', 'host-sample', 'vnest-host'))?.spec.httpPort === 4000);
    await bed().hostKubectl('-n', hostNamespace, 'delete', 'hosts.runtime.wasmcloud.dev', 'host-sample');
    await eventually('Host gone from the tenant', async () => (await tenantGet('hosts.runtime.wasmcloud.dev', 'host-sample', 'vnest-host')) === undefined);
  });

  it('syncs an unrelated CRD configured alone, honouring its selector', async () => {
    await bed().virtualKubectl(tenant, '-n', 'apps', 'create', 'secret', 'generic', 'widget-key', '--from-literal=k=v');
    await tenantApply({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w1', namespace: 'apps' }, spec: { size: 3, secretRef: { name: 'widget-key' } } });
    await tenantApply({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w2', namespace: 'apps', labels: { sync: 'off' } }, spec: { size: 1 } });
    const w1 = await eventually('host Widget', () => hostGet('widgets.example.com', h('w1')));
    expect(w1.spec).toEqual({ size: 3, secretRef: { name: h('widget-key') } });
    await bed().hostKubectl('-n', hostNamespace, 'patch', 'widgets.example.com', h('w1'), '--subresource=status', '--type=merge', '-p', '{"status":{"ready":true}}');
    await eventually('Widget status in the tenant', async () => (await tenantGet('widgets.example.com', 'w1'))?.status?.ready === true);
    await sleep(1000);
    expect(await hostGet('widgets.example.com', h('w2'))).toBeUndefined();
  });
});
