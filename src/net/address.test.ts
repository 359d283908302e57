import { describe, expect, it } from 'vitest';
import { addressBytes, cidrContains, clientAddress, parseCidr, parseHostPort } from './address.js';

describe('clientAddress', () => {
  it('names one client one way, whichever socket it came through', () => {
    expect(clientAddress('10.0.0.5')).toBe('10.0.0.5');
    expect(clientAddress('::ffff:10.0.0.5')).toBe('10.0.0.5');
    expect(clientAddress('::FFFF:0a00:0005')).toBe('10.0.0.5');
    expect(clientAddress('2001:DB8:0:0::1')).toBe('2001:db8::1');
    expect(clientAddress('fe80::1%eth0')).toBeNull();
    expect(clientAddress('chat.deepseek.com')).toBeNull();
  });
});

describe('parseHostPort', () => {
  it('reads IPv4 and IPv6 with and without ports', () => {
    expect(parseHostPort('9.9.9.9', 53)).toEqual({ host: '9.9.9.9', port: 53, family: 4 });
    expect(parseHostPort('127.0.0.1:5399', 53)).toEqual({ host: '127.0.0.1', port: 5399, family: 4 });
    expect(parseHostPort('::1', 53)).toEqual({ host: '::1', port: 53, family: 6 });
    expect(parseHostPort('[2001:db8::1]:853', 53)).toEqual({ host: '2001:db8::1', port: 853, family: 6 });
  });
  it('writes hosts in canonical form, as a reply source address reads', () => {
    expect(parseHostPort('[0:0:0:0:0:0:0:1]:53', 53)).toEqual({ host: '::1', port: 53, family: 6 });
    expect(parseHostPort('2001:DB8:0:0::1', 53)?.host).toBe('2001:db8::1');
    expect(parseHostPort('[::FFFF:127.0.0.1]:5300', 53)?.host).toBe('::ffff:127.0.0.1');
    expect(parseHostPort('[fe80::0:1%lo]:53', 53)?.host).toBe('fe80::1%lo');
  });
  it('rejects names and bad ports', () => {
    expect(parseHostPort('dns.google', 53)).toBeNull();
    expect(parseHostPort('1.2.3.4:99999', 53)).toBeNull();
    expect(parseHostPort('1.2.3.4:x', 53)).toBeNull();
  });
});

describe('CIDR', () => {
  const inside = (cidr: string, addr: string) => cidrContains(parseCidr(cidr)!, addressBytes(addr)!);
  it('matches IPv4 prefixes, including IPv4-mapped IPv6 clients of a dual-stack socket', () => {
    expect(inside('10.0.0.0/8', '10.200.1.1')).toBe(true);
    expect(inside('10.0.0.0/8', '11.0.0.1')).toBe(false);
    expect(inside('10.30.1.0/24', '::ffff:10.30.1.77')).toBe(true);
    expect(inside('172.16.0.0/12', '172.31.255.255')).toBe(true);
    expect(inside('172.16.0.0/12', '172.32.0.0')).toBe(false);
    expect(inside('10.30.0.5', '10.30.0.5')).toBe(true);
    expect(inside('10.30.0.5', '10.30.0.6')).toBe(false);
  });
  it('matches IPv6 prefixes and keeps the families apart', () => {
    expect(inside('fc00::/7', 'fd12::1')).toBe(true);
    expect(inside('fc00::/7', 'fe80::1')).toBe(false);
    expect(inside('::1/128', '::1')).toBe(true);
    expect(inside('0.0.0.0/0', '2001:db8::1')).toBe(false);
  });
  it('rejects malformed prefixes', () => {
    expect(parseCidr('10.0.0.0/33')).toBeNull();
    expect(parseCidr('10.0.0/8')).toBeNull();
    expect(parseCidr('fc00::/129')).toBeNull();
  });
});
