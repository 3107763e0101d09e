import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { formatReport, tenantReport } from './describe.ts';
import { diagnose, logProblems, type ClaimJson, type ContainerStatus, type EventJson, type PodJson, type StatefulSetJson, type TenantObjects } from './diagnose.ts';
import { decodeRelease, notReadyError, type TenantState } from './tenant-state.ts';

const now = Date.parse('2026-03-01T12:00:00Z');
const ago = (s: number) => new Date(now - s * 1000).toISOString();

function sts(over: Partial<StatefulSetJson['status']> = {}, replicas = 1): StatefulSetJson {
  return {
    metadata: { name: 't1', namespace: 'ns1', uid: 'sts-uid', generation: 2, labels: { 'app.kubernetes.io/name': 'vnest' } },
    spec: { replicas, template: { spec: { containers: [{ name: 'control-plane', image: 'rancher/k3s:v1' }, { name: 'syncer', image: 'vnest:1' }] } }, volumeClaimTemplates: [{ metadata: { name: 'data' } }] },
    status: { replicas: 1, readyReplicas: 0, observedGeneration: 2, currentRevision: 'r1', updateRevision: 'r1', ...over },
  };
}

const running = (name: string, ready: boolean, extra: Partial<ContainerStatus> = {}): ContainerStatus => ({ name, ready, restartCount: 0, image: `${name}:1`, state: { running: { startedAt: ago(60) } }, ...extra });

function pod(status: PodJson['status'], uid = 'pod-uid'): PodJson {
  return { metadata: { name: 't1-0', namespace: 'ns1', uid }, spec: { nodeName: 'n1', containers: [{ name: 'control-plane' }, { name: 'syncer' }] }, status };
}

const claim = (phase: string, storageClassName?: string): ClaimJson => ({
  metadata: { name: 'data-t1-0', namespace: 'ns1', uid: 'pvc-uid' },
  spec: { ...(storageClassName !== undefined ? { storageClassName } : {}), resources: { requests: { storage: '5Gi' } } },
  status: { phase },
});

function event(kind: string, name: string, reason: string, message: string, opts: { uid?: string; type?: string; at?: string; fieldPath?: string } = {}): EventJson {
  return {
    metadata: { name: `${name}.${reason}`, namespace: 'ns1' },
    involvedObject: { kind, name, ...(opts.uid ? { uid: opts.uid } : {}), ...(opts.fieldPath ? { fieldPath: opts.fieldPath } : {}) },
    reason, message, type: opts.type ?? 'Warning', lastTimestamp: opts.at ?? ago(10),
  };
}

const base = (over: Partial<TenantObjects>): TenantObjects => ({ name: 't1', namespace: 'ns1', claims: [], events: [], kubeconfigExported: false, ...over });

const unschedulable = (message: string): PodJson['status'] => ({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }] });

describe('diagnose: whether the tenant is there', () => {
  it('finds no tenant when nothing of it is there', () => {
    expect(diagnose(base({}), now)).toEqual({ exists: false, ready: undefined, status: 'Unknown', causes: [] });
  });

  it('takes an exported kubeconfig alone for a tenant run without the chart, whose readiness it cannot tell', () => {
    expect(diagnose(base({ kubeconfigExported: true }), now)).toEqual({ exists: true, ready: undefined, status: 'Unknown', causes: [] });
  });

  it('reports a failed helm release without a StatefulSet as a tenant that failed, with what to do', () => {
    const d = diagnose(base({ release: { revision: 1, status: 'failed', description: 'Release "t1" failed: roles.rbac "vnest-t1" is forbidden', chart: 'vnest-0.1.0' } }), now);
    expect(d).toMatchObject({ exists: true, ready: false, status: 'Failed' });
    expect(d.causes[0]).toMatchObject({ reason: 'HelmReleaseFailed', needsAction: true, message: expect.stringContaining('roles.rbac "vnest-t1" is forbidden') as string });
    expect(d.causes[0]?.advice).toContain('vnest upgrade t1 -n ns1');
  });

  it('says when the release is there but its StatefulSet is gone', () => {
    const d = diagnose(base({ release: { revision: 3, status: 'deployed', description: 'Upgrade complete', chart: 'vnest-0.1.0' } }), now);
    expect(d.causes).toEqual([expect.objectContaining({ reason: 'StatefulSetMissing', advice: '"vnest upgrade t1 -n ns1" puts it back' })]);
  });

  it('reports a paused tenant with how to resume it', () => {
    const d = diagnose(base({ statefulSet: sts({}, 0) }), now);
    expect(d).toMatchObject({ exists: true, ready: false, status: 'Paused', causes: [{ reason: 'Paused', advice: '"vnest resume t1 -n ns1" brings it back' }] });
  });

  it('leaves out -n when the namespace is the tenant name', () => {
    const d = diagnose({ ...base({ statefulSet: sts({}, 0) }), namespace: 't1' }, now);
    expect(d.causes[0]?.advice).toBe('"vnest resume t1" brings it back');
  });
});

