// PersistentVolumeClaim specs, for claims and for the claim templates of generic ephemeral
// volumes: an allow-list of fields, data sources only from this tenant's own claims, and no way
// to pick a host volume.
import { hostName } from './names.ts';
import { project, type Projection, type Shape } from './shape.ts';

type Json = Record<string, any>;

const hostBinds = 'on a shared host the host binds claims to volumes';

export const claimSpecShape: Shape = {
  accessModes: 'copy',
  resources: 'copy',
  storageClassName: 'copy',
  volumeMode: 'copy',
  volumeAttributesClassName: 'copy',
  dataSource: 'copy',
  dataSourceRef: 'copy',
  selector: { refuse: `a claim may not select volumes by label; ${hostBinds}` },
  volumeName: { refuse: `a claim may not name a volume; ${hostBinds}` },
};

/** Claims this claim spec clones from, by virtual name (in the claim's namespace). */
export function claimSources(spec: Json | undefined): string[] {
  const out: string[] = [];
  for (const ref of [spec?.dataSource, spec?.dataSourceRef]) {
    if (isClaimRef(ref) && typeof ref.name === 'string') out.push(ref.name);
  }
  return out;
}

const isClaimRef = (ref: Json | undefined): boolean => ref?.kind === 'PersistentVolumeClaim' && !ref.apiGroup;

/**
 * The host claim spec for a virtual claim spec at `path` in namespace `namespace`: allow-listed
 * fields, data sources translated to this tenant's host copies. Problems are appended to `out`.
 */
export function hostClaimSpec(spec: Json, namespace: string, tenant: string, path: string, out: Projection, allowed: ReadonlySet<string>): Json {
  const result = (project(spec, claimSpecShape, path, out, allowed) ?? {}) as Json;
  for (const field of ['dataSource', 'dataSourceRef'] as const) {
    const ref: Json | undefined = result[field];
    if (!ref) continue;
    if (!isClaimRef(ref)) {
      out.problems.push(`${path}.${field}: ${ref.apiGroup ? `${ref.apiGroup}/` : ''}${ref.kind} data sources are not synced; only this tenant's own claims can be cloned`);
      continue;
    }
    if (ref.namespace !== undefined && ref.namespace !== namespace) {
      out.problems.push(`${path}.${field}.namespace: a claim can only be cloned from its own namespace`);
      continue;
    }
    result[field] = { kind: 'PersistentVolumeClaim', name: hostName(ref.name, namespace, tenant) };
  }
  return result;
}
