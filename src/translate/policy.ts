// The isolation policy: what a tenant may ask of the shared host, with safe defaults and the
// operator's explicit settings that loosen them. Every translation reads its limits from here.

export const podSecurityLevels = ['baseline', 'restricted', 'privileged'] as const;
export type PodSecurityLevel = (typeof podSecurityLevels)[number];

/**
 * Single exceptions to the pod security level, by control, plus `nodeName` (pinning pods to host
 * nodes by name or by node affinity `matchFields`).
 */
export const policyExceptions = [
  'nodeName', 'hostNetwork', 'hostPID', 'hostIPC', 'hostPath', 'privileged', 'capabilities', 'hostPorts',
  'appArmor', 'seLinux', 'procMount', 'seccomp', 'sysctls', 'hostProbes', 'hostProcess', 'volumeTypes', 'privilegeEscalation', 'runAsNonRoot', 'runAsUser',
] as const;
export type PolicyException = (typeof policyExceptions)[number];

export const serviceTypes = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] as const;

export interface IsolationPolicy {
  podSecurity: PodSecurityLevel;
  allow: ReadonlySet<PolicyException>;
  /** Operator-allowed fields outside the allow-lists, as `Kind.path` (e.g. `Pod.spec.x`). */
  allowFields: ReadonlySet<string>;
  priorityClasses: ReadonlySet<string>;
  runtimeClasses: ReadonlySet<string>;
  /** Scheduler names besides the host's default scheduler. */
  schedulers: ReadonlySet<string>;
  /** Taint keys tenant pods may tolerate besides the defaults; `*` for any. */
  tolerations: ReadonlySet<string>;
  /** Label and annotation keys, or prefixes ending in `/`, copied to host objects besides the defaults. */
  hostLabels: readonly string[];
  hostAnnotations: readonly string[];
  serviceTypes: ReadonlySet<string>;
  /** Host IngressClasses tenant Ingresses may name (an Ingress naming none gets the host's default). */
  ingressClasses: ReadonlySet<string>;
  /**
   * Host node labels every host pod of the tenant is placed by (added to its nodeSelector): the
   * host nodes it may use. Empty: any node the host scheduler picks.
   */
  nodeSelector: Readonly<Record<string, string>>;
}

/** Taints every pod tolerates for a while: the virtual control plane's admission adds these. */
export const defaultTolerations: readonly string[] = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'];

/**
 * Label keys copied to host objects by default: keys without a prefix, and the prefixes Kubernetes
 * itself and common charts use for selection. Prefixed keys of anything else (admission webhooks,
 * identity injectors, CNI and mesh add-ons act on labels like `azure.workload.identity/use` or
 * `sidecar.istio.io/inject`) are dropped unless the operator lists them.
 */
export const defaultHostLabels: readonly string[] = [
  '', 'app.kubernetes.io/', 'helm.sh/', 'statefulset.kubernetes.io/pod-name', 'apps.kubernetes.io/pod-index',
  'controller-revision-hash', 'pod-template-hash', 'pod-template-generation', 'batch.kubernetes.io/job-name',
  'batch.kubernetes.io/controller-uid', 'batch.kubernetes.io/job-completion-index', 'job-name', 'controller-uid',
];

/**
 * Annotation keys copied by default: unprefixed keys and the few kubectl ones that only tools
 * read. Prefixed annotations are what host add-ons act on (CNI, security profiles, load
 * balancers, DNS controllers, autoscalers, secret injectors), so they stay behind.
 */
export const defaultHostAnnotations: readonly string[] = ['', 'kubectl.kubernetes.io/default-container'];

/** The default policy: Pod Security Standards baseline and nothing host-picking. */
export function defaultPolicy(overrides: Partial<IsolationPolicy> = {}): IsolationPolicy {
  return {
    podSecurity: 'baseline',
    allow: new Set(),
    allowFields: new Set(),
    priorityClasses: new Set(),
    runtimeClasses: new Set(),
    schedulers: new Set(),
    tolerations: new Set(),
    hostLabels: [],
    hostAnnotations: [],
    serviceTypes: new Set(serviceTypes),
    ingressClasses: new Set(),
    nodeSelector: {},
    ...overrides,
  };
}

/**
 * Whether `key` matches an entry of `list`: the same key, a prefix ending in `/` that the key
 * starts with, or `""` for keys without a prefix.
 */
export function keyListed(key: string, list: readonly string[]): boolean {
  const slash = key.indexOf('/');
  return list.some((entry) => (entry === '' ? slash < 0 : entry.endsWith('/') ? key.startsWith(entry) : entry === key));
}

/** Operator-allowed paths of one kind, without the `Kind.` prefix. */
export function allowedPaths(policy: IsolationPolicy, kind: string): Set<string> {
  const prefix = `${kind}.`;
  return new Set([...policy.allowFields].filter((f) => f.startsWith(prefix)).map((f) => f.slice(prefix.length)));
}