describe('diagnose: a tenant that is stuck', () => {
  it('names the Pod Security refusal of its pod, from the StatefulSet\'s FailedCreate event', () => {
    const msg = 'create Pod t1-0 in StatefulSet t1 failed error: pods "t1-0" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true';
    const d = diagnose(base({ statefulSet: sts(), events: [event('StatefulSet', 't1', 'FailedCreate', msg, { uid: 'sts-uid' })] }), now);
    expect(d.status).toBe('Pending');
    expect(d.causes).toEqual([expect.objectContaining({ reason: 'PodRefused', object: 'statefulset/t1', needsAction: true, message: expect.stringContaining('violates PodSecurity') as string })]);
    expect(d.causes[0]?.advice).toContain('pod-security.kubernetes.io/enforce=baseline');
  });

  it('names a full ResourceQuota', () => {
    const d = diagnose(base({ statefulSet: sts(), events: [event('StatefulSet', 't1', 'FailedCreate', 'pods "t1-0" is forbidden: exceeded quota: q, requested: cpu=1, used: cpu=2, limited: cpu=2')] }), now);
    expect(d.causes[0]).toMatchObject({ reason: 'PodRefused', advice: expect.stringContaining('ResourceQuota') as string });
  });

  it('waits for a pod the StatefulSet has not made yet without calling it stuck', () => {
    expect(diagnose(base({ statefulSet: sts() }), now).causes).toEqual([expect.objectContaining({ reason: 'PodNotCreated', needsAction: false })]);
  });

  it('puts a missing StorageClass first, not the scheduler\'s "unbound claims" that follows from it', () => {
    const d = diagnose(base({
      statefulSet: sts(),
      pod: pod(unschedulable('0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.')),
      claims: [claim('Pending', 'nope')],
      storageClasses: [{ metadata: { name: 'standard' } }, { metadata: { name: 'fast' } }],
      events: [event('PersistentVolumeClaim', 'data-t1-0', 'ProvisioningFailed', 'storageclass.storage.k8s.io "nope" not found', { uid: 'pvc-uid' })],
    }), now);
    expect(d.causes).toHaveLength(1);
    expect(d.causes[0]).toMatchObject({
      reason: 'StorageClassMissing', object: 'persistentvolumeclaim/data-t1-0', needsAction: true,
      message: 'claim data-t1-0 asks for StorageClass "nope", which the host cluster does not have (the host has: standard, fast)',
    });
    expect(d.causes[0]?.advice).toContain('--set storage.storageClass=CLASS');
  });

  it('finds a missing StorageClass from the claim\'s event when the classes cannot be read', () => {
    const d = diagnose(base({ statefulSet: sts(), pod: pod(unschedulable('pod has unbound immediate PersistentVolumeClaims')), claims: [claim('Pending', 'nope')], events: [event('PersistentVolumeClaim', 'data-t1-0', 'ProvisioningFailed', 'storageclass.storage.k8s.io "nope" not found')] }), now);
    expect(d.causes[0]).toMatchObject({ reason: 'StorageClassMissing', message: 'claim data-t1-0 asks for StorageClass "nope", which the host cluster does not have' });
  });

  it('says when a claim names no class and the host has no default one', () => {
    const d = diagnose(base({ statefulSet: sts(), pod: pod(unschedulable('pod has unbound immediate PersistentVolumeClaims')), claims: [claim('Pending')], storageClasses: [{ metadata: { name: 'manual' } }] }), now);
    expect(d.causes[0]).toMatchObject({ reason: 'NoDefaultStorageClass', needsAction: true, message: expect.stringContaining('(the host has: manual)') as string });
    expect(d.causes[0]?.advice).toContain('storageclass.kubernetes.io/is-default-class=true');
    // A default class is there: the claim is waiting for its provisioner.
    const withDefault = diagnose(base({ statefulSet: sts(), claims: [claim('Pending')], storageClasses: [{ metadata: { name: 'std', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } } }] }), now);
    expect(withDefault.causes[0]).toMatchObject({ reason: 'ClaimPending', needsAction: false });
  });

  it('waits for the pod\'s scheduling when the claim binds with its first consumer', () => {
    const d = diagnose(base({ statefulSet: sts(), pod: pod(unschedulable('0/3 nodes are available: 3 Insufficient cpu.')), claims: [claim('Pending', 'local')], storageClasses: [{ metadata: { name: 'local' } }], events: [event('PersistentVolumeClaim', 'data-t1-0', 'WaitForFirstConsumer', 'waiting for first consumer to be created before binding', { type: 'Normal' })] }), now);
    expect(d.causes.map((c) => c.reason)).toEqual(['Unschedulable']);
  });

  it('passes on the provisioner\'s failure', () => {
    const d = diagnose(base({ statefulSet: sts(), claims: [claim('Pending', 'ebs')], storageClasses: [{ metadata: { name: 'ebs' } }], events: [event('PersistentVolumeClaim', 'data-t1-0', 'ProvisioningFailed', 'failed to provision volume: quota exceeded')] }), now);
    expect(d.causes[0]).toMatchObject({ reason: 'ProvisioningFailed', message: 'claim data-t1-0 is not bound: failed to provision volume: quota exceeded', needsAction: false });
  });

  it('says why no node can take the pod', () => {
    const d = diagnose(base({ statefulSet: sts(), pod: pod(unschedulable('0/3 nodes are available: 3 Insufficient memory.')), claims: [claim('Bound')] }), now);
    expect(d.causes).toEqual([expect.objectContaining({ reason: 'Unschedulable', message: 'no host node can take pod t1-0: 0/3 nodes are available: 3 Insufficient memory.' })]);
  });

  it('names an image that cannot be pulled, and an invalid one as needing a change', () => {
    const pull = diagnose(base({ statefulSet: sts(), pod: pod({ phase: 'Pending', containerStatuses: [
      running('control-plane', true),
      { name: 'syncer', ready: false, restartCount: 0, image: 'ghcr.io/vnest-dev/vnest:9.9.9', state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "ghcr.io/vnest-dev/vnest:9.9.9": not found' } } },
    ] }) }), now);
    expect(pull.causes).toEqual([expect.objectContaining({ reason: 'ImagePullFailed', needsAction: false, message: 'container syncer cannot pull its image ghcr.io/vnest-dev/vnest:9.9.9: Back-off pulling image "ghcr.io/vnest-dev/vnest:9.9.9": not found' })]);
    expect(pull.causes[0]?.advice).toContain('syncer.image.tag');
    const invalid = diagnose(base({ statefulSet: sts(), pod: pod({ phase: 'Pending', containerStatuses: [{ name: 'syncer', image: 'Bad:Image', state: { waiting: { reason: 'InvalidImageName', message: 'couldn\'t parse image name' } } }] }) }), now);
    expect(invalid.causes[0]).toMatchObject({ reason: 'InvalidImageName', needsAction: true });
  });

  it('names a crash loop with its last exit and the syncer\'s last error', () => {
    const d = diagnose(base({
      statefulSet: sts(),
      pod: pod({ phase: 'Running', containerStatuses: [running('control-plane', true), { name: 'syncer', ready: false, restartCount: 4, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 1m20s' } }, lastState: { terminated: { exitCode: 1, reason: 'Error' } } }] }),
      syncerProblems: [{ level: 'error', message: 'cannot reach the tenant\'s control plane: connect ECONNREFUSED 127.0.0.1:6443', count: 3 }],
    }), now);
    expect(d.causes).toEqual([expect.objectContaining({
      reason: 'CrashLoop',
      message: 'container syncer keeps crashing (4 restart(s); last exit code 1 (Error)); the syncer\'s last error: cannot reach the tenant\'s control plane: connect ECONNREFUSED 127.0.0.1:6443',
      advice: 'see why in its log: "kubectl -n ns1 logs t1-0 -c syncer --previous"',
    })]);
  });

  it('says when a container runs out of memory', () => {
    const d = diagnose(base({ statefulSet: sts(), pod: pod({ phase: 'Running', containerStatuses: [{ name: 'control-plane', ready: false, restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } } }] }) }), now);
    expect(d.causes[0]).toMatchObject({ reason: 'OutOfMemory', advice: expect.stringContaining('k3s.resources.limits.memory') as string });
  });

  it('says the syncer is not ready with its recent probe failure, and not an old one', () => {
    const probe = (at: string) => event('Pod', 't1-0', 'Unhealthy', 'Readiness probe failed: HTTP probe failed with statuscode: 503', { uid: 'pod-uid', at, fieldPath: 'spec.containers{syncer}' });
    const state = (events: EventJson[]) => base({ statefulSet: sts(), pod: pod({ phase: 'Running', containerStatuses: [running('control-plane', true), running('syncer', false)] }), events });
    expect(diagnose(state([probe(ago(30))]), now).causes).toEqual([expect.objectContaining({ reason: 'SyncerNotReady', message: 'the syncer is not ready: Readiness probe failed: HTTP probe failed with statuscode: 503' })]);
    expect(diagnose(state([probe(ago(3600))]), now).causes[0]?.message).toBe('the syncer is not ready (its readiness probe, /readyz, has not passed yet)');
    // Events of an earlier pod of the same name are not this pod's.
    expect(diagnose(state([{ ...probe(ago(30)), involvedObject: { kind: 'Pod', name: 't1-0', uid: 'old-uid' } }]), now).causes[0]?.message).toBe('the syncer is not ready (its readiness probe, /readyz, has not passed yet)');
  });

  it('names a volume that cannot be mounted', () => {
    const d = diagnose(base({ statefulSet: sts(), pod: pod({ phase: 'Pending', containerStatuses: [{ name: 'syncer', state: { waiting: { reason: 'ContainerCreating' } } }] }), events: [event('Pod', 't1-0', 'FailedMount', 'MountVolume.SetUp failed for volume "pki" : secret "vnest-t1-pki" not found')] }), now);
    expect(d.causes[0]).toMatchObject({ reason: 'VolumeNotMounted', message: 'pod t1-0 cannot mount a volume: MountVolume.SetUp failed for volume "pki" : secret "vnest-t1-pki" not found' });
  });

  it('says a terminating pod is being replaced', () => {
    const p = pod({ phase: 'Running' });
    p.metadata.deletionTimestamp = ago(5);
    expect(diagnose(base({ statefulSet: sts(), pod: p }), now).causes[0]?.reason).toBe('PodTerminating');
  });

  it('puts a failed helm upgrade first', () => {
    const d = diagnose(base({ statefulSet: sts(), release: { revision: 2, status: 'failed', description: 'Upgrade "t1" failed: timed out', chart: 'vnest-0.1.0' }, pod: pod({ phase: 'Running', containerStatuses: [running('control-plane', true), running('syncer', false)] }) }), now);
    expect(d.causes.map((c) => c.reason)).toEqual(['HelmReleaseFailed', 'SyncerNotReady']);
    expect(d.status).toBe('Failed');
  });
});

describe('diagnose: a ready tenant', () => {
  const ready = pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [running('control-plane', true), running('syncer', true)] });

  it('is Running with nothing to say once its kubeconfig is exported', () => {
    expect(diagnose(base({ statefulSet: sts({ readyReplicas: 1 }), pod: ready, claims: [claim('Bound')], kubeconfigExported: true }), now)).toEqual({ exists: true, ready: true, status: 'Running', causes: [] });
  });

  it('says when the syncer has not exported the kubeconfig yet', () => {
    const d = diagnose(base({ statefulSet: sts({ readyReplicas: 1 }), pod: ready }), now);
    expect(d).toMatchObject({ ready: true, status: 'Running', causes: [{ reason: 'KubeconfigNotExported', object: 'secret/t1-kubeconfig' }] });
  });

  it('is not ready while a new revision rolls out, or before the StatefulSet controller has seen the change', () => {
    expect(diagnose(base({ statefulSet: sts({ readyReplicas: 1, updateRevision: 'r2', updatedReplicas: 0 }), pod: ready, kubeconfigExported: true }), now)).toMatchObject({ ready: false, causes: [{ reason: 'RollingOut' }] });
    expect(diagnose(base({ statefulSet: sts({ readyReplicas: 1, updateRevision: 'r2', updatedReplicas: 1 }), pod: ready, kubeconfigExported: true }), now).ready).toBe(true);
    expect(diagnose(base({ statefulSet: sts({ readyReplicas: 1, observedGeneration: 1 }), pod: ready, kubeconfigExported: true }), now).ready).toBe(false);
  });
});

