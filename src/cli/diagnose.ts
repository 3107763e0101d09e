// Why a tenant is not ready, from what the host has of it: pure functions over the tenant's
// StatefulSet, pod, claims, events, helm release and syncer log, each cause with what to do.
// `vnest describe` prints them; create/upgrade, connect and kubeconfig fail with the first one.
import type { KubeObject } from '../kube/client.ts';

export interface ContainerState {
  waiting?: { reason?: string; message?: string };
  running?: { startedAt?: string };
  terminated?: { exitCode?: number; reason?: string; message?: string; finishedAt?: string };
}

export interface ContainerStatus {
  name: string;
  ready?: boolean;
  started?: boolean;
  restartCount?: number;
  image?: string;
  state?: ContainerState;
  lastState?: ContainerState;
}

export interface PodCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export type PodJson = KubeObject & {
  spec?: { nodeName?: string; containers?: Array<{ name: string; image?: string }> };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    podIP?: string;
    conditions?: PodCondition[];
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
};

export type StatefulSetJson = KubeObject & {
  spec: {
    replicas?: number;
    template: { spec: { containers: Array<{ name: string; image: string }> } };
    volumeClaimTemplates?: Array<{ metadata: { name: string } }>;
  };
  status?: { replicas?: number; readyReplicas?: number; updatedReplicas?: number; observedGeneration?: number; currentRevision?: string; updateRevision?: string };
};

export type ClaimJson = KubeObject & {
  spec?: { storageClassName?: string; resources?: { requests?: { storage?: string } } };
  status?: { phase?: string; capacity?: { storage?: string } };
};

export type StorageClassJson = KubeObject & { provisioner?: string };

export type EventJson = KubeObject & {
  /** fieldPath names a container: `spec.containers{syncer}`. */
  involvedObject: { kind?: string; name?: string; uid?: string; fieldPath?: string };
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  eventTime?: string;
  series?: { lastObservedTime?: string };
};

/** The newest revision of the tenant's helm release, as helm stores it. */
export interface HelmRelease {
  revision: number;
  /** deployed, failed, pending-install, pending-upgrade, pending-rollback, uninstalling, superseded. */
  status: string;
  description: string;
  chart: string;
  /** The values the release was installed or upgraded with (helm's "user-supplied values"), when its record was read. */
  values?: Record<string, unknown>;
}

/** A warning or error line of the syncer's log. */
export interface LogLine {
  time?: string;
  level: 'warn' | 'error' | 'fatal';
  message: string;
  /** How many times in a row the line came (repeats are shown once). */
  count: number;
}

/** Everything the diagnosis looks at; what could not be read is left out. */
export interface TenantObjects {
  name: string;
  namespace: string;
  statefulSet?: StatefulSetJson;
  pod?: PodJson;
  claims: ClaimJson[];
  /** The host's StorageClasses; undefined when they could not be read (they are cluster-scoped). */
  storageClasses?: StorageClassJson[];
  /** Events about the StatefulSet, its pod and its claims. */
  events: EventJson[];
  release?: HelmRelease;
  kubeconfigExported: boolean;
  /** The syncer's recent warnings and errors, oldest first; undefined when its log was not read. */
  syncerProblems?: LogLine[];
}

/** One reason the tenant is not (fully) ready. */
export interface Cause {
  /** Stable code, for -o json and scripts. */
  reason: string;
  /** The host object it is about, `kind/name`. */
  object: string;
  message: string;
  /** What to do about it. */
  advice: string;
  /** True when waiting will not fix it: someone has to change something. */
  needsAction: boolean;
}

export type TenantStatus = 'Running' | 'Pending' | 'Paused' | 'Failed' | 'Unknown';

export interface Diagnosis {
  /** Anything of the tenant is there: its StatefulSet, its helm release or its exported kubeconfig. */
  exists: boolean;
  /**
   * The tenant's pod is ready (its syncer's /readyz passes) and runs the StatefulSet's current
   * revision; undefined for a tenant run without the chart (local mode), whose readiness the host
   * cannot tell.
   */
  ready: boolean | undefined;
  status: TenantStatus;
  /** The root cause first. */
  causes: Cause[];
}

export const podName = (tenant: string) => `${tenant}-0`;
export const syncerContainer = 'syncer';

/** Events older than this are history, not the present state (probe failures, mount errors). */
const recentMs = 5 * 60_000;

