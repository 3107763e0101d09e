// The virtual control plane is metadata-only: controllers run, nothing schedules or runs a pod.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startVirtualControlPlane } from '../../src/local/host-cluster.ts';
import { kubectlOk } from '../../src/local/kubectl.ts';
import { waitFor } from '../../src/local/wait.ts';
import { serviceSpecShape } from '../../src/syncer/resources/services.ts';
import { claimSpecShape } from '../../src/translate/claims.ts';
import { podSpecShape } from '../../src/translate/pods.ts';
import { project, type Rule, type Shape } from '../../src/translate/shape.ts';
import { kit, ports, useEnvironment } from '../helpers.ts';

interface PodList {
  items: Array<{ metadata: { name: string; ownerReferences?: Array<{ kind: string }> }; spec: { nodeName?: string }; status: { phase?: string } }>;
}

describe('virtual control plane', () => {
  const env = useEnvironment(async () => startVirtualControlPlane({ kit: await kit(), ports }));
  const kubectl = async (...args: string[]) => kubectlOk((await kit()).bin.kubectl, env.current.kubeconfigPath, args);

  it('reports the pinned Kubernetes version', async () => {
    const out = JSON.parse(await kubectl('version', '-o', 'json')) as { serverVersion: { gitVersion: string } };
    expect(out.serverVersion.gitVersion).toBe((await kit()).versions.kubernetes);
  });

  it('turns a Deployment into a ReplicaSet and Pods that stay Pending with no node', async () => {
    await kubectl('create', 'deployment', 'web', '--image=registry.k8s.io/pause:3.10', '--replicas=2');
    const pods = await waitFor('two pods of deployment web', async () => {
      const list = JSON.parse(await kubectl('get', 'pods', '-l', 'app=web', '-o', 'json')) as PodList;
      return list.items.length === 2 ? list : undefined;
    }, { timeoutMs: 60_000 });
    const rs = JSON.parse(await kubectl('get', 'replicasets', '-l', 'app=web', '-o', 'json')) as { items: unknown[] };
    expect(rs.items).toHaveLength(1);
    for (const pod of pods.items) expect(pod.metadata.ownerReferences?.[0]?.kind).toBe('ReplicaSet');

    // Give a scheduler, were there one, time to act; the pods must still be unbound.
    await sleep(3000);
    const later = JSON.parse(await kubectl('get', 'pods', '-l', 'app=web', '-o', 'json')) as PodList;
    expect(later.items).toHaveLength(2);
    for (const pod of later.items) {
      expect(pod.spec.nodeName).toBeUndefined();
      expect(pod.status.phase).toBe('Pending');
    }
    const nodes = JSON.parse(await kubectl('get', 'nodes', '-o', 'json')) as { items: unknown[] };
    expect(nodes.items).toHaveLength(0);
  });

  // The allow-lists against the pinned Kubernetes API's own schema: every field the API knows is
  // either named by vnest's shape (and copied only as the shape says) or refused. A Kubernetes
  // upgrade that adds a field makes this test fail until someone decides: allow it, or list it as
  // refused below.
  describe('allow-lists against the API schema', () => {
    const definitions: Array<[string, Rule, string]> = [
      ['PodSpec', podSpecShape, ''],
      ['Container', podSpecShape, 'containers[*]'],
      ['EphemeralContainer', podSpecShape, 'ephemeralContainers[*]'],
      ['Volume', podSpecShape, 'volumes[*]'],
      ['VolumeProjection', podSpecShape, 'volumes[*].projected.sources[*]'],
      ['SecurityContext', podSpecShape, 'containers[*].securityContext'],
      ['PodSecurityContext', podSpecShape, 'securityContext'],
      ['Probe', podSpecShape, 'containers[*].livenessProbe'],
      ['Lifecycle', podSpecShape, 'containers[*].lifecycle'],
      ['LifecycleHandler', podSpecShape, 'containers[*].lifecycle.postStart'],
      ['HTTPGetAction', podSpecShape, 'containers[*].livenessProbe.httpGet'],
      ['EnvVar', podSpecShape, 'containers[*].env[*]'],
      ['EnvVarSource', podSpecShape, 'containers[*].env[*].valueFrom'],
      ['ContainerPort', podSpecShape, 'containers[*].ports[*]'],
      ['Affinity', podSpecShape, 'affinity'],
      ['NodeAffinity', podSpecShape, 'affinity.nodeAffinity'],
      ['PodAffinityTerm', podSpecShape, 'affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[*]'],
      ['Toleration', podSpecShape, 'tolerations[*]'],
      ['TopologySpreadConstraint', podSpecShape, 'topologySpreadConstraints[*]'],
      ['CSIVolumeSource', podSpecShape, 'volumes[*].csi'],
      ['PersistentVolumeClaimSpec', claimSpecShape, ''],
      ['ServiceSpec', serviceSpecShape, ''],
      ['ServicePort', serviceSpecShape, 'ports[*]'],
    ];
    /** Fields the pinned API has that vnest refuses by leaving them off its shapes. */
    const refusedByOmission = [
      'Volume.awsElasticBlockStore', 'Volume.azureDisk', 'Volume.azureFile', 'Volume.cephfs', 'Volume.cinder', 'Volume.fc', 'Volume.flexVolume',
      'Volume.flocker', 'Volume.gcePersistentDisk', 'Volume.gitRepo', 'Volume.glusterfs', 'Volume.iscsi', 'Volume.nfs', 'Volume.photonPersistentDisk',
      'Volume.portworxVolume', 'Volume.quobyte', 'Volume.rbd', 'Volume.scaleIO', 'Volume.storageos', 'Volume.vsphereVolume',
    ];

    it('names every field the API knows, or refuses it', async () => {
      const raw = await kubectlOk((await kit()).bin.kubectl, env.current.kubeconfigPath, ['get', '--raw', '/openapi/v3/api/v1']);
      const schemas = (JSON.parse(raw) as { components: { schemas: Record<string, { properties?: Record<string, unknown> }> } }).components.schemas;
      const omitted: string[] = [];
      for (const [name, root, path] of definitions) {
        const properties = Object.keys(schemas[`io.k8s.api.core.v1.${name}`]?.properties ?? {});
        expect(properties.length, `${name} in the API schema`).toBeGreaterThan(0);
        const rule = ruleAt(root, path);
        expect(typeof rule === 'object' && !('list' in rule) && !('refuse' in rule), `${name} is a shape at ${path}`).toBe(true);
        const shape = rule as Shape;
        // Every field set: what comes out is only what the shape names.
        const out = { problems: [] as string[] };
        const result = project(Object.fromEntries(properties.map((p) => [p, { placeholder: true }])), shape, 'x', out) as Record<string, unknown>;
        for (const key of Object.keys(result)) expect(Object.hasOwn(shape, key), `${name}.${key} came out but is not on the shape`).toBe(true);
        for (const p of properties) {
          if (!Object.hasOwn(shape, p)) {
            omitted.push(`${name}.${p}`);
            expect(out.problems, `${name}.${p} is refused`).toContain(`x.${p} is not on vnest's allow-list of fields`);
          }
        }
      }
      expect(omitted.sort()).toEqual(refusedByOmission);
    });
  });
});

function ruleAt(root: Rule, path: string): Rule {
  let rule = root;
  for (const step of path.split('.').filter(Boolean)) {
    const [, field = '', lists = ''] = /^([^[]+)((?:\[\*\])*)$/.exec(step) ?? [];
    rule = (rule as Shape)[field] as Rule;
    for (let i = 0; i < lists.length / 3; i++) rule = (rule as { list: Rule }).list;
  }
  return rule;
}
