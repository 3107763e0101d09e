// Pure translation of pods between virtual and host. The host pod is built from an allow-list of
// the virtual pod's fields (podSpecShape, the one place that says what is copied); every reference
// is translated to this tenant's host copy or refused; the pod must meet the policy's Pod Security
// Standard; fields that pick host resources need the operator's permission. Status maps back.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { KubeObject } from '../kube/client.ts';
import { hostClaimSpec } from './claims.ts';
import { hostSelectorKey, marks } from './metadata.ts';
import { hostName } from './names.ts';
import { containersOf, podSecurityViolations } from './pod-security.ts';
import { withServiceEnv, type EnvVar } from './service-env.ts';
import { allowedPaths, defaultTolerations, type IsolationPolicy } from './policy.ts';
import { list, project, type Projection, type Shape } from './shape.ts';
import { hostPodCertificateSource, podCertificateKey } from './pod-certificates.ts';
import { trustBundleKey, trustBundlesConfigMap } from './trust-bundles.ts';

type Json = Record<string, any>;

export interface Pod extends KubeObject {
  spec: Json & { nodeName?: string; containers: Json[]; volumes?: Json[] };
  status?: Json;
}

export interface PodTranslateContext {
  tenant: string;
  hostServiceAccount: string;
  policy: IsolationPolicy;
  tenantApi?: { host: string; port: number };
  /**
   * Where the host pod finds its service-account tokens: a host Secret (one per pod, keyed by
   * volume and source, or one per service account, keyed by audience and lifetime), or its own
   * annotations.
   */
  tokens: { secretName: string; keys: 'volume' | 'audience' } | 'annotation';
  /** Lifetime of a token whose source names none (default 3600): part of its key in a shared Secret. */
  tokenExpirationSeconds?: number;
  /** The service environment variables of the pod (service-env.ts's podServiceEnv). */
  serviceEnv?: EnvVar[];
  /** The tenant's DNS (its kube-dns Service IP), for pods that use cluster DNS. */
  dns?: { nameserver: string; clusterDomain: string };
  /** The syncer itself bound the virtual pod to a node: its nodeName is not the tenant's choice. */
  boundBySyncer?: boolean;
  /** Image (with sh and sed) of the init container that writes the tenant's FQDN of a pod with a subdomain into its /etc/hosts. */
  hostsImage?: string;
}

const hasCondition = (pod: Pod, type: string) => (pod.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === type && c.status === 'True');

/**
 * True when the syncer bound this virtual pod (pods/binding sets PodScheduled). A tenant can forge
 * the condition, but the host copy never carries the nodeName of such a pod, so that gains nothing.
 */
export const boundBySyncer = (pod: Pod) => Boolean(pod.spec.nodeName) && hasCondition(pod, 'PodScheduled');

// ---- The allow-list -------------------------------------------------------------------------