describe('logProblems', () => {
  it('keeps the warnings and errors of pino lines, newest last, repeats folded', () => {
    const lines = [
      { level: 30, time: 1, msg: 'started' },
      { level: 40, time: now - 3000, msg: 'could not record event', err: 'forbidden' },
      { level: 50, time: now - 2000, msg: 'sync failed', err: { type: 'Error', message: 'GET /api: connect ECONNREFUSED' } },
      { level: 50, time: now - 1000, msg: 'sync failed', err: { type: 'Error', message: 'GET /api: connect ECONNREFUSED' } },
    ].map((l) => JSON.stringify(l));
    expect(logProblems(`${lines.join('\n')}\nvnest: cannot read kubeconfig /pki/x: ENOENT\nsome other text\n{broken`)).toEqual([
      { time: new Date(now - 3000).toISOString(), level: 'warn', message: 'could not record event: forbidden', count: 1 },
      { time: new Date(now - 1000).toISOString(), level: 'error', message: 'sync failed: GET /api: connect ECONNREFUSED', count: 2 },
      { level: 'error', message: 'cannot read kubeconfig /pki/x: ENOENT', count: 1 },
    ]);
  });

  it('keeps the newest few', () => {
    const text = Array.from({ length: 9 }, (_, i) => JSON.stringify({ level: 60, msg: `m${i}` })).join('\n');
    expect(logProblems(text, 2)).toEqual([{ level: 'fatal', message: 'm7', count: 1 }, { level: 'fatal', message: 'm8', count: 1 }]);
  });
});

