// Pure translation of pods between virtual and host: spec references to host copies, selectors
// narrowed to this tenant, the policy on fields a tenant must not choose, and status back.
import type { KubeObject } from '../kube/client.ts';
import { marks } from './metadata.ts';
import { hostName } from './names.ts';

 
type Json = Record<string, any>;

export interface Pod extends KubeObject {
  spec: Json & { nodeName?: string; containers: Json[]; volumes?: Json[] };
  status?: Json;
}

export interface PodPolicyAllow {
  nodeName: boolean;
  hostNetwork: boolean;
  hostPID: boolean;
  hostIPC: boolean;
  hostPath: boolean;
  privileged: boolean;
  capabilities: boolean;
}

export interface PodTranslateContext {
  tenant: string;
  hostServiceAccount: string;
  tenantApi?: { host: string; port: number };
  /** Where the host pod finds its service-account tokens: a host Secret, or its own annotations. */
  tokens: { secretName: string } | 'annotation';
  /** The tenant's DNS (its kube-dns Service IP), for pods that use cluster DNS. */
  dns?: { nameserver: string; clusterDomain: string };
}

const allContainers = (spec: Json): Json[] => [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])];

/** Reasons the pod must not run on the shared host under `allow`; empty when it may. */
export function podPolicyViolations(pod: Pod, allow: PodPolicyAllow): string[] {
  const s = pod.spec;
  const out: string[] = [];
  if (s.nodeName && !allow.nodeName) out.push(`spec.nodeName (${s.nodeName}) is chosen by the host scheduler`);
  if (s.hostNetwork && !allow.hostNetwork) out.push('spec.hostNetwork is not allowed');
  if (s.hostPID && !allow.hostPID) out.push('spec.hostPID is not allowed');
  if (s.hostIPC && !allow.hostIPC) out.push('spec.hostIPC is not allowed');
  if (!allow.hostPath) {
    for (const v of s.volumes ?? []) if (v.hostPath) out.push(`hostPath volume ${v.name} is not allowed`);
  }
  for (const c of allContainers(s)) {
    if (c.securityContext?.privileged && !allow.privileged) out.push(`container ${c.name} is privileged`);
    const added: string[] = c.securityContext?.capabilities?.add ?? [];
    if (added.length > 0 && !allow.capabilities) out.push(`container ${c.name} adds capabilities ${added.join(', ')}`);
  }
  return out;
}

/** ConfigMaps, Secrets and PVCs a pod references, by virtual name. */
export function podReferences(pod: Pod): { configmaps: Set<string>; secrets: Set<string>; pvcs: Set<string> } {
  const configmaps = new Set<string>();
  const secrets = new Set<string>();
  const pvcs = new Set<string>();
  const s = pod.spec;
  for (const v of s.volumes ?? []) {
    if (v.configMap?.name) configmaps.add(v.configMap.name);
    if (v.secret?.secretName) secrets.add(v.secret.secretName);
    if (v.persistentVolumeClaim?.claimName) pvcs.add(v.persistentVolumeClaim.claimName);
    for (const src of v.projected?.sources ?? []) {
      if (src.configMap?.name) configmaps.add(src.configMap.name);
      if (src.secret?.name) secrets.add(src.secret.name);
    }
  }
  for (const c of allContainers(s)) {
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef?.name) configmaps.add(e.valueFrom.configMapKeyRef.name);
      if (e.valueFrom?.secretKeyRef?.name) secrets.add(e.valueFrom.secretKeyRef.name);
    }
    for (const e of c.envFrom ?? []) {
      if (e.configMapRef?.name) configmaps.add(e.configMapRef.name);
      if (e.secretRef?.name) secrets.add(e.secretRef.name);
    }
  }
  for (const p of s.imagePullSecrets ?? []) if (p.name) secrets.add(p.name);
  return { configmaps, secrets, pvcs };
}

