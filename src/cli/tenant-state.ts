// Reads what the host has of one tenant (StatefulSet, pod, claims, events, helm release, Service,
// exported kubeconfig, syncer log, host copies) for the diagnosis in diagnose.ts, and the checks
// the commands share: the tenant exists (else exit 4), is ready (else exit 7 with the cause).
import { gunzipSync } from 'node:zlib';
import { parse } from 'yaml';
import type { KubeClient, KubeObject, ResourceType } from '../kube/client.ts';
import { isForbidden, isNotFound } from '../kube/errors.ts';
import { types } from '../syncer/context.ts';
import { ingresses } from '../syncer/resources/ingresses.ts';
import { networkPolicies } from '../syncer/resources/network-policies.ts';
import { marks } from '../translate/metadata.ts';
import {
  diagnose, logProblems, nsFlag, podName, syncerContainer,
  type ClaimJson, type Diagnosis, type EventJson, type HelmRelease, type LogLine, type PodJson, type StatefulSetJson, type StorageClassJson, type TenantObjects,
} from './diagnose.ts';
import { errors, type CliError } from './host.ts';

export const statefulSets: ResourceType = { group: 'apps', version: 'v1', plural: 'statefulsets', kind: 'StatefulSet', namespaced: true };
const storageClasses: ResourceType = { group: 'storage.k8s.io', version: 'v1', plural: 'storageclasses', kind: 'StorageClass', namespaced: false };

/** The host kinds the syncer copies tenant objects into (each copy labelled with the tenant). */
export const syncedKinds: ResourceType[] = [types.pods, types.services, types.configmaps, types.secrets, types.pvcs, ingresses, networkPolicies];

export type ServiceJson = KubeObject & {
  spec?: { type?: string; clusterIP?: string; ports?: Array<{ name?: string; port: number; targetPort?: number | string; nodePort?: number }> };
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string; hostname?: string }> } };
};

export interface TenantState extends TenantObjects {
  diagnosis: Diagnosis;
  service?: ServiceJson;
  /** The exported kubeconfig (Secret `<tenant>-kubeconfig`, key `config`), when there is one. */
  kubeconfig?: string;
  /** Host objects labelled with the tenant, by plural; undefined when not counted. */
  synced?: Record<string, number>;
  /** What could not be read (no rights, say), so the report says it did not look. */
  unread: string[];
}

export interface ReadOptions {
  /** Read the syncer's log for its recent warnings and errors. */
  logs?: boolean;
  /** Count the tenant's host objects by kind. */
  counts?: boolean;
  /** Read the helm release's record (its chart and description) even when its labels say it is deployed. */
  releaseRecord?: boolean;
  now?: number;
}

/** A read that may be refused or find nothing: undefined then, and a note of what was not read. */
async function optional<T>(what: string, unread: string[], read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    if (isForbidden(err)) {
      unread.push(what);
      return undefined;
    }
    throw err;
  }
}

/** Helm's release record: base64 (the Secret's) of base64 of gzipped JSON. */
export function decodeRelease(data: string): { info?: { status?: string; description?: string }; version?: number; chart?: { metadata?: { name?: string; version?: string } }; config?: Record<string, unknown> } {
  let bytes = Buffer.from(Buffer.from(data, 'base64').toString('utf8'), 'base64');
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  return JSON.parse(bytes.toString('utf8')) as ReturnType<typeof decodeRelease>;
}

/** The newest revision's record Secret of helm release `name` in `ns` (metadata only). */
async function newestRelease(client: KubeClient, name: string, ns: string, unread: string[]): Promise<KubeObject | undefined> {
  const list = await optional('helm releases (Secrets)', unread, () => client.listMetadata(types.secrets, ns, { labelSelector: `owner=helm,name=${name}` }));
  return list?.items.sort((a, b) => Number(b.metadata.labels?.version ?? 0) - Number(a.metadata.labels?.version ?? 0))[0];
}

/**
 * The release as its record says, when it is a release of the vnest chart. The record (which holds
 * the whole chart) is read only when it can tell something the labels cannot: whether a release
 * without the tenant's StatefulSet is vnest's, or why it is not deployed.
 */
