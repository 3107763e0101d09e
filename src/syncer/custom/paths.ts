// Reference paths into custom resources: dotted field names with `[*]` for every element of a
// list, e.g. `spec.artifacts[*].artifactFrom.name`. Read, rewrite in place, and check against a
// CRD's OpenAPI schema so a path that cannot exist fails at start.

 
type Step = { field: string; each: boolean };

export function parsePath(path: string): Step[] {
  if (!/^[A-Za-z_][\w-]*(\[\*\])?(\.[A-Za-z_][\w-]*(\[\*\])?)*$/.test(path)) {
    throw new Error(`reference path '${path}' is not a dotted field path such as spec.items[*].secretRef.name`);
  }
  return path.split('.').map((part) => (part.endsWith('[*]') ? { field: part.slice(0, -3), each: true } : { field: part, each: false }));
}

/** Calls `fn` with the parent and key of every string value the path reaches. */
function visit(obj: any, steps: Step[], fn: (parent: any, key: string | number) => void): void {
  if (obj === null || typeof obj !== 'object' || steps.length === 0) return;
  const [step, ...rest] = steps as [Step, ...Step[]];
  const value = obj[step.field];
  if (value === undefined || value === null) return;
  if (step.each) {
    if (!Array.isArray(value)) return;
    value.forEach((item, i) => (rest.length === 0 ? typeof item === 'string' && fn(value, i) : visit(item, rest, fn)));
    return;
  }
  if (rest.length === 0) {
    if (typeof value === 'string') fn(obj, step.field);
    return;
  }
  visit(value, rest, fn);
}

/** Every string the path reaches in `obj`. */
export function readPath(obj: unknown, path: string): string[] {
  const out: string[] = [];
  visit(obj, parsePath(path), (parent, key) => out.push(parent[key] as string));
  return out;
}

/** Replaces every string the path reaches in `obj` (in place) with `map(value)`. */
export function rewritePath(obj: unknown, path: string, map: (value: string) => string): void {
  visit(obj, parsePath(path), (parent, key) => {
    parent[key] = map(parent[key] as string);
  });
}

/**
 * Why `path` cannot exist under `schema` (an openAPIV3Schema), or undefined. A schema that
 * preserves unknown fields accepts anything below it.
 */
export function checkPathInSchema(schema: any, path: string): string | undefined {
  let node = schema;
  let walked = '';
  for (const step of parsePath(path)) {
    if (node?.['x-kubernetes-preserve-unknown-fields'] && !node.properties?.[step.field]) return undefined;
    const next = node?.properties?.[step.field];
    walked = walked ? `${walked}.${step.field}` : step.field;
    if (!next) return `the schema has no field ${walked}`;
    if (step.each) {
      if (next.type !== 'array') return `${walked} is not a list in the schema, so ${walked}[*] cannot be used`;
      node = next.items;
      walked += '[*]';
    } else {
      node = next;
    }
  }
  if (node?.type && node.type !== 'string') return `${path} is a ${node.type} in the schema, not a name (string)`;
  return undefined;
}