describe('decodeRelease', () => {
  it('reads helm\'s release record (base64 of gzipped JSON, in a Secret\'s base64)', () => {
    const record = { version: 2, info: { status: 'failed', description: 'Upgrade "t1" failed' }, chart: { metadata: { name: 'vnest', version: '0.1.0' } } };
    const helmEncoded = gzipSync(JSON.stringify(record)).toString('base64');
    expect(decodeRelease(Buffer.from(helmEncoded).toString('base64'))).toEqual(record);
  });
});

describe('describe report', () => {
  it('shows the containers, the volume, the front door and why the tenant is not ready', () => {
    const objects = base({
      statefulSet: sts(),
      pod: pod(unschedulable('pod has unbound immediate PersistentVolumeClaims')),
      claims: [claim('Pending', 'nope')],
      storageClasses: [],
      kubeconfigExported: false,
      syncerProblems: [],
    });
    const state: TenantState = {
      ...objects, diagnosis: diagnose(objects, now), unread: [], synced: { pods: 0, services: 1 },
      service: { metadata: { name: 't1', namespace: 'ns1' }, spec: { type: 'ClusterIP', clusterIP: '10.96.0.20', ports: [{ name: 'https', port: 443, targetPort: 8443 }] } },
    };
    const report = tenantReport(state);
    expect(report).toMatchObject({
      status: 'Pending', ready: false, distro: 'k3s',
      pod: { name: 't1-0', phase: 'Pending', containers: [{ name: 'control-plane', ready: false, state: 'not created' }, { name: 'syncer', ready: false, state: 'not created' }] },
      volumes: [{ claim: 'data-t1-0', phase: 'Pending', storageClass: 'nope', size: '5Gi' }],
      frontDoor: { address: 'https://t1.ns1.svc', clusterIP: '10.96.0.20', port: 443 },
      kubeconfig: { exported: false, secret: 't1-kubeconfig' },
      hostObjects: { pods: 0, services: 1 },
      causes: [{ reason: 'StorageClassMissing' }],
    });
    const text = formatReport(report);
    expect(text).toContain('Status:       Pending (not ready)');
    expect(text).toContain('Front door:   https://t1.ns1.svc (Service t1, ClusterIP 10.96.0.20, port 443)');
    expect(text).toContain('Volume:       claim data-t1-0, Pending, 5Gi, StorageClass nope');
    expect(text).toMatch(/CONTAINER\s+READY\s+STATE\s+RESTARTS\s+IMAGE/);
    expect(text).toContain('StorageClassMissing (persistentvolumeclaim/data-t1-0): claim data-t1-0 asks for StorageClass "nope", which the host cluster does not have (the host has none)');
    expect(text).toContain('What to do: ask the host\'s admin to create StorageClass "nope"');
    expect(text).toContain('Host objects: pods 0, services 1 (labelled vnest.dev/tenant=t1)');
  });
});