async function helmRelease(client: KubeClient, newest: KubeObject, hasStatefulSet: boolean, always: boolean, unread: string[]): Promise<HelmRelease | undefined> {
  const labels = newest.metadata.labels ?? {};
  const fromLabels: HelmRelease = { revision: Number(labels.version ?? 0), status: labels.status ?? 'unknown', description: '', chart: '' };
  if (hasStatefulSet && fromLabels.status === 'deployed' && !always) return fromLabels;
  const secret = await optional('helm releases (Secrets)', unread, () => client.get<KubeObject & { data?: { release?: string } }>(types.secrets, newest.metadata.namespace ?? '', newest.metadata.name));
  if (!secret?.data?.release) return hasStatefulSet ? fromLabels : undefined;
  let release: ReturnType<typeof decodeRelease>;
  try {
    release = decodeRelease(secret.data.release);
  } catch {
    // Not helm's format: the labels still tell the status.
    return hasStatefulSet ? fromLabels : undefined;
  }
  const chart = release.chart?.metadata?.name;
  if (chart !== undefined && chart !== 'vnest') return undefined;
  return {
    revision: release.version ?? fromLabels.revision,
    status: release.info?.status ?? fromLabels.status,
    description: release.info?.description ?? '',
    chart: chart ? `${chart}-${release.chart?.metadata?.version ?? ''}` : '',
    values: release.config ?? {},
  };
}

/** The syncer container's recent warnings and errors (the crashed run's, when it is restarting). */
async function syncerLog(client: KubeClient, pod: PodJson, unread: string[]): Promise<LogLine[] | undefined> {
  const status = pod.status?.containerStatuses?.find((c) => c.name === syncerContainer);
  if (!status || (!status.state?.running && !status.state?.terminated && !status.lastState?.terminated)) return undefined;
  const previous = !status.state?.running && !status.state?.terminated && (status.restartCount ?? 0) > 0;
  const path = `/api/v1/namespaces/${encodeURIComponent(pod.metadata.namespace ?? '')}/pods/${encodeURIComponent(pod.metadata.name)}/log?container=${syncerContainer}&tailLines=500${previous ? '&previous=true' : ''}`;
  try {
    return logProblems(await client.getText(path));
  } catch (err) {
    if (isForbidden(err)) unread.push('the syncer\'s log');
    // A log the kubelet cannot serve (the container has just gone) is not worth failing for.
    return undefined;
  }
}

/** Counts host objects labelled with the tenant, by plural (metadata only, page by page). */
async function countSynced(client: KubeClient, name: string, ns: string, unread: string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const rt of syncedKinds) {
    let total = 0;
    let token: string | undefined;
    try {
      do {
        const page = await client.listMetadata(rt, ns, { labelSelector: `${marks.tenant}=${name}`, limit: 500, ...(token ? { continue: token } : {}) });
        total += page.items.length;
        token = page.metadata.continue || undefined;
      } while (token);
      counts[rt.plural] = total;
    } catch (err) {
      if (!isForbidden(err) && !isNotFound(err)) throw err;
      unread.push(`host ${rt.plural}`);
    }
  }
  return counts;
}

async function eventsAbout(client: KubeClient, ns: string, obj: KubeObject, unread: string[]): Promise<EventJson[]> {
  const list = await optional('events', unread, () => client.list<EventJson>(types.events, ns, { fieldSelector: `involvedObject.name=${obj.metadata.name}` }));
  return list?.items ?? [];
}