const eventTime = (e: EventJson): number => Date.parse(e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? '') || 0;

/** Events about `obj` (this incarnation of it, when the event names a uid), newest first. */
export function eventsFor(events: EventJson[], kind: string, obj: KubeObject, reasons?: string[]): EventJson[] {
  return events
    .filter((e) => e.involvedObject.kind === kind && e.involvedObject.name === obj.metadata.name)
    .filter((e) => !e.involvedObject.uid || !obj.metadata.uid || e.involvedObject.uid === obj.metadata.uid)
    .filter((e) => !reasons || reasons.includes(e.reason ?? ''))
    .sort((a, b) => eventTime(b) - eventTime(a));
}

const oneLine = (s: string | undefined) => (s ?? '').replace(/\s+/g, ' ').trim();

/** The flags that name the tenant after a vnest command: ` -n NS` when the namespace is not the name. */
export const nsFlag = (name: string, ns: string) => (ns === name ? '' : ` -n ${ns}`);

function releaseCauses(t: TenantObjects): Cause[] {
  const r = t.release;
  if (!r) return [];
  const object = `helm release ${t.name} (revision ${r.revision})`;
  const n = nsFlag(t.name, t.namespace);
  if (r.status === 'failed') {
    return [{
      reason: 'HelmReleaseFailed', object, needsAction: true,
      message: `helm's last change of the tenant failed: ${oneLine(r.description) || 'no description'}`,
      advice: `see "helm -n ${t.namespace} history ${t.name}"; fix what the message names and run "vnest upgrade ${t.name}${n}", or "vnest delete ${t.name}${n}" and create it again`,
    }];
  }
  if (r.status.startsWith('pending-')) {
    const op = r.status.slice('pending-'.length);
    return [{
      reason: 'HelmReleasePending', object, needsAction: false,
      message: `helm's ${op} of the tenant has not finished (status ${r.status})`,
      advice: op === 'install'
        ? `if no helm is still running for it (it was interrupted), "vnest delete ${t.name}${n}" and create it again`
        : `if no helm is still running for it (it was interrupted), "helm -n ${t.namespace} rollback ${t.name}", then "vnest upgrade ${t.name}${n}" again`,
    }];
  }
  if (r.status === 'uninstalling') {
    return [{ reason: 'Uninstalling', object, needsAction: false, message: 'helm is uninstalling the tenant', advice: `wait for "vnest delete ${t.name}${n}" to finish, or run it again if it was interrupted` }];
  }
  return [];
}

const storageClassList = (classes: StorageClassJson[]) => (classes.length ? `the host has: ${classes.map((c) => c.metadata.name).join(', ')}` : 'the host has none');
const isDefaultClass = (c: StorageClassJson) => c.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true';

