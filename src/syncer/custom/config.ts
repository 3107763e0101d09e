// Custom resource sync configuration: which kinds, which direction, which fields name other synced
// objects; and the wasmCloud profile, one switch that configures the wasmCloud kinds.

export interface CustomReference {
  /** Field path, e.g. spec.artifacts[*].artifactFrom.name. */
  path: string;
  /** Kind of the object the field names: Secret, ConfigMap, or another configured toHost kind. */
  kind: string;
}

export interface CustomResourceSpec {
  /** group/version, e.g. runtime.wasmcloud.dev/v1alpha1. */
  apiVersion: string;
  kind: string;
  /** toHost: the tenant creates it and the host reifies it; fromHost: the host owns it, the tenant sees it. */
  direction: 'toHost' | 'fromHost';
  /** Label selector on the source side: virtual objects (toHost) or host objects (fromHost). */
  selector?: string;
  /** toHost: fields naming other synced objects, rewritten to the host names. */
  references?: CustomReference[];
  /** fromHost, namespaced kinds: the tenant namespace the copies appear in (default vnest-host). */
  virtualNamespace?: string;
  /** fromHost, namespaced kinds: the host namespace to copy from (default: the tenant's). */
  sourceNamespace?: string;
  /** The CRD's plural and scope, as the chart needs them for RBAC; checked against the CRD. */
  plural?: string;
  scope?: 'Namespaced' | 'Cluster';
}

export const profiles: Record<string, CustomResourceSpec[]> = {
  wasmcloud: (() => {
    const g = 'runtime.wasmcloud.dev/v1alpha1';
    // Secret and config references of a workload spec, at `base` (spec or spec.template.spec).
    const workloadRefs = (base: string): CustomReference[] => [
      { path: `${base}.volumes[*].secret.name`, kind: 'Secret' },
      { path: `${base}.volumes[*].configMap.name`, kind: 'ConfigMap' },
      { path: `${base}.components[*].localResources.environment.configFrom[*].name`, kind: 'ConfigMap' },
      { path: `${base}.components[*].localResources.environment.secretFrom[*].name`, kind: 'Secret' },
      { path: `${base}.components[*].imagePullSecret.name`, kind: 'Secret' },
    ];
    return [
      { apiVersion: g, kind: 'Artifact', direction: 'toHost', references: [{ path: 'spec.imagePullSecret.name', kind: 'Secret' }] },
      { apiVersion: g, kind: 'Workload', direction: 'toHost', references: workloadRefs('spec') },
      { apiVersion: g, kind: 'WorkloadReplicaSet', direction: 'toHost', references: workloadRefs('spec.template.spec') },
      {
        apiVersion: g, kind: 'WorkloadDeployment', direction: 'toHost',
        references: [{ path: 'spec.artifacts[*].artifactFrom.name', kind: 'Artifact' }, ...workloadRefs('spec.template.spec')],
      },
      { apiVersion: g, kind: 'Host', direction: 'fromHost' },
      { apiVersion: 'k8s.cosmonic.io/v1alpha1', kind: 'HostGroup', direction: 'fromHost' },
    ];
  })(),
};

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Validates the configured list (from YAML or JSON) and the profiles; lists every problem. */
export function parseCustomResources(raw: unknown, profileNames: string[]): { specs: CustomResourceSpec[]; problems: string[] } {
  const problems: string[] = [];
  const specs: CustomResourceSpec[] = [];
  for (const name of profileNames) {
    const p = profiles[name];
    if (p) specs.push(...p);
    else problems.push(`unknown profile "${name}" (known: ${Object.keys(profiles).join(', ')})`);
  }
  if (raw !== undefined && !Array.isArray(raw)) {
    problems.push('customResources must be a list of {apiVersion, kind, direction, ...}');
    return { specs, problems };
  }
  for (const [i, item] of ((raw as unknown[] | undefined) ?? []).entries()) {
    const at = `customResources[${i}]`;
    if (typeof item !== 'object' || item === null) {
      problems.push(`${at} must be a mapping`);
      continue;
    }
    const s = item as Record<string, unknown>;
    const known = new Set(['apiVersion', 'kind', 'direction', 'selector', 'references', 'virtualNamespace', 'sourceNamespace', 'plural', 'scope']);
    for (const k of Object.keys(s)) if (!known.has(k)) problems.push(`${at}: unknown field "${k}" (known: ${[...known].join(', ')})`);
    if (typeof s.apiVersion !== 'string' || !/^[a-z0-9.-]+\/v[a-z0-9]+$/.test(s.apiVersion)) problems.push(`${at}.apiVersion must be group/version, such as example.com/v1`);
    if (typeof s.kind !== 'string' || !/^[A-Z][A-Za-z0-9]*$/.test(s.kind)) problems.push(`${at}.kind must be a Kind such as Widget`);
    if (s.direction !== 'toHost' && s.direction !== 'fromHost') problems.push(`${at}.direction must be toHost or fromHost`);
    if (s.selector !== undefined && typeof s.selector !== 'string') problems.push(`${at}.selector must be a label selector string`);
    for (const ns of ['virtualNamespace', 'sourceNamespace'] as const) {
      if (s[ns] !== undefined && (typeof s[ns] !== 'string' || !dnsLabel.test(s[ns]))) problems.push(`${at}.${ns} must be a namespace name`);
    }
    if (s.references !== undefined) {
      if (!Array.isArray(s.references) || !s.references.every((r) => typeof r === 'object' && r !== null && typeof (r as CustomReference).path === 'string' && typeof (r as CustomReference).kind === 'string')) {
        problems.push(`${at}.references must be a list of {path, kind}`);
      } else if (s.direction === 'fromHost' && s.references.length > 0) {
        problems.push(`${at}: references are rewritten only for toHost kinds`);
      }
    }
    specs.push(s as unknown as CustomResourceSpec);
  }
  const seen = new Set<string>();
  for (const s of specs) {
    const id = `${s.apiVersion} ${s.kind}`;
    if (seen.has(id)) problems.push(`${id} is configured twice`);
    seen.add(id);
  }
  return { specs, problems };
}
