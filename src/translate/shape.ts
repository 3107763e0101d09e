// Allow-list projection: a host object is built only from the fields a shape names. A field the
// shape does not name is refused (never copied because nobody thought of it), unless the operator
// allowed its path explicitly; fields the host decides for itself are dropped quietly.

/**
 * What happens to one field: `copy` takes the value as it is (a leaf or a subtree known to be
 * safe as a whole); `drop` leaves it out without complaint (the host or vnest sets it); a shape
 * or `{ list }` descends; `{ refuse }` names a known field that is never copied, with the reason.
 */
export type Rule = 'copy' | 'drop' | Shape | { list: Rule } | { refuse: string };
export interface Shape {
  [field: string]: Rule;
}

export const list = (rule: Rule): { list: Rule } => ({ list: rule });

export interface Projection {
  /** Human-readable reasons, each naming the field's path in the object. */
  problems: string[];
}

const isList = (r: Rule): r is { list: Rule } => typeof r === 'object' && 'list' in r && Object.keys(r).length === 1;
const isRefusal = (r: Rule): r is { refuse: string } => typeof r === 'object' && 'refuse' in r && Object.keys(r).length === 1 && typeof r.refuse === 'string';

/** `spec.containers[0].image` → `spec.containers[*].image`: the form operators list. */
export const genericPath = (path: string): string => path.replace(/\[\d+\]/g, '[*]');

/**
 * The part of `value` that `rule` allows, at `path` (for messages). `allowed` holds operator-allowed
 * generic paths (without the kind prefix): a field outside the shape at such a path is copied as
 * it is. Problems are appended to `out`.
 */
export function project(value: unknown, rule: Rule, path: string, out: Projection, allowed: ReadonlySet<string> = new Set()): unknown {
  if (value === undefined || value === null) return value;
  if (rule === 'copy') return structuredClone(value);
  if (rule === 'drop') return allowed.has(genericPath(path)) ? structuredClone(value) : undefined;
  if (isRefusal(rule)) {
    if (allowed.has(genericPath(path))) return structuredClone(value);
    out.problems.push(`${path}: ${rule.refuse}`);
    return undefined;
  }
  if (isList(rule)) {
    if (!Array.isArray(value)) {
      out.problems.push(`${path} must be a list`);
      return undefined;
    }
    return value.map((item, i) => project(item, rule.list, `${path}[${i}]`, out, allowed));
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    out.problems.push(`${path} must be an object`);
    return undefined;
  }
  const result: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const at = path ? `${path}.${key}` : key;
    const sub = Object.hasOwn(rule, key) ? rule[key] : undefined;
    if (sub === undefined) {
      if (allowed.has(genericPath(at))) result[key] = structuredClone(v);
      else if (v !== undefined && v !== null) out.problems.push(`${at} is not on vnest's allow-list of fields`);
      continue;
    }
    const projected = project(v, sub, at, out, allowed);
    if (projected !== undefined) result[key] = projected;
  }
  return result;
}

/** Every generic path a shape names, for documentation and the completeness test. */
export function shapePaths(rule: Rule, path = ''): string[] {
  if (rule === 'copy' || rule === 'drop' || isRefusal(rule)) return [path];
  if (isList(rule)) return shapePaths(rule.list, `${path}[*]`);
  return Object.entries(rule).flatMap(([k, r]) => shapePaths(r, path ? `${path}.${k}` : k));
}