/** Why a claim of the tenant is not bound. */
function claimCause(t: TenantObjects, claim: ClaimJson): Cause | undefined {
  const phase = claim.status?.phase ?? 'Pending';
  if (phase === 'Bound') return undefined;
  const object = `persistentvolumeclaim/${claim.metadata.name}`;
  const n = nsFlag(t.name, t.namespace);
  const recreate = (set: string) => `"vnest delete ${t.name}${n}" and create it again with ${set} (a StatefulSet's claim template cannot be changed in place)`;
  if (phase === 'Lost') {
    return { reason: 'ClaimLost', object, needsAction: true, message: `claim ${claim.metadata.name} lost its volume (the PersistentVolume it was bound to is gone)`, advice: `restore the volume, or ${recreate('the same flags')} (its state is lost)` };
  }
  const sc = claim.spec?.storageClassName;
  const classes = t.storageClasses;
  const events = eventsFor(t.events, 'PersistentVolumeClaim', claim);
  const failed = events.find((e) => e.reason === 'ProvisioningFailed' || e.reason === 'FailedBinding');
  const missingClass = (sc && classes && !classes.some((c) => c.metadata.name === sc)) || (sc && !classes && /storageclass.* not found/i.test(failed?.message ?? ''));
  if (missingClass) {
    return {
      reason: 'StorageClassMissing', object, needsAction: true,
      message: `claim ${claim.metadata.name} asks for StorageClass "${sc}", which the host cluster does not have${classes ? ` (${storageClassList(classes)})` : ''}`,
      advice: `ask the host's admin to create StorageClass "${sc}", or ${recreate('--set storage.storageClass=CLASS, a class "kubectl get storageclass" lists')}`,
    };
  }
  if (!sc && ((classes && !classes.some(isDefaultClass)) || /no storage class is set/i.test(failed?.message ?? ''))) {
    return {
      reason: 'NoDefaultStorageClass', object, needsAction: true,
      message: `claim ${claim.metadata.name} names no StorageClass and the host cluster has no default one${classes ? ` (${storageClassList(classes)})` : ''}${failed ? `: ${oneLine(failed.message)}` : ''}`,
      advice: `mark a class as the default ("kubectl annotate storageclass CLASS storageclass.kubernetes.io/is-default-class=true"), or ${recreate('--set storage.storageClass=CLASS, or --set storage.persistence=false (an emptyDir: the state goes with the pod)')}`,
    };
  }
  if (failed) {
    return {
      reason: failed.reason === 'ProvisioningFailed' ? 'ProvisioningFailed' : 'ClaimNotBound', object, needsAction: false,
      message: `claim ${claim.metadata.name} is not bound: ${oneLine(failed.message)}`,
      advice: `the StorageClass's provisioner${sc ? ` (class "${sc}")` : ''} cannot make a volume: fix what the message names; "kubectl -n ${t.namespace} describe pvc ${claim.metadata.name}" shows its events`,
    };
  }
  const waiting = events.find((e) => e.reason === 'ExternalProvisioning' || e.reason === 'Provisioning');
  return {
    reason: 'ClaimPending', object, needsAction: false,
    message: `claim ${claim.metadata.name} is not bound yet${waiting ? `: ${oneLine(waiting.message)}` : ''}`,
    advice: `wait for the volume to be provisioned; if it lasts, "kubectl -n ${t.namespace} describe pvc ${claim.metadata.name}"${sc ? ` and the provisioner of StorageClass "${sc}"` : ''}`,
  };
}

/**
 * Why the tenant's claims are not bound. A claim whose class binds when its pod is scheduled
 * (WaitForFirstConsumer) waits for the pod: the pod's scheduling says why.
 */
function claimsCauses(t: TenantObjects): Cause[] {
  return t.claims
    .filter((c) => eventsFor(t.events, 'PersistentVolumeClaim', c)[0]?.reason !== 'WaitForFirstConsumer')
    .map((c) => claimCause(t, c))
    .filter((c): c is Cause => !!c);
}

/** Why the StatefulSet has no pod: the host refused to create it, or it has not yet. */
function missingPodCause(t: TenantObjects, sts: StatefulSetJson): Cause {
  const failed = eventsFor(t.events, 'StatefulSet', sts, ['FailedCreate'])[0];
  const object = `statefulset/${sts.metadata.name}`;
  if (!failed) return { reason: 'PodNotCreated', object, needsAction: false, message: `the StatefulSet has not created pod ${podName(t.name)} yet`, advice: `wait; if it lasts, "kubectl -n ${t.namespace} describe statefulset ${t.name}"` };
  const msg = oneLine(failed.message);
  let advice = 'fix what the message names; the StatefulSet retries by itself';
  if (/PodSecurity/.test(msg)) {
    advice = `namespace ${t.namespace}'s Pod Security Admission level is stricter than the tenant's pod allows (a k3s tenant's server runs as root: it needs "baseline"): label it as the chart's notes say ("kubectl label namespace ${t.namespace} --overwrite pod-security.kubernetes.io/enforce=baseline"), or install the k8s distro (--set distro=k8s), whose containers run as non-root`;
  } else if (/exceeded quota/i.test(msg)) {
    advice = `namespace ${t.namespace}'s ResourceQuota has no room for the tenant's pod: raise the quota, or lower the chart's resources (k3s.resources, k8s.resources, syncer.resources) with "vnest upgrade ${t.name}${nsFlag(t.name, t.namespace)} --set ..."`;
  } else if (/serviceaccount/i.test(msg)) {
    advice = `the tenant's ServiceAccount is missing: "vnest upgrade ${t.name}${nsFlag(t.name, t.namespace)}" puts it back`;
  }
  return { reason: 'PodRefused', object, needsAction: true, message: `the host refused to create pod ${podName(t.name)}: ${msg}`, advice };
}

const imageValues = 'the chart\'s image values: k3s.image; k8s.etcdImage, k8s.apiServerImage, k8s.controllerManagerImage; syncer.image.repository and syncer.image.tag';

