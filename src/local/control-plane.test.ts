import { describe, expect, it } from 'vitest';
import { firstServiceIp } from './control-plane.ts';

describe('firstServiceIp', () => {
  it('is the first host address of the range', () => {
    expect(firstServiceIp('10.96.0.0/16')).toBe('10.96.0.1');
    expect(firstServiceIp('172.20.0.0/24')).toBe('172.20.0.1');
  });

  it('rejects something that is not an IPv4 CIDR, saying what is expected', () => {
    expect(() => firstServiceIp('fd00::/108')).toThrow(/not an IPv4 CIDR such as 10.96.0.0\/16/);
    expect(() => firstServiceIp('10.300.0.0/16')).toThrow(/not an IPv4 CIDR/);
  });
});
