import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressBytes } from './address.js';
import { readAddress } from './read-address.js';

const read = (text: string): number[] | null => {
  const out = new Uint8Array(16).fill(0xaa); // stale bytes from the previous query must not leak through
  return readAddress(text, out) ? [...out] : null;
};
const reference = (text: string): number[] | null => {
  const bytes = addressBytes(text);
  return bytes === null ? null : [...bytes];
};

describe('readAddress', () => {
  it('reads the forms Node reports, as addressBytes does', () => {
    for (const text of ['127.0.0.2', '0.0.0.0', '255.255.255.255', '::', '::1', '1::', '1::2', 'fe80::1%eth0', '2001:db8:0:1:2:3:4:5', '::ffff:10.1.2.3', '64:ff9b::192.0.2.1']) {
      expect(read(text), text).toEqual(reference(text));
    }
  });

  it('rejects what is not an address', () => {
    for (const text of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.4.', 'a.b.c.d', ':1', '1:', '1:::2', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'localhost', '::1.2.3']) {
      expect(read(text), text).toBeNull();
    }
  });

  it('agrees with addressBytes on random IPv4 and IPv6 addresses in every notation', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        expect(isIP(text)).not.toBe(0);
        expect(read(text)).toEqual(reference(text));
      }),
      { numRuns: 5000, seed: 9 },
    );
  });
});
