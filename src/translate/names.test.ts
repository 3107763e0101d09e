import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hostName, splitKey, validateTenantName } from './names.ts';

describe('hostName', () => {
  it('joins name, namespace and tenant with -x-', () => {
    expect(hostName('web-1', 'default', 't1')).toBe('web-1-x-default-x-t1');
  });

  it('keeps 63 characters as they are', () => {
    const name = 'a'.repeat(63 - '-x-ns-x-t'.length);
    expect(hostName(name, 'ns', 't')).toHaveLength(63);
    expect(hostName(name, 'ns', 't')).toBe(`${name}-x-ns-x-t`);
  });

  it('shortens longer names to 52 characters, a dash and 10 hex digits of the SHA-256', () => {
    const name = 'b'.repeat(60);
    const full = `${name}-x-team-a-x-t1`;
    const out = hostName(name, 'team-a', 't1');
    expect(out).toHaveLength(63);
    expect(out).toBe(`${full.slice(0, 52)}-${createHash('sha256').update(full).digest('hex').slice(0, 10)}`);
    expect(hostName(`${name}c`, 'team-a', 't1')).not.toBe(out);
  });
});

describe('keys', () => {
  it('splits namespaced and cluster-scoped keys', () => {
    expect(splitKey('ns/a')).toEqual({ namespace: 'ns', name: 'a' });
    expect(splitKey('node-1')).toEqual({ namespace: '', name: 'node-1' });
  });
});

describe('validateTenantName', () => {
  it('accepts a DNS label and explains what is wrong otherwise', () => {
    expect(validateTenantName('team-a')).toBeUndefined();
    expect(validateTenantName('Team_A')).toMatch(/lower-case letters/);
    expect(validateTenantName('a'.repeat(41))).toMatch(/limit is 40/);
  });
});
