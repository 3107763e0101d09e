import { describe, expect, it } from 'vitest';
import { parseManifests } from './bootstrap.ts';

describe('parseManifests', () => {
  it('reads every object of a multi-document file, skipping empty documents', () => {
    const objs = parseManifests('apiVersion: v1\nkind: Namespace\nmetadata: { name: a }\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: b, namespace: a }\n', 'types.yaml');
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Namespace/a', 'ConfigMap/b']);
  });

  it('names the document that is not valid YAML or not an object', () => {
    expect(() => parseManifests('a: [\n', 'types.yaml')).toThrow(/types.yaml: document 1 is not valid YAML/);
    expect(() => parseManifests('apiVersion: v1\nkind: Namespace\nmetadata: { name: a }\n---\n- 1\n', 'types.yaml')).toThrow(/document 2 is not a Kubernetes object/);
    expect(() => parseManifests('kind: Namespace\nmetadata: { name: a }\n', 'types.yaml')).toThrow(/apiVersion, kind and metadata.name are required/);
  });
});