/** The projected service-account token sources of a pod: volume name, source index, source. */
export function tokenSources(pod: Pod): Array<{ key: string; audience?: string; expirationSeconds?: number }> {
  const out: Array<{ key: string; audience?: string; expirationSeconds?: number }> = [];
  for (const v of pod.spec.volumes ?? []) {
    (v.projected?.sources ?? []).forEach((src: Json, i: number) => {
      if (src.serviceAccountToken) {
        out.push({ key: tokenKey(v.name, i), audience: src.serviceAccountToken.audience, expirationSeconds: src.serviceAccountToken.expirationSeconds });
      }
    });
  }
  return out;
}

const tokenKey = (volume: string, index: number) => `${volume}.${index}`.replace(/[^-._a-zA-Z0-9]/g, '_');

/** Host pod annotation that carries the token of projected source `key`. */
export const tokenAnnotation = (key: string) => `${marks.tokenPrefix}${key}`;

/** Adds this tenant's (and virtual namespace's) labels to a label selector. */
function narrowSelector(selector: Json | undefined, tenant: string, namespaces: string[] | undefined): Json {
  const out: Json = structuredClone(selector ?? {});
  out.matchLabels = { ...(out.matchLabels ?? {}), [marks.tenant]: tenant };
  if (namespaces) {
    out.matchExpressions = [...(out.matchExpressions ?? []), { key: marks.namespace, operator: 'In', values: namespaces }];
  }
  return out;
}

function translateAffinityTerm(term: Json, tenant: string, podNamespace: string): Json {
  const t = structuredClone(term);
  // Host pods all live in one namespace; the virtual namespace is a label there. A namespace
  // selector cannot be evaluated against virtual namespaces' labels on the host, so it widens to
  // every namespace of the tenant.
  const namespaces: string[] | undefined = t.namespaceSelector ? undefined : t.namespaces?.length ? t.namespaces : [podNamespace];
  t.labelSelector = narrowSelector(t.labelSelector, tenant, namespaces);
  delete t.namespaces;
  delete t.namespaceSelector;
  return t;
}

function translateAffinity(affinity: Json | undefined, tenant: string, ns: string): Json | undefined {
  if (!affinity) return affinity;
  const a = structuredClone(affinity);
  for (const kind of ['podAffinity', 'podAntiAffinity']) {
    const pa = a[kind];
    if (!pa) continue;
    if (pa.requiredDuringSchedulingIgnoredDuringExecution) {
      pa.requiredDuringSchedulingIgnoredDuringExecution = pa.requiredDuringSchedulingIgnoredDuringExecution.map((t: Json) => translateAffinityTerm(t, tenant, ns));
    }
    if (pa.preferredDuringSchedulingIgnoredDuringExecution) {
      pa.preferredDuringSchedulingIgnoredDuringExecution = pa.preferredDuringSchedulingIgnoredDuringExecution.map((w: Json) => ({
        ...w,
        podAffinityTerm: translateAffinityTerm(w.podAffinityTerm, tenant, ns),
      }));
    }
  }
  return a;
}

