import { describe, expect, it } from 'vitest';
import { deviceOfPath, deviceOfServerName, dotNames } from './device.js';

describe('device ids over encrypted DNS', () => {
  it('DoH: /dns-query names none, /dns-query/ID names ID (case folded); anything else is no DoH path', () => {
    expect(deviceOfPath('/dns-query')).toBe('');
    expect(deviceOfPath('/dns-query/')).toBe('');
    expect(deviceOfPath('/dns-query/alice-phone')).toBe('alice-phone');
    expect(deviceOfPath('/dns-query/Alice-Phone')).toBe('alice-phone');
    expect(deviceOfPath(`/dns-query/${'a'.repeat(63)}`)).toBe('a'.repeat(63));
    for (const bad of [`/dns-query/${'a'.repeat(64)}`, '/dns-query/alice_phone', '/dns-query/alice/phone', '/dns-query/al%20ice', '/dns-query/\u212a', '/dns-queryx', '/other', '/dns-query/a.b']) {
      expect(deviceOfPath(bad), bad).toBeNull();
    }
  });

  it('DoT: the first label of ID.NAME where the certificate carries NAME or *.NAME; the name itself, other names and bad labels name none', () => {
    const names = dotNames(['dns.example.org', '*.dns.example.org', 'example.org']);
    expect(names).toEqual(['dns.example.org', 'example.org']);
    expect(deviceOfServerName('alice-phone.dns.example.org', names)).toBe('alice-phone');
    expect(deviceOfServerName('ALICE-PHONE.DNS.EXAMPLE.ORG', names)).toBe('alice-phone');
    expect(deviceOfServerName('dns.example.org', names)).toBe(''); // the resolver's own name, though it is dns.EXAMPLE.ORG
    expect(deviceOfServerName('a.b.dns.example.org', names)).toBe('');
    expect(deviceOfServerName('alice_phone.dns.example.org', names)).toBe('');
    expect(deviceOfServerName('alice-phone.dns.example.net', names)).toBe('');
    expect(deviceOfServerName('xdns.example.org', ['dns.example.org'])).toBe('');
    expect(deviceOfServerName(false, names)).toBe('');
    expect(deviceOfServerName(undefined, names)).toBe('');
  });
});
