// Tenant types as `vnest create --type` reads them from the platform team's ConfigMap
// vnest-system/vnest-type-<name>: objects (manifests.yaml) and packaged Helm charts (charts.yaml,
// listing .tgz files kept in the ConfigMap's binaryData), rendered with `helm template` into the one
// manifest file the chart gives the tenant's syncer (value type.manifests), which applies it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parse, stringify } from 'yaml';
import type { KubeObject } from '../kube/client.ts';
import { parseManifests } from '../syncer/bootstrap.ts';
import { dnsLabel } from '../translate/names.ts';
import { CliError } from './host.ts';

/** Where tenant types are: one ConfigMap per type, in the cluster where tenants are created. */
export const tenantTypes = { namespace: 'vnest-system', prefix: 'vnest-type-', manifestsKey: 'manifests.yaml', chartsKey: 'charts.yaml' } as const;

/**
 * The most a type's rendered objects may weigh: they travel as a chart value into the tenant's
 * syncer ConfigMap and helm's release Secret, Kubernetes objects of at most 1 MiB each. The
 * ConfigMap holds the text; the Secret holds it twice (the value, and the rendered ConfigMap),
 * gzipped and base64-encoded, which only text that hardly compresses (encoded blobs) fills first;
 * the estimate below came within 7% of the Secret helm 3.22 wrote, for YAML and for random base64.
 */
export const maxTypeManifestBytes = 900 * 1024;
const releaseSecretBytes = (manifests: string) => Math.ceil((2 * gzipSync(manifests).length * 4) / 3);

/** One entry of charts.yaml: a packaged chart (binaryData key) installed as a release in the tenant. */
export interface TypeChart {
  name: string;
  namespace: string;
  chart: string;
  values: Record<string, unknown>;
}

export type TypeConfigMap = KubeObject & { data?: Record<string, string>; binaryData?: Record<string, string> };

/** Runs helm; `out` is stdout and stderr for messages, `stdout` alone for parsing. */
export type HelmRun = (args: string[]) => Promise<{ code: number; out: string; stdout: string }>;

const chartFields = ['name', 'namespace', 'chart', 'values'];
/** Namespaces every cluster has: a chart's release namespace gets a Namespace object unless it is one. */
const standardNamespaces = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The entries of charts.yaml; throws naming the entry that is wrong and how. */
export function parseTypeCharts(text: string, binaryKeys: string[]): TypeChart[] {
  let list: unknown;
  try {
    list = parse(text);
  } catch (err) {
    throw new Error(`charts.yaml is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  if (list === null || list === undefined) return [];
  if (!Array.isArray(list)) throw new Error('charts.yaml must be a YAML list of entries { name, namespace, chart, values }');
  const seen = new Set<string>();
  return list.map((e: unknown, i): TypeChart => {
    const at = `charts.yaml entry ${i + 1}`;
    if (!isRecord(e)) throw new Error(`${at} is not a mapping with fields name, namespace, chart and values`);
    const unknown = Object.keys(e).filter((k) => !chartFields.includes(k));
    if (unknown.length > 0) throw new Error(`${at} has unknown field(s) ${unknown.join(', ')} (the fields are ${chartFields.join(', ')})`);
    const { name, namespace = 'default', chart, values = {} } = e;
    if (typeof name !== 'string' || !dnsLabel.test(name) || name.length > 53) throw new Error(`${at}: name (the release name) must be a DNS label of at most 53 characters`);
    const named = `${at} (${name})`;
    if (seen.has(name)) throw new Error(`${named}: another entry has this release name`);
    seen.add(name);
    if (typeof namespace !== 'string' || !dnsLabel.test(namespace) || namespace.length > 63) throw new Error(`${named}: namespace must be a namespace name (a DNS label), or left out for "default"`);
    if (typeof chart !== 'string' || !binaryKeys.includes(chart)) {
      throw new Error(`${named}: chart must name a key of the ConfigMap's binaryData holding a packaged chart (.tgz from "helm package"); ${binaryKeys.length ? `its keys are ${binaryKeys.join(', ')}` : 'it has no binaryData'}`);
    }
    if (!isRecord(values)) throw new Error(`${named}: values must be a mapping (the chart's values)`);
    return { name, namespace, chart, values };
  });
}

/**
 * A chart's rendered objects as the tenant gets them: each in the release namespace unless the
 * chart set one (applyBootstrap drops it again from cluster-scoped objects), and that namespace
 * created first when the type does not already make it and the cluster does not always have it.
 */