/** Why one container of the tenant's pod is not running or not ready. */
function containerCause(t: TenantObjects, pod: PodJson, c: ContainerStatus, kind: 'container' | 'init container', now: number): Cause | undefined {
  const object = `pod/${pod.metadata.name}`;
  const n = nsFlag(t.name, t.namespace);
  const waiting = c.state?.waiting;
  const reason = waiting?.reason ?? '';
  const logCmd = (previous: boolean) => `kubectl -n ${t.namespace} logs ${pod.metadata.name} -c ${c.name}${previous ? ' --previous' : ''}`;
  const syncerNote = c.name === syncerContainer ? lastSyncerProblem(t) : '';
  if (reason === 'ErrImagePull' || reason === 'ImagePullBackOff') {
    const pulled = eventsFor(t.events, 'Pod', pod, ['Failed']).find((e) => /image/i.test(e.message ?? ''));
    return {
      reason: 'ImagePullFailed', object, needsAction: false,
      message: `${kind} ${c.name} cannot pull its image ${c.image ?? ''}: ${oneLine(waiting?.message ?? pulled?.message) || reason}`,
      advice: `check that the image name and tag exist, that the host's nodes can reach its registry, and for a private registry an image pull secret; to use another image, "vnest upgrade ${t.name}${n} --set ..." (${imageValues})`,
    };
  }
  if (reason === 'InvalidImageName') {
    return { reason: 'InvalidImageName', object, needsAction: true, message: `${kind} ${c.name}'s image "${c.image ?? ''}" is not a valid image name: ${oneLine(waiting?.message)}`, advice: `set a valid image with "vnest upgrade ${t.name}${n} --set ..." (${imageValues})` };
  }
  if (reason === 'CreateContainerConfigError' || reason === 'CreateContainerError' || reason === 'RunContainerError') {
    return {
      reason: 'ContainerNotStarted', object, needsAction: false,
      message: `${kind} ${c.name} cannot start: ${reason}: ${oneLine(waiting?.message)}`,
      advice: `fix what the message names (a Secret or ConfigMap of the chart missing? "vnest upgrade ${t.name}${n}" puts them back); "kubectl -n ${t.namespace} describe pod ${pod.metadata.name}" shows its events`,
    };
  }
  if (reason === 'CrashLoopBackOff' || (c.state?.terminated && (c.restartCount ?? 0) > 0)) {
    const last = c.lastState?.terminated ?? c.state?.terminated;
    const how = last ? `; last exit code ${last.exitCode ?? '?'}${last.reason ? ` (${last.reason})` : ''}${last.message ? `: ${oneLine(last.message)}` : ''}` : '';
    const oom = last?.reason === 'OOMKilled';
    return {
      reason: oom ? 'OutOfMemory' : 'CrashLoop', object, needsAction: false,
      message: `${kind} ${c.name} keeps crashing (${c.restartCount ?? 0} restart(s)${how})${syncerNote}`,
      advice: oom
        ? `it ran out of memory: raise its memory limit with "vnest upgrade ${t.name}${n} --set ${c.name === syncerContainer ? 'syncer' : 'k3s'}.resources.limits.memory=..."`
        : `see why in its log: "${logCmd(true)}"`,
    };
  }
  if (waiting) {
    const mount = eventsFor(t.events, 'Pod', pod, ['FailedMount', 'FailedAttachVolume']).find((e) => now - eventTime(e) < recentMs);
    if (mount) {
      return { reason: 'VolumeNotMounted', object, needsAction: false, message: `pod ${pod.metadata.name} cannot mount a volume: ${oneLine(mount.message)}`, advice: `fix what the message names; "kubectl -n ${t.namespace} describe pod ${pod.metadata.name}" shows its events` };
    }
    return { reason: 'ContainerStarting', object, needsAction: false, message: `${kind} ${c.name} is not running yet (${reason || 'waiting'}${waiting.message ? `: ${oneLine(waiting.message)}` : ''})`, advice: 'wait' };
  }
  if (c.state?.running && !c.ready && kind === 'container') {
    const probe = eventsFor(t.events, 'Pod', pod, ['Unhealthy'])
      .find((e) => now - eventTime(e) < recentMs && (e.message ?? '').startsWith('Readiness probe') && (!e.involvedObject.fieldPath || e.involvedObject.fieldPath === `spec.containers{${c.name}}`));
    if (c.name === syncerContainer) {
      return {
        reason: 'SyncerNotReady', object, needsAction: false,
        message: `the syncer is not ready${probe ? `: ${oneLine(probe.message)}` : ' (its readiness probe, /readyz, has not passed yet)'}${syncerNote}`,
        advice: `the syncer is ready once the tenant's control plane answers and its caches are synced; if this lasts, see its log ("${logCmd(false)}") and the control plane's`,
      };
    }
    return { reason: 'ContainerNotReady', object, needsAction: false, message: `${kind} ${c.name} is running but not ready${probe ? `: ${oneLine(probe.message)}` : ''}`, advice: `see its log: "${logCmd(false)}"` };
  }
  return undefined;
}

