import { describe, expect, it } from 'vitest';
import { checkPathInSchema, parsePath, readPath, rewritePath } from './paths.ts';

const wd = {
  spec: {
    artifacts: [{ name: 'a', artifactFrom: { name: 'hello' } }, { name: 'b', artifactFrom: { name: 'other' } }, { name: 'c' }],
    template: { spec: { volumes: [{ name: 'v', secret: { name: 's1' } }, { name: 'w', configMap: { name: 'c1' } }] } },
    imagePullSecret: { name: 'pull' },
  },
};

describe('reference paths', () => {
  it('reads every string a path reaches, skipping missing parts', () => {
    expect(readPath(wd, 'spec.artifacts[*].artifactFrom.name')).toEqual(['hello', 'other']);
    expect(readPath(wd, 'spec.template.spec.volumes[*].secret.name')).toEqual(['s1']);
    expect(readPath(wd, 'spec.imagePullSecret.name')).toEqual(['pull']);
    expect(readPath(wd, 'spec.nothing.here')).toEqual([]);
  });

  it('rewrites in place', () => {
    const copy = structuredClone(wd);
    rewritePath(copy, 'spec.artifacts[*].artifactFrom.name', (n) => `${n}-x`);
    expect(readPath(copy, 'spec.artifacts[*].artifactFrom.name')).toEqual(['hello-x', 'other-x']);
    expect(copy.spec.artifacts[2]).toEqual({ name: 'c' });
  });

  it('rejects a path that is not a field path', () => {
    expect(() => parsePath('spec..name')).toThrow(/not a dotted field path/);
    expect(() => parsePath('spec.items[0].name')).toThrow(/not a dotted field path/);
  });

  it('checks a path against a structural schema', () => {
    const schema = {
      type: 'object',
      properties: {
        spec: { type: 'object', properties: {
          artifacts: { type: 'array', items: { type: 'object', properties: { artifactFrom: { type: 'object', properties: { name: { type: 'string' } } } } } },
          replicas: { type: 'integer' },
          config: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        } },
      },
    };
    expect(checkPathInSchema(schema, 'spec.artifacts[*].artifactFrom.name')).toBeUndefined();
    expect(checkPathInSchema(schema, 'spec.config.anything.name')).toBeUndefined();
    expect(checkPathInSchema(schema, 'spec.artifact.name')).toBe('the schema has no field spec.artifact');
    expect(checkPathInSchema(schema, 'spec.replicas')).toMatch(/integer in the schema, not a name/);
    expect(checkPathInSchema(schema, 'spec[*].x')).toMatch(/spec is not a list/);
  });
});
