// Minimal writes: a JSON patch of only the fields that differ, guarded by the object's
// resourceVersion so a concurrent change turns into a conflict (and a quiet requeue) instead of a
// lost update.
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';

/**
 * The JSON patch turning `current` into `desired`, both projections of only the fields a syncer
 * manages, with a resourceVersion test first. Empty when nothing differs.
 */
export function guardedPatch(current: object, desired: object, resourceVersion: string | undefined): Operation[] {
  const ops = fastJsonPatch.compare(current, desired);
  if (ops.length === 0) return [];
  return resourceVersion ? [{ op: 'test', path: '/metadata/resourceVersion', value: resourceVersion }, ...ops] : ops;
}

/** Deep equality of JSON values (key order does not matter). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return fastJsonPatch.compare({ v: a ?? null }, { v: b ?? null }).length === 0;
}