const keyRef: Shape = { name: 'copy', key: 'copy', optional: 'copy' };
const handler: Shape = {
  exec: { command: 'copy' },
  httpGet: { path: 'copy', port: 'copy', host: 'copy', scheme: 'copy', httpHeaders: 'copy', protocol: 'copy' },
  tcpSocket: { port: 'copy', host: 'copy' },
  sleep: { seconds: 'copy' },
};
const probe: Shape = {
  exec: { command: 'copy' },
  httpGet: handler.httpGet as Shape,
  tcpSocket: handler.tcpSocket as Shape,
  grpc: { port: 'copy', service: 'copy' },
  initialDelaySeconds: 'copy', timeoutSeconds: 'copy', periodSeconds: 'copy', successThreshold: 'copy', failureThreshold: 'copy',
  terminationGracePeriodSeconds: 'copy',
};
const seLinuxOptions: Shape = { user: 'copy', role: 'copy', type: 'copy', level: 'copy' };
const profile: Shape = { type: 'copy', localhostProfile: 'copy' };
const windowsOptions: Shape = { gmsaCredentialSpecName: 'copy', gmsaCredentialSpec: 'copy', runAsUserName: 'copy', hostProcess: 'copy' };
const containerSecurityContext: Shape = {
  capabilities: { add: 'copy', drop: 'copy' },
  privileged: 'copy', seLinuxOptions, windowsOptions, runAsUser: 'copy', runAsGroup: 'copy', runAsNonRoot: 'copy',
  readOnlyRootFilesystem: 'copy', allowPrivilegeEscalation: 'copy', procMount: 'copy', seccompProfile: profile, appArmorProfile: profile,
};
const fieldRef: Shape = { apiVersion: 'copy', fieldPath: 'copy' };
const resourceFieldRef: Shape = { containerName: 'copy', resource: 'copy', divisor: 'copy' };
const container: Shape = {
  name: 'copy', image: 'copy', command: 'copy', args: 'copy', workingDir: 'copy',
  ports: list({ name: 'copy', containerPort: 'copy', protocol: 'copy', hostPort: 'copy', hostIP: 'copy' }),
  envFrom: list({ prefix: 'copy', configMapRef: { name: 'copy', optional: 'copy' }, secretRef: { name: 'copy', optional: 'copy' } }),
  env: list({
    name: 'copy', value: 'copy',
    valueFrom: {
      fieldRef, resourceFieldRef, configMapKeyRef: keyRef, secretKeyRef: keyRef,
      fileKeyRef: { volumeName: 'copy', path: 'copy', key: 'copy', optional: 'copy' },
    },
  }),
  resources: 'copy', resizePolicy: 'copy', restartPolicy: 'copy', restartPolicyRules: 'copy',
  volumeMounts: list({ name: 'copy', readOnly: 'copy', recursiveReadOnly: 'copy', mountPath: 'copy', subPath: 'copy', mountPropagation: 'copy', subPathExpr: 'copy' }),
  volumeDevices: list({ name: 'copy', devicePath: 'copy' }),
  livenessProbe: probe, readinessProbe: probe, startupProbe: probe,
  lifecycle: { postStart: handler, preStop: handler, stopSignal: 'copy' },
  terminationMessagePath: 'copy', terminationMessagePolicy: 'copy', imagePullPolicy: 'copy',
  securityContext: containerSecurityContext,
  stdin: 'copy', stdinOnce: 'copy', tty: 'copy',
};
const downwardItems = list({ path: 'copy', fieldRef, resourceFieldRef, mode: 'copy' });
const keyItems = list({ key: 'copy', path: 'copy', mode: 'copy' });
const notSynced = (what: string) => ({ refuse: `${what} are not synced to the host` });
const volume: Shape = {
  name: 'copy',
  configMap: { name: 'copy', items: keyItems, defaultMode: 'copy', optional: 'copy' },
  secret: { secretName: 'copy', items: keyItems, defaultMode: 'copy', optional: 'copy' },
  downwardAPI: { items: downwardItems, defaultMode: 'copy' },
  emptyDir: { medium: 'copy', sizeLimit: 'copy' },
  persistentVolumeClaim: { claimName: 'copy', readOnly: 'copy' },
  // The claim template is checked and translated like a claim (translateVolumes).
  ephemeral: { volumeClaimTemplate: { metadata: { labels: 'copy', annotations: 'copy' }, spec: 'copy' } },
  csi: { driver: 'copy', readOnly: 'copy', fsType: 'copy', volumeAttributes: 'copy', nodePublishSecretRef: { name: 'copy' } },
  image: { reference: 'copy', pullPolicy: 'copy' },
  // The pod security level refuses it unless the operator allows hostPath.
  hostPath: { path: 'copy', type: 'copy' },
  projected: {
    defaultMode: 'copy',
    sources: list({
      configMap: { name: 'copy', items: keyItems, optional: 'copy' },
      secret: { name: 'copy', items: keyItems, optional: 'copy' },
      downwardAPI: { items: downwardItems },
      serviceAccountToken: { audience: 'copy', expirationSeconds: 'copy', path: 'copy' },
      // Becomes a configMap source of the tenant's trust bundle ConfigMap (trust-bundles.ts).
      clusterTrustBundle: { name: 'copy', signerName: 'copy', labelSelector: 'copy', optional: 'copy', path: 'copy' },
      // Issued by the tenant's signers; becomes a secret source (pod-certificates.ts).
      podCertificate: {
        signerName: 'copy', keyType: 'copy', maxExpirationSeconds: 'copy', credentialBundlePath: 'copy', keyPath: 'copy', certificateChainPath: 'copy', userAnnotations: 'copy',
      },
    }),
  },
};
const nodeSelectorTerm: Shape = { matchExpressions: 'copy', matchFields: 'copy' };
const podAffinityTerm: Shape = { labelSelector: 'copy', namespaces: 'copy', topologyKey: 'copy', namespaceSelector: 'copy', matchLabelKeys: 'copy', mismatchLabelKeys: 'copy' };
const podAffinity: Shape = {
  requiredDuringSchedulingIgnoredDuringExecution: list(podAffinityTerm),
  preferredDuringSchedulingIgnoredDuringExecution: list({ weight: 'copy', podAffinityTerm }),
};

/**
 * Every pod spec field vnest copies to the host, and how. A field missing here never reaches the
 * host: the pod is refused with an Event naming it, unless the operator allowed its path.
 */