export function placeChartObjects(objects: KubeObject[], namespace: string, typeNamespaces: ReadonlySet<string>): KubeObject[] {
  const placed = objects.map((o) => (o.metadata.namespace ? o : { ...o, metadata: { ...o.metadata, namespace } }));
  const made = typeNamespaces.has(namespace) || standardNamespaces.has(namespace) || objects.some((o) => o.kind === 'Namespace' && o.metadata.name === namespace);
  return made ? placed : [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }, ...placed];
}

const namespacesOf = (objects: KubeObject[]) => objects.filter((o) => o.kind === 'Namespace' && (o.apiVersion ?? 'v1') === 'v1').map((o) => o.metadata.name);

/**
 * Renders tenant type `type` from its ConfigMap: manifests.yaml as it is, then each chart of
 * charts.yaml (`helm template --include-crds --skip-tests`, so CRDs come along and test hooks
 * do not; other hooks are objects like any). Throws CliError InvalidType (exit 8) saying what to
 * fix; nothing is installed then.
 */
export async function renderTenantType(cm: TypeConfigMap, type: string, helm: HelmRun): Promise<{ manifests: string; objects: number }> {
  const invalid = (what: string) => new CliError('InvalidType', 8, `tenant type ${type}: ${what}. Fix ConfigMap ${tenantTypes.namespace}/${tenantTypes.prefix}${type}.`);
  const own = cm.data?.[tenantTypes.manifestsKey];
  const chartsText = cm.data?.[tenantTypes.chartsKey];
  if (own === undefined && chartsText === undefined) throw invalid(`it has neither key ${tenantTypes.manifestsKey} (objects) nor ${tenantTypes.chartsKey} (Helm charts)`);
  let charts: TypeChart[];
  let ownObjects: KubeObject[];
  try {
    ownObjects = parseManifests(own ?? '', tenantTypes.manifestsKey);
    charts = parseTypeCharts(chartsText ?? '', Object.keys(cm.binaryData ?? {}));
  } catch (err) {
    throw invalid((err as Error).message);
  }
  const typeNamespaces = new Set(namespacesOf(ownObjects));
  const parts = own === undefined ? [] : [own];
  const dir = mkdtempSync(join(tmpdir(), 'vnest-type-'));
  try {
    for (const [i, c] of charts.entries()) {
      const entry = `charts.yaml entry ${i + 1} (${c.name})`;
      const tgz = join(dir, `${i}.tgz`);
      const values = join(dir, `${i}-values.json`);
      writeFileSync(tgz, Buffer.from(cm.binaryData?.[c.chart] ?? '', 'base64'), { mode: 0o600 });
      writeFileSync(values, JSON.stringify(c.values), { mode: 0o600 });
      const res = await helm(['template', c.name, tgz, '--namespace', c.namespace, '--include-crds', '--skip-tests', '-f', values]);
      if (res.code !== 0) throw invalid(`${entry}: helm could not render chart ${c.chart} (is it a chart packaged with "helm package", its dependencies included, and do its values suit it?): ${res.out}`);
      let rendered: KubeObject[];
      try {
        rendered = parseManifests(res.stdout, `chart ${c.chart}`);
      } catch (err) {
        throw invalid(`${entry}: ${(err as Error).message}`);
      }
      const placed = placeChartObjects(rendered, c.namespace, typeNamespaces);
      for (const n of namespacesOf(placed)) typeNamespaces.add(n);
      if (placed.length > 0) parts.push(`# ${entry}: chart ${c.chart}, release namespace ${c.namespace}\n${placed.map((o) => stringify(o)).join('---\n')}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const manifests = parts.join('\n---\n');
  const kib = (n: number) => `${Math.ceil(n / 1024)} KiB`;
  const bytes = Buffer.byteLength(manifests);
  const secretBytes = releaseSecretBytes(manifests);
  const tooLarge = bytes > maxTypeManifestBytes ? `its objects come to ${kib(bytes)}${charts.length ? ' with its charts rendered' : ''}`
    : secretBytes > maxTypeManifestBytes ? `its objects compress so little that they would take ${kib(secretBytes)} of helm's release Secret` : undefined;
  if (tooLarge) {
    throw invalid(`${tooLarge}, more than the ${kib(maxTypeManifestBytes)} a tenant can be given (they are kept in the tenant's syncer ConfigMap and helm's release Secret, `
      + 'Kubernetes objects of at most 1 MiB); leave large charts or data out of the type and install them in the tenant with helm');
  }
  return { manifests, objects: parseManifests(manifests, `tenant type ${type}`).length };
}
