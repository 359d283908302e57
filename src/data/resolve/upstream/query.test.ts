import { describe, expect, it } from 'vitest';
import { Verdict, judgeReply } from './judge.js';
import { RandomBytes, attemptQuery, upstreamQuery, withoutEdns } from './query.js';

const question = Buffer.from([3, ...Buffer.from('w-w'), 7, ...Buffer.from('example'), 3, ...Buffer.from('c0m'), 0, 0, 1, 0, 1]);
const base = upstreamQuery({ question, rd: true, cd: false, dnssecOk: true });

describe('attemptQuery', () => {
  it('changes only the case of letters, and the ID; label lengths, digits and hyphens stay', () => {
    const random = new RandomBytes();
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const q = attemptQuery(base, 0x1234, random);
      expect(q.readUInt16BE(0)).toBe(0x1234);
      expect(q.length).toBe(base.length);
      expect(q.toString('latin1').toLowerCase()).toBe(Buffer.from(base).fill(0x12, 0, 1).fill(0x34, 1, 2).toString('latin1').toLowerCase());
      expect([q[12], q[16], q[24], q[13 + 1], q[26]]).toEqual([3, 7, 3, 0x2d, 0x30]);
      seen.add(q.subarray(12, 12 + question.length).toString('latin1'));
    }
    expect(seen.size).toBeGreaterThan(40); // 10 letters: 1,024 patterns
  });

  it('without EDNS: the same query with no OPT and ARCOUNT 0', () => {
    const plain = withoutEdns(base);
    expect(plain.length).toBe(base.length - 11);
    expect(plain.readUInt16BE(10)).toBe(0);
  });
});

describe('judgeReply', () => {
  const sent = attemptQuery(base, 0xbeef, new RandomBytes());
  const end = 12 + question.length;
  const reply = (edit: (r: Buffer) => void = () => undefined) => {
    const r = Buffer.concat([sent.subarray(0, end)]);
    r[2] |= 0x80;
    r.writeUInt16BE(0, 10);
    edit(r);
    return r;
  };
  it('takes the exact echo, and nothing that differs in ID, case or question count', () => {
    expect(judgeReply(sent, end, reply()).verdict).toBe(Verdict.Answer);
    expect(judgeReply(sent, end, reply((r) => (r[1] ^= 1))).verdict).toBe(Verdict.Spoofed);
    expect(judgeReply(sent, end, reply((r) => (r[2] &= 0x7f))).verdict).toBe(Verdict.Spoofed);
    const flipped = reply();
    const letter = flipped.findIndex((c, i) => i >= 12 && ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a));
    flipped[letter] ^= 0x20;
    expect(judgeReply(sent, end, flipped).verdict).toBe(Verdict.Spoofed);
    expect(judgeReply(sent, end, reply((r) => r.writeUInt16BE(2, 4))).verdict).toBe(Verdict.Spoofed);
  });
  it('reads failure rcodes as failures, with or without the question', () => {
    for (const rcode of [1, 2, 4, 5]) {
      expect(judgeReply(sent, end, reply((r) => (r[3] = rcode))).verdict).toBe(Verdict.Failed);
      const bare = reply((r) => ((r[3] = rcode), r.writeUInt16BE(0, 4))).subarray(0, 12);
      expect(judgeReply(sent, end, bare).verdict).toBe(Verdict.Failed);
    }
    expect(judgeReply(sent, end, reply((r) => (r[3] = 3))).verdict).toBe(Verdict.Answer); // NXDOMAIN is an answer
  });
  it('sees TC, and a malformed record', () => {
    expect(judgeReply(sent, end, reply((r) => (r[2] |= 0x02))).verdict).toBe(Verdict.Truncated);
    const broken = Buffer.concat([reply((r) => r.writeUInt16BE(1, 6)), Buffer.from([0xc0, end, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4])]);
    expect(judgeReply(sent, end, broken).verdict).toBe(Verdict.Malformed);
  });
});