describe('notReadyError', () => {
  const state = (objects: TenantObjects): TenantState => ({ ...objects, diagnosis: diagnose(objects, now), unread: [] });

  it('is NotReady, exit 7, with the first cause, what to do, and where the rest is', () => {
    const err = notReadyError(state(base({ statefulSet: sts(), claims: [claim('Pending', 'nope')], storageClasses: [], events: [event('StatefulSet', 't1', 'FailedCreate', 'pods "t1-0" is forbidden: exceeded quota: q')] })));
    expect([err.code, err.exitCode]).toEqual(['NotReady', 7]);
    expect(err.message).toBe('tenant "t1" in namespace "ns1" is not ready: the host refused to create pod t1-0: pods "t1-0" is forbidden: exceeded quota: q. '
      + 'What to do: namespace ns1\'s ResourceQuota has no room for the tenant\'s pod: raise the quota, or lower the chart\'s resources (k3s.resources, k8s.resources, syncer.resources) with "vnest upgrade t1 -n ns1 --set ...". '
      + '"vnest describe t1 -n ns1" shows the tenant\'s state (and 1 more).');
  });

  it('says a ready tenant without its kubeconfig runs but cannot be used yet', () => {
    const ready = pod({ phase: 'Running', containerStatuses: [running('control-plane', true), running('syncer', true)] });
    expect(notReadyError(state(base({ statefulSet: sts({ readyReplicas: 1 }), pod: ready }))).message).toMatch(/^tenant "t1" in namespace "ns1" runs but cannot be used yet: the syncer has not exported/);
  });
});
