import { describe, expect, it } from 'vitest';
import { metricsTable, sumQuantities, tableVersion } from './metrics-table.ts';

describe('sumQuantities', () => {
  it('adds quantities and writes the sum as Kubernetes does (Quantity.String())', () => {
    expect(sumQuantities(['2136911n', '1000000n'])).toBe('3136911n');
    expect(sumQuantities(['1000000n', '2000000n'])).toBe('3m');
    expect(sumQuantities(['100m', '900m'])).toBe('1');
    expect(sumQuantities(['1500m'])).toBe('1500m');
    expect(sumQuantities(['1500'])).toBe('1500');
    expect(sumQuantities(['2000'])).toBe('2k');
    expect(sumQuantities(['12345Ki', '1Ki'])).toBe('12346Ki');
    expect(sumQuantities(['1023Ki', '1Ki'])).toBe('1Mi');
    expect(sumQuantities(['1.5Gi'])).toBe('1536Mi');
    // Binary below 1024 bytes, or not a whole number of bytes, is written as decimal.
    expect(sumQuantities(['0.5Ki'])).toBe('512');
    expect(sumQuantities(['1e3'])).toBe('1e3');
    expect(sumQuantities(['0', '0m'])).toBe('0');
    expect(sumQuantities([])).toBe('0');
    expect(() => sumQuantities(['12 apples'])).toThrow(/not a Kubernetes quantity/);
  });
});

describe('tableVersion', () => {
  it('finds the Table version kubectl asks for first, and nothing when plain JSON comes first', () => {
    expect(tableVersion('application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json')).toBe('v1');
    expect(tableVersion('application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json')).toBe('v1beta1');
    expect(tableVersion('application/json')).toBeUndefined();
    expect(tableVersion('application/json, application/json;as=Table;v=v1;g=meta.k8s.io')).toBeUndefined();
    expect(tableVersion(undefined)).toBeUndefined();
    expect(tableVersion('application/json;as=Table;v=v2;g=meta.k8s.io,application/json')).toBeUndefined();
  });
});

describe('metricsTable', () => {
  const pod = (name: string, cpu: string[], memory: string[]) => ({
    kind: 'PodMetrics', apiVersion: 'metrics.k8s.io/v1beta1', metadata: { name, namespace: 'ns' }, window: '10.5s',
    containers: cpu.map((c, i) => ({ name: `c${i}`, usage: { memory: memory[i] ?? '0', cpu: c } })),
  });

  it('has metrics-server\'s columns, sums a pod\'s containers, and carries the metadata by default', () => {
    const t = metricsTable({ items: [pod('a', ['1000000n', '2000000n'], ['1Ki', '1023Ki']), pod('b', ['5m'], ['2Mi'])] }, 'v1', null);
    expect(t).toMatchObject({ kind: 'Table', apiVersion: 'meta.k8s.io/v1' });
    expect((t.columnDefinitions as Array<{ name: string; format: string }>).map((c) => [c.name, c.format])).toEqual([['Name', 'name'], ['cpu', 'quantity'], ['memory', 'quantity'], ['Window', 'duration']]);
    expect(t.rows).toEqual([
      { cells: ['a', '3m', '1Mi', '10.5s'], object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: 'a', namespace: 'ns' } } },
      { cells: ['b', '5m', '2Mi', '10.5s'], object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: 'b', namespace: 'ns' } } },
    ]);
  });

  it('takes one object or a node, and includeObject None or Object', () => {
    const node = { kind: 'NodeMetrics', metadata: { name: 'n1' }, window: '20s', usage: { cpu: '250m', memory: '1Gi' } };
    expect(metricsTable(node, 'v1beta1', 'None')).toMatchObject({ apiVersion: 'meta.k8s.io/v1beta1', rows: [{ cells: ['n1', '250m', '1Gi', '20s'] }] });
    expect((metricsTable(node, 'v1', 'None').rows as object[])[0]).not.toHaveProperty('object');
    expect((metricsTable(node, 'v1', 'Object').rows as Array<{ object: unknown }>)[0]?.object).toBe(node);
    expect(metricsTable({ items: [] }, 'v1', null)).toMatchObject({ columnDefinitions: [], rows: [] });
  });
});