/** Reads the tenant `name` in host namespace `ns` and diagnoses it. */
export async function readTenant(client: KubeClient, name: string, ns: string, opts: ReadOptions = {}): Promise<TenantState> {
  const unread: string[] = [];
  const [found, newest, kubeconfigSecret, service] = await Promise.all([
    optional('StatefulSets', unread, () => client.get<StatefulSetJson>(statefulSets, ns, name)),
    newestRelease(client, name, ns, unread),
    optional('the exported kubeconfig (Secret)', unread, () => client.get<KubeObject & { data?: { config?: string } }>(types.secrets, ns, `${name}-kubeconfig`)),
    optional('Services', unread, () => client.get<ServiceJson>(types.services, ns, name)),
  ]);
  // Only the chart's StatefulSet is the tenant's; a StatefulSet of the same name from something else is not.
  const statefulSet = found?.metadata.labels?.['app.kubernetes.io/name'] === 'vnest' ? found : undefined;
  const release = newest ? await helmRelease(client, newest, statefulSet !== undefined, opts.releaseRecord ?? false, unread) : undefined;
  const config = kubeconfigSecret?.data?.config;
  const kubeconfig = config ? Buffer.from(config, 'base64').toString('utf8') : undefined;
  const state: TenantState = {
    name, namespace: ns, claims: [], events: [], kubeconfigExported: kubeconfig !== undefined, unread,
    diagnosis: { exists: false, ready: undefined, status: 'Unknown', causes: [] },
    ...(statefulSet ? { statefulSet } : {}), ...(release ? { release } : {}), ...(service ? { service } : {}), ...(kubeconfig ? { kubeconfig } : {}),
  };
  if (statefulSet) {
    const pod = await optional('pods', unread, () => client.get<PodJson>(types.pods, ns, podName(name)));
    if (pod) state.pod = pod;
    const templates = (statefulSet.spec.volumeClaimTemplates ?? []).map((t) => `${t.metadata.name}-${name}-0`);
    for (const claimName of templates) {
      const claim = await optional('persistentvolumeclaims', unread, () => client.get<ClaimJson>(types.pvcs, ns, claimName));
      if (claim) state.claims.push(claim);
    }
    const notReady = (statefulSet.status?.readyReplicas ?? 0) < (statefulSet.spec.replicas ?? 1) || statefulSet.status?.currentRevision !== statefulSet.status?.updateRevision;
    const unbound = state.claims.filter((c) => c.status?.phase !== 'Bound');
    if (unbound.length > 0) {
      const classes = await optional('StorageClasses (cluster-scoped)', unread, () => client.list<StorageClassJson>(storageClasses, undefined));
      if (classes) state.storageClasses = classes.items;
    }
    // Events only where they can explain something: the StatefulSet without its pod, a pod or claim not ready.
    const about: KubeObject[] = [...unbound, ...(notReady ? [pod ?? statefulSet] : [])];
    for (const obj of about) state.events.push(...(await eventsAbout(client, ns, obj, unread)));
    // The syncer's log says more where it is stuck, or has not exported the kubeconfig.
    if (pod && (opts.logs || notReady || kubeconfig === undefined)) {
      const problems = await syncerLog(client, pod, unread);
      if (problems) state.syncerProblems = problems;
    }
  }
  if (opts.counts) state.synced = await countSynced(client, name, ns, unread);
  state.diagnosis = diagnose(state, opts.now);
  return state;
}

/** The exported kubeconfig's server address. */
export function exportedServer(kubeconfig: string): string {
  return (parse(kubeconfig) as { clusters?: Array<{ cluster?: { server?: string } }> } | null)?.clusters?.[0]?.cluster?.server ?? '';
}

/** `vnest describe` for the tenant, as a command line. */
export const describeCommandLine = (name: string, ns: string) => `vnest describe ${name}${nsFlag(name, ns)}`;

/** NotReady (exit 7) naming the tenant's first cause and what to do, and where the rest is. */
export function notReadyError(state: TenantState, lead?: string): CliError {
  const cause = state.diagnosis.causes[0];
  // A ready pod whose syncer has not exported the kubeconfig yet runs, but cannot be used yet.
  const head = lead ?? `tenant "${state.name}" in namespace "${state.namespace}" ${state.diagnosis.ready ? 'runs but cannot be used yet' : 'is not ready'}`;
  const more = state.diagnosis.causes.length > 1 ? ` (and ${state.diagnosis.causes.length - 1} more)` : '';
  const why = cause ? `: ${cause.message}. What to do: ${cause.advice}` : '';
  return errors.notReady(`${head}${why}. "${describeCommandLine(state.name, state.namespace)}" shows the tenant's state${more}.`);
}

/**
 * The tenant's state, when it exists and is ready: UnknownTenant (exit 4) when nothing of it is
 * there, NotReady (exit 7) with the cause when it is not ready. A tenant run without the chart
 * (no StatefulSet: local mode) is taken as ready when it has exported its kubeconfig.
 */
export async function readyTenant(client: KubeClient, name: string, ns: string): Promise<TenantState & { kubeconfig: string }> {
  const state = await readTenant(client, name, ns);
  if (!state.diagnosis.exists) throw errors.unknownTenant(name, ns);
  if (state.diagnosis.ready === false) throw notReadyError(state);
  if (state.kubeconfig === undefined) throw notReadyError(state);
  return state as TenantState & { kubeconfig: string };
}

/**
 * The tenant's exported kubeconfig, ready or not (`vnest list --tree` walks into what it can).
 * Without one: UnknownTenant when the tenant is not there at all, otherwise NotReady with the cause.
 */
export async function exportedKubeconfig(client: KubeClient, name: string, ns: string): Promise<string> {
  try {
    const secret = await client.get<KubeObject & { data?: { config?: string } }>(types.secrets, ns, `${name}-kubeconfig`);
    const config = secret.data?.config;
    if (config) return Buffer.from(config, 'base64').toString('utf8');
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const state = await readTenant(client, name, ns);
  if (!state.diagnosis.exists) throw errors.unknownTenant(name, ns);
  throw notReadyError(state, `tenant "${name}" in namespace "${ns}" has not exported its kubeconfig`);
}
