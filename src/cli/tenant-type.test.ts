import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifests } from '../syncer/bootstrap.ts';
import { CliError } from './host.ts';
import { maxTypeManifestBytes, parseTypeCharts, placeChartObjects, renderTenantType, type HelmRun, type TypeConfigMap } from './tenant-type.ts';

describe('parseTypeCharts', () => {
  it('reads entries, the namespace defaulting to "default" and values to none', () => {
    expect(parseTypeCharts('- { name: tools, chart: tools.tgz }\n- name: mon\n  namespace: monitoring\n  chart: mon.tgz\n  values: { replicas: 2 }\n', ['tools.tgz', 'mon.tgz'])).toEqual([
      { name: 'tools', namespace: 'default', chart: 'tools.tgz', values: {} },
      { name: 'mon', namespace: 'monitoring', chart: 'mon.tgz', values: { replicas: 2 } },
    ]);
    expect(parseTypeCharts('', [])).toEqual([]);
  });

  it('names the entry that is wrong and what to fix', () => {
    const bad = (text: string) => () => parseTypeCharts(text, ['tools.tgz']);
    expect(bad('a: [')).toThrow(/charts.yaml is not valid YAML/);
    expect(bad('name: tools')).toThrow(/must be a YAML list/);
    expect(bad('- tools.tgz')).toThrow(/entry 1 is not a mapping/);
    expect(bad('- { name: tools, chart: tools.tgz, value: {} }')).toThrow(/entry 1 has unknown field\(s\) value/);
    expect(bad('- { name: Tools, chart: tools.tgz }')).toThrow(/entry 1: name \(the release name\) must be a DNS label/);
    expect(bad('- { name: tools, chart: tools.tgz }\n- { name: tools, chart: tools.tgz }')).toThrow(/entry 2 \(tools\): another entry has this release name/);
    expect(bad('- { name: tools, namespace: a_b, chart: tools.tgz }')).toThrow(/entry 1 \(tools\): namespace must be a namespace name/);
    expect(bad('- { name: tools, chart: other.tgz }')).toThrow(/entry 1 \(tools\): chart must name a key of the ConfigMap's binaryData .*its keys are tools.tgz/);
    expect(() => parseTypeCharts('- { name: tools, chart: tools.tgz }', [])).toThrow(/it has no binaryData/);
    expect(bad('- { name: tools, chart: tools.tgz, values: [1] }')).toThrow(/values must be a mapping/);
  });
});

describe('placeChartObjects', () => {
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } };
  const elsewhere = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b', namespace: 'other' } };

  it('puts objects without a namespace into the release namespace and creates it first', () => {
    expect(placeChartObjects([cm, elsewhere], 'tools', new Set())).toEqual([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tools' } },
      { ...cm, metadata: { name: 'a', namespace: 'tools' } },
      elsewhere,
    ]);
  });

  it('adds no Namespace the cluster always has, the type already makes, or the chart renders', () => {
    const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tools' } };
    expect(placeChartObjects([cm], 'default', new Set()).map((o) => o.kind)).toEqual(['ConfigMap']);
    expect(placeChartObjects([cm], 'kube-system', new Set()).map((o) => o.kind)).toEqual(['ConfigMap']);
    expect(placeChartObjects([cm], 'tools', new Set(['tools'])).map((o) => o.kind)).toEqual(['ConfigMap']);
    expect(placeChartObjects([cm, ns], 'tools', new Set()).map((o) => o.kind)).toEqual(['ConfigMap', 'Namespace']);
  });
});