export const podSpecShape: Shape = {
  volumes: list(volume),
  initContainers: list(container),
  containers: list(container),
  ephemeralContainers: list({ ...container, targetContainerName: 'copy' }),
  restartPolicy: 'copy',
  terminationGracePeriodSeconds: 'copy',
  activeDeadlineSeconds: 'copy',
  dnsPolicy: 'copy',
  dnsConfig: { nameservers: 'copy', searches: 'copy', options: 'copy' },
  nodeSelector: 'copy',
  // Replaced: host pods run as the host's service account, without its token.
  serviceAccountName: 'drop',
  serviceAccount: 'drop',
  automountServiceAccountToken: 'drop',
  enableServiceLinks: 'drop',
  // Checked against the policy below (node pinning, priority, runtime and scheduler choices).
  nodeName: 'copy',
  hostNetwork: 'copy',
  hostPID: 'copy',
  hostIPC: 'copy',
  shareProcessNamespace: 'copy',
  hostUsers: 'copy',
  securityContext: {
    seLinuxOptions, windowsOptions, runAsUser: 'copy', runAsGroup: 'copy', runAsNonRoot: 'copy', supplementalGroups: 'copy',
    supplementalGroupsPolicy: 'copy', fsGroup: 'copy', sysctls: 'copy', fsGroupChangePolicy: 'copy', seccompProfile: profile,
    appArmorProfile: profile, seLinuxChangePolicy: 'copy',
  },
  imagePullSecrets: list({ name: 'copy' }),
  hostname: 'copy',
  hostnameOverride: 'copy',
  subdomain: 'copy',
  setHostnameAsFQDN: 'copy',
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: list(nodeSelectorTerm) },
      preferredDuringSchedulingIgnoredDuringExecution: list({ weight: 'copy', preference: nodeSelectorTerm }),
    },
    podAffinity,
    podAntiAffinity: podAffinity,
  },
  schedulerName: 'copy',
  tolerations: list({ key: 'copy', operator: 'copy', value: 'copy', effect: 'copy', tolerationSeconds: 'copy' }),
  hostAliases: list({ ip: 'copy', hostnames: 'copy' }),
  priorityClassName: 'copy',
  // Admission on the host computes these from the classes; copied numbers can clash.
  priority: 'drop',
  preemptionPolicy: 'drop',
  overhead: 'drop',
  runtimeClassName: 'copy',
  readinessGates: list({ conditionType: 'copy' }),
  topologySpreadConstraints: list({
    maxSkew: 'copy', topologyKey: 'copy', whenUnsatisfiable: 'copy', labelSelector: 'copy', minDomains: 'copy',
    nodeAffinityPolicy: 'copy', nodeTaintsPolicy: 'copy', matchLabelKeys: 'copy',
  }),
  // The host copy is created once the gates are gone (podsWaitingForGates): it would wait forever.
  schedulingGates: 'drop',
  os: { name: 'copy' },
  resources: 'copy',
  resourceClaims: notSynced('resource claims'),
  schedulingGroup: notSynced('scheduling groups'),
  evictionResponders: { refuse: 'eviction responders act through the host\'s eviction API; they are not synced to the host' },
};

// ---- References ------------------------------------------------------------------------------

export type ReferenceKind = 'configmaps' | 'secrets' | 'pvcs';

/** Volume types whose `secretRef` names a Secret in the pod's namespace (when an operator allows them). */
const secretRefVolumes = ['cephfs', 'rbd', 'iscsi', 'flexVolume', 'scaleIO', 'storageos'] as const;

/**
 * Calls `fn` for every field of `spec` that names a ConfigMap, Secret or claim in the pod's
 * namespace: the object holding the field and the field's name. The one list both reference
 * tracking and translation walk, so they cannot disagree.
 */
function eachReference(spec: Json, fn: (kind: ReferenceKind, holder: Json, field: string) => void): void {
  for (const v of spec.volumes ?? []) {
    if (v.configMap) fn('configmaps', v.configMap, 'name');
    if (v.secret) fn('secrets', v.secret, 'secretName');
    if (v.persistentVolumeClaim) fn('pvcs', v.persistentVolumeClaim, 'claimName');
    if (v.csi?.nodePublishSecretRef) fn('secrets', v.csi.nodePublishSecretRef, 'name');
    if (v.azureFile) fn('secrets', v.azureFile, 'secretName');
    for (const type of secretRefVolumes) if (v[type]?.secretRef) fn('secrets', v[type].secretRef, 'name');
    for (const src of v.projected?.sources ?? []) {
      if (src.configMap) fn('configmaps', src.configMap, 'name');
      if (src.secret) fn('secrets', src.secret, 'name');
    }
  }
  for (const { c } of containersOf(spec)) {
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef) fn('configmaps', e.valueFrom.configMapKeyRef, 'name');
      if (e.valueFrom?.secretKeyRef) fn('secrets', e.valueFrom.secretKeyRef, 'name');
    }
    for (const e of c.envFrom ?? []) {
      if (e.configMapRef) fn('configmaps', e.configMapRef, 'name');
      if (e.secretRef) fn('secrets', e.secretRef, 'name');
    }
  }
  for (const p of spec.imagePullSecrets ?? []) fn('secrets', p, 'name');
}

