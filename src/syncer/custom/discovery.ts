// At start: find each configured kind's CRD on the host, check the version and reference paths
// against its schema, and copy the CRD into the tenant's control plane so tenants can use the kind.
// A configuration that cannot work fails here, with every problem listed.
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeClient, KubeObject, ResourceType } from '../../kube/client.ts';
import { isNotFound } from '../../kube/errors.ts';
import { marks } from '../../translate/metadata.ts';
import type { CustomResourceSpec } from './config.ts';
import { checkPathInSchema } from './paths.ts';

 
type Crd = KubeObject & { spec: any; status?: any };

export const crdType: ResourceType = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition', namespaced: false };

export interface ResolvedCustomResource {
  spec: CustomResourceSpec;
  type: ResourceType;
  /** The CRD has a status subresource (status is written through /status). */
  statusSubresource: boolean;
  crd: Crd;
}

export class CustomResourceConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`custom resource sync cannot work as configured:\n  - ${problems.join('\n  - ')}`);
    this.name = 'CustomResourceConfigError';
    this.problems = problems;
  }
}

/** Matches configured kinds with the host's CRDs; throws CustomResourceConfigError listing every problem. */
export async function resolveCustomResources(host: KubeClient, specs: CustomResourceSpec[]): Promise<ResolvedCustomResource[]> {
  if (specs.length === 0) return [];
  let crds: Crd[];
  try {
    crds = (await host.list<Crd>(crdType, undefined)).items;
  } catch (err) {
    throw new Error(`cannot list CustomResourceDefinitions on the host (the syncer needs get/list on them when custom resources are configured): ${(err as Error).message}`, { cause: err });
  }
  const problems: string[] = [];
  const out: ResolvedCustomResource[] = [];
  const toHostKinds = new Set(specs.filter((s) => s.direction === 'toHost').map((s) => s.kind));
  for (const spec of specs) {
    const [group, version] = spec.apiVersion.split('/') as [string, string];
    const crd = crds.find((c) => c.spec.group === group && c.spec.names.kind === spec.kind);
    if (!crd) {
      problems.push(`the host serves no ${spec.kind} in ${group}: install its CRD on the host, or remove ${spec.apiVersion} ${spec.kind} from the configuration`);
      continue;
    }
    const v = (crd.spec.versions as any[]).find((x) => x.name === version);
    if (!v?.served) {
      const served = (crd.spec.versions as any[]).filter((x) => x.served).map((x) => x.name).join(', ');
      problems.push(`${crd.metadata.name} does not serve version ${version} (served: ${served})`);
      continue;
    }
    const namespaced = crd.spec.scope === 'Namespaced';
    if (spec.plural && spec.plural !== crd.spec.names.plural) problems.push(`${spec.kind}: plural is ${crd.spec.names.plural} on the host, not ${spec.plural}`);
    if (spec.scope && spec.scope !== crd.spec.scope) problems.push(`${spec.kind}: scope is ${crd.spec.scope} on the host, not ${spec.scope}`);
    if (spec.direction === 'toHost' && !namespaced) problems.push(`${spec.kind} is cluster-scoped; only namespaced kinds can sync toHost (tenants would share one name space on the host)`);
    for (const ref of spec.references ?? []) {
      const why = checkPathInSchema(v.schema?.openAPIV3Schema, ref.path);
      if (why) problems.push(`${spec.kind} reference ${ref.path}: ${why}`);
      if (ref.kind !== 'Secret' && ref.kind !== 'ConfigMap' && !toHostKinds.has(ref.kind)) {
        problems.push(`${spec.kind} reference ${ref.path} names kind ${ref.kind}, which is neither Secret, ConfigMap nor a configured toHost kind`);
      }
    }
    out.push({
      spec,
      type: { group, version, plural: crd.spec.names.plural, kind: spec.kind, namespaced },
      statusSubresource: Boolean(v.subresources?.status),
      crd,
    });
  }
  if (problems.length) throw new CustomResourceConfigError(problems);
  return out;
}

/** Creates or updates each CRD in the tenant's control plane and waits until all are established. */
export async function installVirtualCrds(virtual: KubeClient, resolved: ResolvedCustomResource[], timeoutMs = 60_000): Promise<void> {
  for (const r of resolved) {
    const name = r.crd.metadata.name;
    const body: Crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name, labels: { [marks.managed]: 'true' } },
      spec: r.crd.spec,
    };
    try {
      const existing = await virtual.get<Crd>(crdType, undefined, name);
      if (JSON.stringify(existing.spec.versions) !== JSON.stringify(r.crd.spec.versions) || existing.spec.scope !== r.crd.spec.scope) {
        await virtual.request('PUT', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`, { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata.resourceVersion } });
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await virtual.create(crdType, undefined, body);
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (const r of resolved) {
    for (;;) {
      const crd = await virtual.get<Crd>(crdType, undefined, r.crd.metadata.name);
      if ((crd.status?.conditions ?? []).some((c: any) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${r.crd.metadata.name} did not become established in the tenant's control plane`);
      await sleep(200);
    }
  }
}