describe('renderTenantType', () => {
  const tgz = Buffer.from('a packaged chart').toString('base64');
  const rendered = '---\n# Source: tools/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tools-settings\ndata: { greeting: hi }\n'
    + '---\n# Source: tools/templates/cr.yaml\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: tools-viewer\nrules: []\n';
  /** A helm that renders `rendered` and records what it was asked and what it read. */
  const fakeHelm = (result: Partial<Awaited<ReturnType<HelmRun>>> = {}) => {
    const calls: Array<{ args: string[]; chart: string; values: unknown }> = [];
    const helm: HelmRun = async (args) => {
      const file = (flag: number) => readFileSync(args[flag] ?? '', 'utf8');
      calls.push({ args, chart: file(2), values: JSON.parse(file(args.indexOf('-f') + 1)) as unknown });
      return { code: 0, out: '', stdout: rendered, ...result };
    };
    return { helm, calls };
  };
  const typeMap = (data: Record<string, string>, binaryData: Record<string, string> = { 'tools.tgz': tgz }): TypeConfigMap => ({ metadata: { name: 'vnest-type-team' }, data, binaryData });
  const charts = '- name: tools\n  namespace: tools\n  chart: tools.tgz\n  values: { greeting: hi }\n';
  const own = 'apiVersion: v1\nkind: Namespace\nmetadata: { name: team-apps }\n';

  it('appends each chart, rendered with CRDs and without test hooks, to the type\'s own objects', async () => {
    const { helm, calls } = fakeHelm();
    const out = await renderTenantType(typeMap({ 'manifests.yaml': own, 'charts.yaml': charts }), 'team', helm);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args.slice(0, 2)).toEqual(['template', 'tools']);
    expect(calls[0]?.args.slice(3)).toEqual(['--namespace', 'tools', '--include-crds', '--skip-tests', '-f', expect.stringMatching(/values\.json$/)]);
    expect(calls[0]?.chart).toBe('a packaged chart');
    expect(calls[0]?.values).toEqual({ greeting: 'hi' });
    const objects = parseManifests(out.manifests, 'out');
    expect(objects.map((o) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`)).toEqual([
      'Namespace /team-apps', 'Namespace /tools', 'ConfigMap tools/tools-settings', 'ClusterRole tools/tools-viewer',
    ]);
    expect(out.objects).toBe(4);
    expect(out.manifests.startsWith(own)).toBe(true);
  });

  it('takes a type with charts only, or objects only', async () => {
    const { helm, calls } = fakeHelm();
    expect((await renderTenantType(typeMap({ 'charts.yaml': charts }), 'team', helm)).objects).toBe(3);
    expect(await renderTenantType(typeMap({ 'manifests.yaml': own }), 'team', helm)).toEqual({ manifests: own, objects: 1 });
    expect(calls).toHaveLength(1);
  });

  const refusal = async (cm: TypeConfigMap, helm: HelmRun = fakeHelm().helm): Promise<CliError> => {
    const err = await renderTenantType(cm, 'team', helm).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect(err).toMatchObject({ code: 'InvalidType', exitCode: 8 });
    expect((err as Error).message).toMatch(/Fix ConfigMap vnest-system\/vnest-type-team\.$/);
    return err as CliError;
  };

  it('refuses a type that helm cannot render, naming the entry and helm\'s reason', async () => {
    const err = await refusal(typeMap({ 'charts.yaml': charts }), fakeHelm({ code: 1, out: 'Error: chart requires kubeVersion: >=9.0.0' }).helm);
    expect(err.message).toContain('tenant type team: charts.yaml entry 1 (tools): helm could not render chart tools.tgz');
    expect(err.message).toContain('chart requires kubeVersion: >=9.0.0');
    const notObjects = await refusal(typeMap({ 'charts.yaml': charts }), fakeHelm({ stdout: 'kind: ConfigMap\n' }).helm);
    expect(notObjects.message).toContain('charts.yaml entry 1 (tools): chart tools.tgz: document 1 is not a Kubernetes object');
  });

  it('refuses a type without objects or charts, with bad manifests, or with a bad charts.yaml', async () => {
    expect((await refusal(typeMap({ other: 'x' }))).message).toContain('it has neither key manifests.yaml (objects) nor charts.yaml (Helm charts)');
    expect((await refusal(typeMap({ 'manifests.yaml': 'a: [' }))).message).toContain('manifests.yaml: document 1 is not valid YAML');
    expect((await refusal(typeMap({ 'charts.yaml': '- { name: tools, chart: nope.tgz }' }))).message).toContain('entry 1 (tools): chart must name a key');
  });

  it('refuses a type whose objects would not fit in the tenant\'s chart values', async () => {
    const big = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big' }, data: { blob: 'x'.repeat(maxTypeManifestBytes) } };
    const err = await refusal(typeMap({ 'charts.yaml': charts }), fakeHelm({ stdout: JSON.stringify(big) }).helm);
    expect(err.message).toMatch(/its objects come to 9\d\d KiB with its charts rendered, more than the 900 KiB/);
    // Just under the limit is fine.
    const fits = { ...big, data: { blob: 'x'.repeat(maxTypeManifestBytes - 1024) } };
    expect((await renderTenantType(typeMap({ 'manifests.yaml': JSON.stringify(fits) }), 'team', fakeHelm().helm)).objects).toBe(1);
  });

  it('refuses a type that would not fit in helm\'s release Secret because it hardly compresses', async () => {
    const blob = (bytes: number) => JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'blob' }, data: { blob: randomBytes(bytes).toString('base64') } });
    // 600 KiB of base64: under the ConfigMap's limit, but twice that, gzipped (to 3/4) and base64-encoded again is about 1.2 MiB.
    const err = await refusal(typeMap({ 'manifests.yaml': blob(450 * 1024) }));
    expect(err.message).toMatch(/its objects compress so little that they would take 1\d{3} KiB of helm's release Secret, more than the 900 KiB/);
    expect((await renderTenantType(typeMap({ 'manifests.yaml': blob(300 * 1024) }), 'team', fakeHelm().helm)).objects).toBe(1);
  });
});