function lastSyncerProblem(t: TenantObjects): string {
  const last = t.syncerProblems?.at(-1);
  return last ? `; the syncer's last ${last.level}: ${last.message}` : '';
}

function podCauses(t: TenantObjects, pod: PodJson, now: number): Cause[] {
  const object = `pod/${pod.metadata.name}`;
  if (pod.metadata.deletionTimestamp) {
    return [{ reason: 'PodTerminating', object, needsAction: false, message: `pod ${pod.metadata.name} is being deleted (a restart, a rollout or a pause)`, advice: 'wait: the StatefulSet makes a new one' }];
  }
  const causes: Cause[] = [];
  const claimCauses = claimsCauses(t);
  causes.push(...claimCauses);
  const phase = pod.status?.phase ?? 'Pending';
  if (phase === 'Failed') {
    causes.push({
      reason: 'PodFailed', object, needsAction: false,
      message: `pod ${pod.metadata.name} failed${pod.status?.reason ? ` (${pod.status.reason})` : ''}${pod.status?.message ? `: ${oneLine(pod.status.message)}` : ''}`,
      advice: `the StatefulSet replaces it; if it is not replaced, "kubectl -n ${t.namespace} delete pod ${pod.metadata.name}"`,
    });
    return causes;
  }
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False') {
    const msg = oneLine(scheduled.message);
    // The claim is the root cause of "unbound immediate PersistentVolumeClaims"; it is listed already.
    if (!(claimCauses.length > 0 && /PersistentVolumeClaim/i.test(msg))) {
      if (scheduled.reason === 'SchedulingGated') {
        causes.push({ reason: 'SchedulingGated', object, needsAction: false, message: `pod ${pod.metadata.name} waits for its scheduling gates to be removed`, advice: 'the host controller that added them removes them; ask the host\'s admin if it lasts' });
      } else {
        causes.push({
          reason: 'Unschedulable', object, needsAction: false,
          message: `no host node can take pod ${pod.metadata.name}${msg ? `: ${msg}` : ''}`,
          advice: `free or add node capacity, or lower the tenant's resource requests with "vnest upgrade ${t.name}${nsFlag(t.name, t.namespace)} --set ..." (k3s.resources, k8s.resources, syncer.resources)`,
        });
      }
    }
    return causes;
  }
  for (const c of pod.status?.initContainerStatuses ?? []) {
    if (c.state?.terminated?.exitCode === 0) continue;
    const cause = containerCause(t, pod, c, 'init container', now);
    if (cause) causes.push(cause);
  }
  for (const c of pod.status?.containerStatuses ?? []) {
    const cause = containerCause(t, pod, c, 'container', now);
    if (cause) causes.push(cause);
  }
  return causes;
}

/** The StatefulSet's pod is ready and runs its newest revision. */
function statefulSetReady(sts: StatefulSetJson): boolean {
  const replicas = sts.spec.replicas ?? 1;
  const s = sts.status ?? {};
  const observed = (s.observedGeneration ?? 0) >= (sts.metadata.generation ?? 0);
  const rolledOut = !s.updateRevision || s.currentRevision === s.updateRevision || (s.updatedReplicas ?? 0) >= replicas;
  return replicas > 0 && (s.readyReplicas ?? 0) >= replicas && observed && rolledOut;
}

