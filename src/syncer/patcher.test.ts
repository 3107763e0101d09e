import { describe, expect, it } from 'vitest';
import { guardedPatch, jsonEqual } from './patcher.ts';

describe('guardedPatch', () => {
  it('is empty when nothing differs', () => {
    expect(guardedPatch({ metadata: { labels: { a: '1' } } }, { metadata: { labels: { a: '1' } } }, '5')).toEqual([]);
  });

  it('tests the resourceVersion, then changes only what differs', () => {
    const ops = guardedPatch(
      { metadata: { labels: { a: '1', b: '2' } }, spec: { containers: [{ image: 'x:1' }, { image: 'y:1' }] } },
      { metadata: { labels: { a: '1', c: '3' } }, spec: { containers: [{ image: 'x:2' }, { image: 'y:1' }] } },
      '42',
    );
    expect(ops[0]).toEqual({ op: 'test', path: '/metadata/resourceVersion', value: '42' });
    expect(ops.slice(1)).toEqual(
      expect.arrayContaining([
        { op: 'remove', path: '/metadata/labels/b' },
        { op: 'add', path: '/metadata/labels/c', value: '3' },
        { op: 'replace', path: '/spec/containers/0/image', value: 'x:2' },
      ]),
    );
    expect(ops).toHaveLength(4);
  });
});

describe('jsonEqual', () => {
  it('ignores key order and treats undefined as null', () => {
    expect(jsonEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 })).toBe(true);
    expect(jsonEqual({ a: 1 }, { a: 2 })).toBe(false);
    expect(jsonEqual(undefined, null)).toBe(true);
  });
});
