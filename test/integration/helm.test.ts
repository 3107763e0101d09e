// helm from the kit renders a chart.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { kit } from '../helpers.ts';

describe('helm', () => {
  it('reports the pinned version', async () => {
    const k = await kit();
    const { stdout } = await promisify(execFile)(k.bin.helm, ['version', '--template', '{{.Version}}']);
    expect(stdout.trim()).toBe(k.versions.helm);
  });

  it('renders a chart with helm template', async () => {
    const { stdout } = await promisify(execFile)((await kit()).bin.helm, [
      'template', 'demo', 'test/fixtures/charts/sample', '--namespace', 'team-a', '--set', 'greeting=hi',
    ]);
    const docs = parseAllDocuments(stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace: string }; data: Record<string, string> });
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({ kind: 'ConfigMap', metadata: { name: 'demo-sample', namespace: 'team-a' }, data: { greeting: 'hi' } });
  });
});