/** The host pod's spec for virtual pod `pod`. */
export function hostPodSpec(pod: Pod, ctx: PodTranslateContext): Json {
  const ns = pod.metadata.namespace ?? 'default';
  const h = (name: string) => hostName(name, ns, ctx.tenant);
  const spec: Json = structuredClone(pod.spec);
  spec.serviceAccountName = ctx.hostServiceAccount;
  delete spec.serviceAccount;
  // The host's priority admission computes the value from the class; a copied number can clash.
  delete spec.priority;
  spec.automountServiceAccountToken = false;
  // Host Services are not the tenant's; the tenant's own API is set below.
  spec.enableServiceLinks = false;

  for (const v of spec.volumes ?? []) {
    if (v.configMap?.name) v.configMap.name = h(v.configMap.name);
    if (v.secret?.secretName) v.secret.secretName = h(v.secret.secretName);
    if (v.persistentVolumeClaim?.claimName) v.persistentVolumeClaim.claimName = h(v.persistentVolumeClaim.claimName);
    if (v.projected?.sources) {
      v.projected.sources = v.projected.sources.map((src: Json, i: number) => {
        if (src.configMap?.name) return { ...src, configMap: { ...src.configMap, name: h(src.configMap.name) } };
        if (src.secret?.name) return { ...src, secret: { ...src.secret, name: h(src.secret.name) } };
        if (src.serviceAccountToken) {
          // The token the syncer requested from the tenant's API, at the same path; the kubelet
          // refreshes the file when the syncer renews the token.
          const key = tokenKey(v.name, i);
          const path = src.serviceAccountToken.path;
          if (ctx.tokens === 'annotation') {
            const fieldPath = `metadata.annotations['${tokenAnnotation(key)}']`;
            return { downwardAPI: { items: [{ path, fieldRef: { apiVersion: 'v1', fieldPath } }] } };
          }
          return { secret: { name: ctx.tokens.secretName, items: [{ key, path }] } };
        }
        return src;
      });
    }
  }
  for (const c of allContainers(spec)) {
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef?.name) e.valueFrom.configMapKeyRef.name = h(e.valueFrom.configMapKeyRef.name);
      if (e.valueFrom?.secretKeyRef?.name) e.valueFrom.secretKeyRef.name = h(e.valueFrom.secretKeyRef.name);
    }
    for (const e of c.envFrom ?? []) {
      if (e.configMapRef?.name) e.configMapRef.name = h(e.configMapRef.name);
      if (e.secretRef?.name) e.secretRef.name = h(e.secretRef.name);
    }
    if (ctx.tenantApi) {
      const env = (c.env ?? []).filter((e: Json) => e.name !== 'KUBERNETES_SERVICE_HOST' && e.name !== 'KUBERNETES_SERVICE_PORT');
      env.push({ name: 'KUBERNETES_SERVICE_HOST', value: ctx.tenantApi.host }, { name: 'KUBERNETES_SERVICE_PORT', value: String(ctx.tenantApi.port) });
      c.env = env;
    }
  }
  const policy = spec.dnsPolicy ?? 'ClusterFirst';
  if (ctx.dns && (policy === 'ClusterFirst' || policy === 'ClusterFirstWithHostNet')) {
    // Cluster DNS means the tenant's DNS, with the search path a kubelet would write.
    const d = ctx.dns.clusterDomain;
    const user: Json = spec.dnsConfig ?? {};
    spec.dnsPolicy = 'None';
    spec.dnsConfig = {
      nameservers: [ctx.dns.nameserver, ...(user.nameservers ?? [])].slice(0, 3),
      searches: [`${ns}.svc.${d}`, `svc.${d}`, d, ...(user.searches ?? [])],
      options: user.options ?? [{ name: 'ndots', value: '5' }],
    };
  }
  if (spec.imagePullSecrets) spec.imagePullSecrets = spec.imagePullSecrets.map((p: Json) => ({ name: h(p.name) }));
  spec.affinity = translateAffinity(spec.affinity, ctx.tenant, ns);
  if (spec.affinity === undefined) delete spec.affinity;
  if (spec.topologySpreadConstraints) {
    spec.topologySpreadConstraints = spec.topologySpreadConstraints.map((t: Json) => ({ ...t, labelSelector: narrowSelector(t.labelSelector, ctx.tenant, [ns]) }));
  }
  return spec;
}

/** The fields Kubernetes lets a live pod change, as a projection to compare and patch. */
export function mutablePodFields(spec: Json): Json {
  const images = (list: Json[] | undefined) => (list ?? []).map((c) => ({ image: c.image }));
  return {
    containers: images(spec.containers),
    initContainers: images(spec.initContainers),
    activeDeadlineSeconds: spec.activeDeadlineSeconds ?? null,
    tolerations: spec.tolerations ?? [],
  };
}

const statusFields = [
  'phase', 'conditions', 'message', 'reason', 'hostIP', 'hostIPs', 'podIP', 'podIPs', 'startTime',
  'initContainerStatuses', 'containerStatuses', 'ephemeralContainerStatuses',
] as const;

/** The virtual pod's status as the host pod's status says it should be. */
export function virtualPodStatus(hostStatus: Json | undefined): Json {
  const out: Json = {};
  for (const f of statusFields) if (hostStatus?.[f] !== undefined) out[f] = hostStatus[f];
  return out;
}

/** The same projection of the virtual pod's current status, for comparison. */
export function currentPodStatus(status: Json | undefined): Json {
  return virtualPodStatus(status);
}
