import { describe, expect, it } from 'vitest';
import type { Informer } from '../../kube/informer.ts';
import { hostRuntimeClass, type RuntimeClass } from './runtime-classes.ts';

const rc = (name: string, handler: string, managed = false): RuntimeClass => ({ metadata: { name, ...(managed ? { labels: { 'vnest.dev/managed': 'true' } } : {}) }, handler });
/** An informer's cache over `items`: all hostRuntimeClass reads. */
const cache = (items: RuntimeClass[]) => ({
  get: (name: string) => items.find((i) => i.metadata.name === name),
  list: (filter: (o: RuntimeClass) => boolean) => items.filter(filter),
}) as unknown as Informer<RuntimeClass>;

describe('hostRuntimeClass', () => {
  const host = cache([rc('gvisor', 'runsc'), rc('gvisor-b', 'runsc'), rc('kata', 'kata'), rc('runc-fast', 'runc')]);
  const permitted = new Set(['gvisor', 'gvisor-b', 'runc-fast']);

  it('keeps the name of vnest\'s copy of a host class, and of a class the tenant does not have', () => {
    expect(hostRuntimeClass('gvisor', { host, virtual: cache([rc('gvisor', 'runsc', true)]) }, permitted)).toBe('gvisor');
    expect(hostRuntimeClass('missing', { host, virtual: cache([]) }, permitted)).toBe('missing');
  });

  it('runs a tenant\'s own class as the permitted host class of its handler, the one of the same name first', () => {
    expect(hostRuntimeClass('mine', { host, virtual: cache([rc('mine', 'runsc')]) }, permitted)).toBe('gvisor');
    expect(hostRuntimeClass('gvisor-b', { host, virtual: cache([rc('gvisor-b', 'runsc')]) }, permitted)).toBe('gvisor-b');
    expect(hostRuntimeClass('fast', { host, virtual: cache([rc('fast', 'runc')]) }, permitted)).toBe('runc-fast');
  });

  it('finds no host class for a handler only unpermitted host classes have, or when none is permitted', () => {
    expect(hostRuntimeClass('my-kata', { host, virtual: cache([rc('my-kata', 'kata')]) }, permitted)).toBe('my-kata');
    expect(hostRuntimeClass('mine', { virtual: cache([rc('mine', 'runsc')]) }, new Set())).toBe('mine');
  });
});
