import { describe, expect, it } from 'vitest';
import { childDomain, domainProblem, hostInDomain } from './domains.ts';

describe('domains', () => {
  it('accepts DNS domains and says what is wrong with others', () => {
    expect(domainProblem('team-a.example.org')).toBeUndefined();
    expect(domainProblem('')).toBe('the domain is empty');
    expect(domainProblem('Team.example.org')).toContain('"Team"');
    expect(domainProblem('a..b')).toContain('""');
    expect(domainProblem('-a.b')).toContain('"-a"');
  });

  it('gives a child its name under the parent\'s domain', () => {
    expect(childDomain('foo', 'example.org')).toBe('foo.example.org');
  });

  it('keeps host names to whole labels under the domain', () => {
    expect(hostInDomain('foo.example.org', 'foo.example.org')).toBe(true);
    expect(hostInDomain('app.foo.example.org', 'foo.example.org')).toBe(true);
    expect(hostInDomain('*.foo.example.org', 'foo.example.org')).toBe(true);
    expect(hostInDomain('App.Foo.Example.org', 'foo.example.org')).toBe(true);
    expect(hostInDomain('example.org', 'foo.example.org')).toBe(false);
    expect(hostInDomain('bar.example.org', 'foo.example.org')).toBe(false);
    expect(hostInDomain('evilfoo.example.org', 'foo.example.org')).toBe(false);
    expect(hostInDomain('*.example.org', 'foo.example.org')).toBe(false);
  });
});
