import { describe, expect, it } from 'vitest';
import { parseSelector } from './selector.ts';

describe('parseSelector', () => {
  it('matches equality, set and existence requirements', () => {
    const s = parseSelector('app=web, tier!=db, env in (prod, staging), !legacy, team');
    expect(s({ app: 'web', env: 'prod', team: 'a' })).toBe(true);
    expect(s({ app: 'web', env: 'dev', team: 'a' })).toBe(false);
    expect(s({ app: 'web', env: 'prod', team: 'a', legacy: 'x' })).toBe(false);
    expect(s({ app: 'web', env: 'prod' })).toBe(false);
    expect(s({ app: 'web', env: 'prod', team: 'a', tier: 'db' })).toBe(false);
    expect(parseSelector('env notin (prod)')({})).toBe(true);
    expect(parseSelector('')({ any: 'thing' })).toBe(true);
  });

  it('says where it cannot read a selector', () => {
    expect(() => parseSelector('a=b, ===')).toThrow(/cannot read label selector/);
  });
});