/** ConfigMaps, Secrets and PVCs a pod references, by virtual name. */
export function podReferences(pod: Pod): Record<ReferenceKind, Set<string>> {
  const out: Record<ReferenceKind, Set<string>> = { configmaps: new Set(), secrets: new Set(), pvcs: new Set() };
  eachReference(pod.spec, (kind, holder, field) => {
    if (typeof holder[field] === 'string' && holder[field]) out[kind].add(holder[field]);
  });
  for (const v of pod.spec.volumes ?? []) {
    const spec = v.ephemeral?.volumeClaimTemplate?.spec;
    for (const ref of [spec?.dataSource, spec?.dataSourceRef]) {
      if (ref?.kind === 'PersistentVolumeClaim' && !ref.apiGroup && typeof ref.name === 'string') out.pvcs.add(ref.name);
    }
  }
  return out;
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

/**
 * Key of a token in a service account's shared host Secret: one per audience and lifetime, so pods
 * asking for the same token share it.
 */
export function audienceTokenKey(src: { audience?: string; expirationSeconds?: number }, defaultSeconds: number): string {
  const seconds = Math.max(src.expirationSeconds ?? defaultSeconds, 600);
  return src.audience ? `token.${seconds}.${createHash('sha256').update(src.audience).digest('hex').slice(0, 16)}` : `token.${seconds}`;
}

/** Host pod annotation that carries the token of projected source `key`. */
export const tokenAnnotation = (key: string) => `${marks.tokenPrefix}${key}`;

// ---- Placement: fields that pick host resources -----------------------------------------------

function placementProblems(spec: Json, policy: IsolationPolicy, boundBySyncer: boolean): string[] {
  const out: string[] = [];
  const pinning = !policy.allow.has('nodeName');
  if (spec.nodeName && !boundBySyncer && pinning) {
    out.push(`spec.nodeName: pods may not pick a host node by name (${spec.nodeName}); the host scheduler places them`);
  }
  const na = spec.affinity?.nodeAffinity;
  const terms: Array<[string, Json]> = [
    ...(na?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []).map((t: Json, i: number) => [`spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[${i}]`, t]),
    ...(na?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((p: Json, i: number) => [`spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[${i}].preference`, p.preference ?? {}]),
  ];
  for (const [path, term] of terms) {
    if (pinning && (term.matchFields ?? []).length > 0) out.push(`${path}.matchFields: pods may not pick host nodes by field`);
  }
  const anyTaint = policy.tolerations.has('*');
  (spec.tolerations ?? []).forEach((t: Json, i: number) => {
    const key: string = t.key ?? '';
    if (anyTaint || (key && (defaultTolerations.includes(key) || policy.tolerations.has(key)))) return;
    out.push(`spec.tolerations[${i}]: tolerating ${key ? `taint ${key}` : 'every taint'} is not permitted on this host`);
  });
  const listed = (field: string, value: string | undefined, allowed: ReadonlySet<string>, what: string) => {
    if (value && !allowed.has(value)) out.push(`spec.${field}: ${what} ${value} is not permitted on this host${allowed.size ? ` (permitted: ${[...allowed].join(', ')})` : ''}`);
  };
  for (const [key, value] of Object.entries(policy.nodeSelector)) {
    const own: unknown = spec.nodeSelector?.[key];
    if (own !== undefined && own !== value) out.push(`spec.nodeSelector.${key}: this tenant's pods run on host nodes with ${key}=${value}, not ${JSON.stringify(own)}`);
  }
  listed('priorityClassName', spec.priorityClassName, policy.priorityClasses, 'priority class');
  listed('runtimeClassName', spec.runtimeClassName, policy.runtimeClasses, 'runtime class');
  if (spec.schedulerName !== 'default-scheduler') listed('schedulerName', spec.schedulerName, policy.schedulers, 'scheduler');
  return out;
}

// ---- Translation -----------------------------------------------------------------------------

/**
 * Adds this tenant's (and virtual namespace's) labels to a label selector; the tenant's own
 * vnest.dev/ keys (a nested tenant's narrowing) select as its pods carry them on the host.
 */
function narrowSelector(selector: Json | undefined, tenant: string, namespaces: string[] | undefined): Json {
  const out: Json = structuredClone(selector ?? {});
  const labels = Object.fromEntries(Object.entries((out.matchLabels ?? {}) as Record<string, string>).map(([k, v]) => [hostSelectorKey(k), v]));
  if (out.matchExpressions) out.matchExpressions = (out.matchExpressions as Json[]).map((r) => ({ ...r, key: hostSelectorKey(r.key as string) }));
  out.matchLabels = { ...labels, [marks.tenant]: tenant };
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

function translateAffinity(a: Json, tenant: string, ns: string): void {
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
}

/** The pod's own name, namespace and UID are the virtual ones, which the host pod carries as marks. */
const virtualFieldPaths: Record<string, string> = {
  'metadata.name': `metadata.annotations['${marks.objectName}']`,
  'metadata.namespace': `metadata.annotations['${marks.objectNamespace}']`,
  'metadata.uid': `metadata.annotations['${marks.objectUid}']`,
};

function translateFieldRef(ref: Json | undefined): void {
  if (ref?.fieldPath && virtualFieldPaths[ref.fieldPath]) ref.fieldPath = virtualFieldPaths[ref.fieldPath];
}

function translateVolumes(pod: Pod, spec: Json, ns: string, ctx: PodTranslateContext, out: Projection, allowed: ReadonlySet<string>): void {
  (spec.volumes ?? []).forEach((v: Json, i: number) => {
    for (const item of v.downwardAPI?.items ?? []) translateFieldRef(item.fieldRef);
    const template = v.ephemeral?.volumeClaimTemplate;
    if (template) {
      template.spec = hostClaimSpec(template.spec ?? {}, ns, ctx.tenant, `spec.volumes[${i}].ephemeral.volumeClaimTemplate.spec`, out, allowed);
    }
    if (!v.projected?.sources) return;
    const hostPod = hostName(pod.metadata.name, ns, ctx.tenant);
    v.projected.sources = v.projected.sources.map((src: Json, j: number) => {
      for (const item of src.downwardAPI?.items ?? []) translateFieldRef(item.fieldRef);
      if (src.clusterTrustBundle) {
        // The tenant's bundles, as the syncer keeps them in its ConfigMap; never the host's.
        return { configMap: { name: trustBundlesConfigMap(ctx.tenant), items: [{ key: trustBundleKey(src.clusterTrustBundle), path: src.clusterTrustBundle.path }] } };
      }
      if (src.podCertificate) return hostPodCertificateSource(src.podCertificate, podCertificateKey(v.name, j), hostPod);
      if (!src.serviceAccountToken) return src;
      // The token the syncer requested from the tenant's API, at the same path; the kubelet
      // refreshes the file when the syncer renews the token.
      const path = src.serviceAccountToken.path;
      const key = ctx.tokens !== 'annotation' && ctx.tokens.keys === 'audience' ? audienceTokenKey(src.serviceAccountToken, ctx.tokenExpirationSeconds ?? 3600) : tokenKey(v.name, j);
      if (ctx.tokens === 'annotation') {
        return { downwardAPI: { items: [{ path, fieldRef: { apiVersion: 'v1', fieldPath: `metadata.annotations['${tokenAnnotation(key)}']` } }] } };
      }
      return { secret: { name: ctx.tokens.secretName, items: [{ key, path }] } };
    });
  });
}

/**
 * The host pod's spec for virtual pod `pod`, and every reason it must not reach the host (empty
 * when it may). The spec holds only allow-listed fields, with references translated.
 */
export function translatePod(pod: Pod, ctx: PodTranslateContext): { spec: Json; problems: string[] } {
  const ns = pod.metadata.namespace ?? 'default';
  const out: Projection = { problems: [] };
  const allowed = allowedPaths(ctx.policy, 'Pod');
  const spec = (project(pod.spec, podSpecShape, 'spec', out, allowed) ?? {}) as Json;
  out.problems.push(...podSecurityViolations(spec, ctx.policy), ...placementProblems(spec, ctx.policy, ctx.boundBySyncer ?? false));
  if (ctx.boundBySyncer) delete spec.nodeName;
  // The operator's node selector places every pod of the tenant: the host nodes it may use.
  if (Object.keys(ctx.policy.nodeSelector).length > 0) spec.nodeSelector = { ...spec.nodeSelector, ...ctx.policy.nodeSelector };

  // The container sees its virtual name as its host name, as on a real cluster (a name with dots
  // is no host name: the kubelet's default, the host pod's name, stays then).
  if (!spec.hostname && /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(pod.metadata.name ?? '')) spec.hostname = pod.metadata.name;
  spec.serviceAccountName = ctx.hostServiceAccount;
  spec.automountServiceAccountToken = false;
  // Host Services are not the tenant's; the tenant's own API is set below.
  spec.enableServiceLinks = false;

  eachReference(spec, (_kind, holder, field) => {
    if (typeof holder[field] === 'string' && holder[field]) holder[field] = hostName(holder[field], ns, ctx.tenant);
  });
  translateVolumes(pod, spec, ns, ctx, out, allowed);
  const apiEnv = ctx.tenantApi ? [{ name: 'KUBERNETES_SERVICE_HOST', value: ctx.tenantApi.host }, { name: 'KUBERNETES_SERVICE_PORT', value: String(ctx.tenantApi.port) }] : [];
  const injected = [...apiEnv, ...(ctx.serviceEnv ?? []).filter((e) => !apiEnv.some((a) => a.name === e.name))];
  for (const { c } of containersOf(spec)) {
    for (const e of c.env ?? []) translateFieldRef(e.valueFrom?.fieldRef);
    // The tenant's Services as a kubelet would give them (service-env.ts), and in-pod clients'
    // address of the tenant API in place of the host API's; what the pod sets itself wins, as it
    // does over a kubelet's (a nested tenant's syncer sets its own tenant's API).
    if (injected.length > 0) c.env = withServiceEnv(c.env, injected);
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
  if (spec.affinity) translateAffinity(spec.affinity, ctx.tenant, ns);
  if (spec.topologySpreadConstraints) {
    spec.topologySpreadConstraints = spec.topologySpreadConstraints.map((t: Json) => ({ ...t, labelSelector: narrowSelector(t.labelSelector, ctx.tenant, [ns]) }));
  }
  if (ctx.hostsImage) rewriteHosts(spec, ns, ctx.hostsImage, ctx.dns?.clusterDomain ?? 'cluster.local');
  return { spec, problems: out.problems };
}

/** Name of the init container (and its volume) that rewrites /etc/hosts (rewriteHosts). */
export const hostsContainerName = 'vnest-hosts';

/**
 * A pod with a subdomain (a StatefulSet's) finds its FQDN in /etc/hosts, which the host's kubelet
 * writes with the host namespace and cluster domain: hostname.subdomain.<host namespace>.svc.<host
 * domain>. Clients that advertise their own FQDN (databases, brokers) would hand out a name the
 * tenant's DNS does not know. An init container, last so that the tenant's init containers keep
 * their positions, copies the kubelet's file with the tenant's FQDN into an emptyDir that the pod's
 * containers mount at /etc/hosts (the kubelet leaves a container's /etc/hosts alone when it mounts
 * one). It runs with the first container's resources, so the pod's requests and QoS class stay.
 */
function rewriteHosts(spec: Json, ns: string, image: string, clusterDomain: string): void {
  const { hostname, subdomain } = spec;
  if (!hostname || !subdomain || spec.hostNetwork || spec.os?.name === 'windows') return;
  const all: Json[] = [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
  if (all.some((c) => c.name === hostsContainerName) || (spec.volumes ?? []).some((v: Json) => v.name === hostsContainerName)) return;
  const containers = (spec.containers ?? []).filter((c: Json) => !(c.volumeMounts ?? []).some((m: Json) => m.mountPath === '/etc/hosts'));
  if (containers.length === 0) return;
  // Names are DNS labels (the API server checks): only the dots need escaping for sed.
  const pattern = `${hostname}.${subdomain}.`.replaceAll('.', '\\.');
  const fqdn = `${hostname}.${subdomain}.${ns}.svc.${clusterDomain}`;
  // The kubelet's line is "IP FQDN hostname"; a host alias naming the same prefix is left alone.
  const script = `sed -E 's/^([^#[:space:]]+[[:space:]]+)${pattern}[^[:space:]]+([[:space:]]+${hostname})$/\\1${fqdn}\\2/' /etc/hosts > /${hostsContainerName}/hosts`;
  spec.volumes = [...(spec.volumes ?? []), { name: hostsContainerName, emptyDir: {} }];
  spec.initContainers = [...(spec.initContainers ?? []), {
    name: hostsContainerName,
    image,
    imagePullPolicy: 'IfNotPresent',
    command: ['sh', '-c', script],
    ...(spec.containers[0]?.resources ? { resources: structuredClone(spec.containers[0].resources) } : {}),
    securityContext: {
      runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [{ name: hostsContainerName, mountPath: `/${hostsContainerName}` }],
  }];
  for (const c of containers) c.volumeMounts = [...(c.volumeMounts ?? []), { name: hostsContainerName, mountPath: '/etc/hosts', subPath: 'hosts' }];
}

/**
 * The host pod's spec without what the syncer added to it on its own (rewriteHosts' init container
 * and volume), to compare with the virtual pod's; a tenant's own container of that name stays.
 */
export function hostPodView(hSpec: Json, vSpec: Json): Json {
  const ours = (list: Json[] | undefined) => !(list ?? []).some((c) => c.name === hostsContainerName);
  if (!ours(vSpec.initContainers) || ours(hSpec.initContainers)) return hSpec;
  return { ...hSpec, initContainers: (hSpec.initContainers ?? []).filter((c: Json) => c.name !== hostsContainerName) };
}

/** Verdicts of podProblems per policy, by the pod's UID, spec generation and a digest of the rest. */
const verdicts = new WeakMap<IsolationPolicy, LRUCache<string, readonly string[]>>();
const noProblems: readonly string[] = Object.freeze([]);
/** The verdict of each (frozen, so unchanging) pod object already judged, with the policy it was judged under. */
const verdictOf = new WeakMap<Pod, [IsolationPolicy, readonly string[]]>();

/**
 * Why the pod must not reach the host under `policy` (empty when it may). The verdict is a full
 * translation, and a pod is looked at on every status change: it is kept per pod and spec
 * generation, with the fields a live pod may change (and its node, which binding sets without a
 * new generation) digested into the key, so an API server that does not count generations of pods
 * cannot make a changed spec pass on an old verdict.
 */
export function podProblems(pod: Pod, policy: IsolationPolicy): readonly string[] {
  const seen = verdictOf.get(pod);
  if (seen?.[0] === policy) return seen[1];
  const bound = boundBySyncer(pod);
  const compute = () => translatePod(pod, { tenant: 'x', hostServiceAccount: 'x', tokens: 'annotation', policy, boundBySyncer: bound }).problems;
  const { uid, generation } = pod.metadata;
  if (!uid || generation === undefined) return compute();
  // The runtime class is in: the host class a tenant's class stands for can be told only later.
  // A node the syncer bound the pod to is not looked at (placementProblems), so a pod's verdict
  // before its binding holds after it.
  const live = JSON.stringify([mutablePodFields(pod.spec ?? {}), pod.spec?.ephemeralContainers ?? null, bound ? null : pod.spec?.nodeName ?? null, pod.spec?.runtimeClassName ?? null]);
  const key = `${uid}/${generation}/${createHash('sha1').update(live).digest('base64')}`;
  let cache = verdicts.get(policy);
  if (!cache) verdicts.set(policy, (cache = new LRUCache({ max: 50_000 })));
  let verdict = cache.get(key);
  if (verdict === undefined) {
    const problems = compute();
    verdict = problems.length === 0 ? noProblems : Object.freeze(problems);
    cache.set(key, verdict);
  }
  // Informers hand the same frozen object to every handler and reconcile: it is digested once.
  if (Object.isFrozen(pod)) verdictOf.set(pod, [policy, verdict]);
  return verdict;
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

type Resources = { requests?: Record<string, string>; limits?: Record<string, string> };

/** Whether `have` holds every request and limit `want` sets, at the same quantity. */
function resourcesCover(have: Resources | undefined, want: Resources | undefined): boolean {
  for (const part of ['requests', 'limits'] as const) {
    for (const [name, quantity] of Object.entries(want?.[part] ?? {})) if (have?.[part]?.[name] !== quantity) return false;
  }
  return true;
}

/**
 * In-place resize: the strategic merge patch for the host pod's `resize` subresource that gives its
 * containers (and the pod) the requests and limits the virtual pod sets, or undefined when the host
 * pod has them. Only quantities the tenant sets are compared, so defaults the host adds (a
 * LimitRange) are left alone instead of being fought over.
 */
export function podResizePatch(vSpec: Json, hSpec: Json): Json | undefined {
  const spec: Json = {};
  for (const field of ['containers', 'initContainers'] as const) {
    const host = new Map<string, Json>((hSpec[field] ?? []).map((c: Json) => [c.name, c]));
    const changed = (vSpec[field] ?? []).filter((c: Json) => host.has(c.name) && !resourcesCover(host.get(c.name)?.resources, c.resources));
    if (changed.length) spec[field] = changed.map((c: Json) => ({ name: c.name, resources: c.resources }));
  }
  if (vSpec.resources && !resourcesCover(hSpec.resources, vSpec.resources)) spec.resources = vSpec.resources;
  return Object.keys(spec).length ? { spec } : undefined;
}

/**
 * Whether the host pod's spec carries every change to the virtual pod that the syncer passes on
 * (images, deadline, tolerations, resources, ephemeral containers): then what the host's kubelet
 * has observed of its pod, it has observed of the virtual pod.
 */
export function hostSpecCurrent(vSpec: Json, hSpec: Json): boolean {
  const want = mutablePodFields(vSpec);
  const have = mutablePodFields(hSpec);
  const tolerations = have.tolerations as Json[];
  const ephemeral = new Set((hSpec.ephemeralContainers ?? []).map((c: Json) => c.name));
  return JSON.stringify(want.containers) === JSON.stringify(have.containers)
    && JSON.stringify(want.initContainers) === JSON.stringify(have.initContainers)
    && want.activeDeadlineSeconds === have.activeDeadlineSeconds
    && (want.tolerations as Json[]).every((t) => tolerations.some((h) => JSON.stringify(h) === JSON.stringify(t)))
    && (vSpec.ephemeralContainers ?? []).every((c: Json) => ephemeral.has(c.name))
    && podResizePatch(vSpec, hSpec) === undefined;
}

/**
 * Pod condition types the kubelet (or the scheduler) writes: the host pod's say what they are.
 * Any other condition in the tenant (a readiness gate a tenant controller sets, the
 * DisruptionTarget its eviction API adds) is the tenant's own and stays when the host lacks it.
 */
const kubeletConditionTypes = new Set([
  'PodScheduled', 'Initialized', 'Ready', 'ContainersReady', 'PodReadyToStartContainers', 'PodResizePending', 'PodResizeInProgress',
]);

/**
 * The virtual pod's readiness-gate conditions that the host pod's status should carry, so the
 * host's kubelet counts them in Ready; undefined when it has them all. Gates naming a kubelet
 * condition are not passed on (the tenant cannot make the host's kubelet report ready).
 */
export function readinessGatePatch(vPod: Pod, hostStatus: Json | undefined): Json | undefined {
  const gates = new Set((vPod.spec.readinessGates ?? []).map((g: Json) => g.conditionType).filter((t: string) => !kubeletConditionTypes.has(t)));
  if (gates.size === 0) return undefined;
  const have = new Map<string, Json>((hostStatus?.conditions ?? []).map((c: Json) => [c.type, c]));
  const same = (a: Json, b: Json | undefined) => b !== undefined && a.status === b.status && (a.reason ?? '') === (b.reason ?? '') && (a.message ?? '') === (b.message ?? '');
  const conditions = (vPod.status?.conditions ?? [])
    .filter((c: Json) => gates.has(c.type) && !same(c, have.get(c.type)))
    .map((c: Json) => pick(c, ['type', 'status', 'reason', 'message', 'lastTransitionTime', 'lastProbeTime']));
  return conditions.length ? { status: { conditions } } : undefined;
}

/** Copy of `o` with only `keys`. */
function pick(o: Json, keys: string[]): Json {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

/**
 * The status a virtual pod gets when its host pod is gone before the pod reached a terminal phase
 * (evicted, deleted by an admin, or a grace period the host cut short): what a kubelet writes for a
 * pod it stopped: Failed (Succeeded when every container had exited 0), not ready.
 */
export function stoppedPodStatus(status: Json | undefined): Json {
  const containers: Json[] = status?.containerStatuses ?? [];
  const succeeded = containers.length > 0 && containers.every((c) => c.state?.terminated?.exitCode === 0);
  const now = new Date().toISOString();
  const notReady = new Set(['Ready', 'ContainersReady']);
  const conditions = (status?.conditions ?? []).map((c: Json) => (notReady.has(c.type) && c.status !== 'False' ? { ...c, status: 'False', reason: 'PodCompleted', lastTransitionTime: now } : c));
  return {
    phase: succeeded ? 'Succeeded' : 'Failed',
    ...(conditions.length ? { conditions } : {}),
    containerStatuses: containers.map((c) => (c.state?.terminated ? c : {
      ...c,
      ready: false,
      started: false,
      state: { terminated: { exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was terminated', startedAt: c.state?.running?.startedAt, finishedAt: now } },
      lastState: c.state?.running ? {} : (c.lastState ?? {}),
    })),
  };
}

const statusFields = [
  'phase', 'conditions', 'message', 'reason', 'hostIP', 'hostIPs', 'podIP', 'podIPs', 'startTime',
  'initContainerStatuses', 'containerStatuses', 'ephemeralContainerStatuses', 'resize', 'observedGeneration',
] as const;

/**
 * How a host pod's status reads in the tenant. The two pods count generations apart (the
 * syncer folds many virtual changes into one host patch), so a host generation the kubelet observed
 * means the virtual pod's generation only when the host pod is that generation and carries every
 * virtual change (hostSpecCurrent); anything older keeps what the virtual status said before. An
 * init container the syncer added has no status in the tenant.
 */
export interface HostPodStatusContext {
  /** The host pod's metadata.generation. */
  host: number;
  /** The virtual pod's metadata.generation. */
  virtual: number;
  /** hostSpecCurrent of the two pods. */
  current: boolean;
  /** The virtual pod's status now. */
  previous?: Json;
  /** An init container of the host pod's that the virtual pod does not have (hostsContainerName). */
  dropInitContainer?: string;
}

/**
 * The virtual pod's status as the host pod's status says it should be, its generations mapped
 * (without `generations`: the status fields the syncer keeps, as they are).
 */
export function virtualPodStatus(hostStatus: Json | undefined, generations?: HostPodStatusContext): Json {
  const out: Json = {};
  for (const f of statusFields) if (hostStatus?.[f] !== undefined) out[f] = hostStatus[f];
  if (!generations) return out;
  if (generations.dropInitContainer && Array.isArray(out.initContainerStatuses)) {
    out.initContainerStatuses = out.initContainerStatuses.filter((c: Json) => c.name !== generations.dropInitContainer);
    if (out.initContainerStatuses.length === 0) delete out.initContainerStatuses;
  }
  const map = (observed: number | undefined, before: number | undefined): number | undefined => {
    if (observed === undefined) return undefined;
    return generations.current && observed >= generations.host ? generations.virtual : before;
  };
  const setOrDrop = (o: Json, value: number | undefined) => {
    if (value === undefined) delete o.observedGeneration;
    else o.observedGeneration = value;
  };
  // The tenant's own conditions (any but kubeletConditionTypes) are its to change: they stay as
  // they are, over a host copy of the same type (readinessGatePatch passes them to the host).
  const own = (generations.previous?.conditions ?? []).filter((c: Json) => !kubeletConditionTypes.has(c.type));
  if (own.length) out.conditions = [...(out.conditions ?? []).filter((h: Json) => !own.some((c: Json) => c.type === h.type)), ...own];
  if ('observedGeneration' in out) setOrDrop(out, map(out.observedGeneration, generations.previous?.observedGeneration));
  if (Array.isArray(out.conditions) && out.conditions.some((c: Json) => c.observedGeneration !== undefined)) {
    const before = new Map<string, Json>((generations.previous?.conditions ?? []).map((c: Json) => [c.type, c]));
    out.conditions = out.conditions.map((c: Json) => {
      if (c.observedGeneration === undefined) return c;
      const mapped = { ...c };
      setOrDrop(mapped, map(c.observedGeneration, before.get(c.type)?.observedGeneration));
      return mapped;
    });
  }
  return out;
}
