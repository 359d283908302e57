import { describe, expect, it } from 'vitest';
import { addressBytes } from '../../net/address.js';
import { AddressNames, ipv6Text } from './address-names.js';

const v6 = (text: string) => addressBytes(text)!;

describe('a datagram source as text', () => {
  it('writes IPv6 as inet_ntop does (what node:dgram reports)', () => {
    const cases: [string, string][] = [
      ['::1', '::1'],
      ['::', '::'],
      ['2001:db8::1', '2001:db8::1'],
      ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
      ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'],
      ['fe80::a:b', 'fe80::a:b'],
      ['1::', '1::'],
      ['0:0:1::', '0:0:1::'],
      ['::ffff:192.0.2.7', '::ffff:192.0.2.7'],
      ['::192.0.2.7', '::192.0.2.7'],
      ['FFFF:ABCD::', 'ffff:abcd::'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ];
    for (const [input, text] of cases) expect(ipv6Text(v6(input), 0), input).toBe(text);
    expect(ipv6Text(v6('fe80::1'), 0, 3)).toBe('fe80::1%3');
    expect(ipv6Text(v6('2001:db8::1'), 0, 3)).toBe('2001:db8::1');
  });

  it('gives the same string for the same source, and the right one when sources collide in the table', () => {
    const names = new AddressNames();
    const a = new Uint8Array([192, 0, 2, 1]);
    const first = names.of(a, 0, 4, 0);
    expect(first).toBe('192.0.2.1');
    expect(names.of(a, 0, 4, 0)).toBe(first);
    // Far more sources than entries: each is still named right.
    for (let i = 0; i < 5000; i++) {
      const b = new Uint8Array([10, (i >> 16) & 255, (i >> 8) & 255, i & 255]);
      expect(names.of(b, 0, 4, 0)).toBe(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    }
    const six = new Uint8Array(20);
    six.set(v6('2001:db8::5'), 4);
    expect(names.of(six, 4, 16, 0)).toBe('2001:db8::5');
  });
});