export function diagnose(t: TenantObjects, now = Date.now()): Diagnosis {
  const sts = t.statefulSet;
  const release = releaseCauses(t);
  const n = nsFlag(t.name, t.namespace);
  if (!sts) {
    if (t.release) {
      const causes = release.length ? release : [{
        reason: 'StatefulSetMissing', object: `statefulset/${t.name}`, needsAction: true,
        message: `helm release ${t.name} is ${t.release.status}, but the tenant's StatefulSet is gone (deleted by hand?)`,
        advice: `"vnest upgrade ${t.name}${n}" puts it back`,
      }];
      return { exists: true, ready: false, status: t.release.status === 'failed' ? 'Failed' : 'Pending', causes };
    }
    // A tenant run without the chart (local mode, a syncer started by hand): only its export shows.
    return { exists: t.kubeconfigExported, ready: undefined, status: 'Unknown', causes: [] };
  }
  if ((sts.spec.replicas ?? 1) === 0) {
    return { exists: true, ready: false, status: 'Paused', causes: [{ reason: 'Paused', object: `statefulset/${t.name}`, needsAction: true, message: 'the tenant is paused (scaled to zero)', advice: `"vnest resume ${t.name}${n}" brings it back` }] };
  }
  const ready = statefulSetReady(sts);
  const causes = [...release];
  if (!ready) {
    if (!t.pod) {
      // The StatefulSet makes the claims, then the pod: a refused pod comes first, then the claims.
      const missing = missingPodCause(t, sts);
      const claims = claimsCauses(t);
      causes.push(...(missing.needsAction ? [missing, ...claims] : claims.length ? claims : [missing]));
    }
    else causes.push(...podCauses(t, t.pod, now));
    const s = sts.status ?? {};
    if (causes.length === 0 && t.pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && s.updateRevision && s.currentRevision !== s.updateRevision) {
      causes.push({ reason: 'RollingOut', object: `statefulset/${t.name}`, needsAction: false, message: 'the tenant\'s pod is being replaced by its new revision', advice: 'wait' });
    }
    if (causes.length === 0) causes.push({ reason: 'Starting', object: `pod/${podName(t.name)}`, needsAction: false, message: 'the tenant\'s pod is starting', advice: `wait; "vnest describe ${t.name}${n}" shows its containers` });
  } else if (!t.kubeconfigExported) {
    causes.push({
      reason: 'KubeconfigNotExported', object: `secret/${t.name}-kubeconfig`, needsAction: false,
      message: `the syncer has not exported the tenant's kubeconfig yet (Secret ${t.name}-kubeconfig)${lastSyncerProblem(t)}`,
      advice: `it does so as it starts; if this lasts, see its log ("kubectl -n ${t.namespace} logs ${podName(t.name)} -c ${syncerContainer}")`,
    });
  }
  const failed = (t.release?.status === 'failed' && !ready) || t.pod?.status?.phase === 'Failed';
  return { exists: true, ready, status: ready ? 'Running' : failed ? 'Failed' : 'Pending', causes };
}

const pinoLevels: Record<number, LogLine['level']> = { 40: 'warn', 50: 'error', 60: 'fatal' };

/**
 * The warnings and errors of a syncer log (pino JSON lines; a line that is not JSON counts when it
 * reads like an error, as the CLI's own `vnest: ...` on a failed start does), the newest `max`,
 * repeats in a row folded into one.
 */
export function logProblems(text: string, max = 5): LogLine[] {
  const out: LogLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    let entry: LogLine | undefined;
    if (line.startsWith('{')) {
      try {
        const j = JSON.parse(line) as { level?: number | string; time?: number | string; msg?: string; err?: unknown; error?: unknown };
        const level = typeof j.level === 'number' ? pinoLevels[Math.min(60, Math.floor(j.level / 10) * 10)] : (['warn', 'error', 'fatal'] as const).find((l) => l === j.level);
        if (!level) continue;
        const errValue = j.err ?? j.error;
        const err = typeof errValue === 'string' ? errValue : (errValue as { message?: string } | undefined)?.message;
        const time = typeof j.time === 'number' ? new Date(j.time).toISOString() : j.time;
        entry = { ...(time ? { time } : {}), level, message: `${j.msg ?? ''}${err ? `${j.msg ? ': ' : ''}${err}` : ''}`.trim() || '(no message)', count: 1 };
      } catch {
        // not JSON after all: judged as text below
      }
    }
    if (!entry) {
      if (line.startsWith('{') || !/^vnest: |\b(error|fatal|panic)\b/i.test(line)) continue;
      entry = { level: 'error', message: line.replace(/^vnest: /, ''), count: 1 };
    }
    const prev = out.at(-1);
    if (prev && prev.message === entry.message && prev.level === entry.level) {
      prev.count++;
      if (entry.time) prev.time = entry.time;
    } else {
      out.push(entry);
    }
  }
  return out.slice(-max);
}
