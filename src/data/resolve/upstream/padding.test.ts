import { describe, expect, it } from 'vitest';
import { readU16 } from '../../../wire/message.js';
import { upstreamQuery, withoutEdns } from './query.js';
import { padQuery } from './padding.js';

const question = (name: string) => {
  const parts: number[] = [];
  for (const l of name.split('.')) parts.push(l.length, ...Buffer.from(l));
  return Uint8Array.from([...parts, 0, 0, 1, 0, 1]);
};

describe('padQuery (RFC 8467, RFC 7828)', () => {
  it('pads every query to a multiple of 128 octets, with keepalive and padding options in its OPT', () => {
    for (const name of ['a.b', 'chat.deepseek.com', `${'x'.repeat(60)}.${'y'.repeat(60)}.example`]) {
      const q = upstreamQuery({ question: question(name), rd: true, cd: false, dnssecOk: true });
      const padded = padQuery(q);
      expect(padded.length % 128).toBe(0);
      expect(padded.subarray(0, q.length - 2)).toEqual(q.subarray(0, q.length - 2));
      const rdlength = readU16(padded, q.length - 2);
      expect(q.length + rdlength).toBe(padded.length);
      expect([readU16(padded, q.length), readU16(padded, q.length + 2)]).toEqual([11, 0]); // edns-tcp-keepalive, empty
      expect(readU16(padded, q.length + 4)).toBe(12); // padding
      expect(readU16(padded, q.length + 6)).toBe(padded.length - q.length - 8);
      expect(padded.subarray(q.length + 8).every((b) => b === 0)).toBe(true);
    }
  });

  it('leaves a query without OPT as it is (a server that refused EDNS)', () => {
    const q = withoutEdns(upstreamQuery({ question: question('a.b'), rd: true, cd: false, dnssecOk: false }));
    expect(padQuery(q)).toBe(q);
  });
});
