import { describe, expect, it } from 'vitest';
import { checkName, readReplyShape } from './records.js';

// Replies built byte by byte: header, the question for a.example A IN, then records.
const QUESTION = [1, 0x61, 7, ...Buffer.from('example'), 0, 0, 1, 0, 1];
const QUESTION_END = 12 + QUESTION.length; // 29
const NAME_PTR = [0xc0, 12]; // a.example, compressed

function reply(counts: [number, number, number], ...records: number[][]): Buffer {
  const header = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, counts[0], 0, counts[1], 0, counts[2]];
  return Buffer.from([...header, ...QUESTION, ...records.flat()]);
}
const rr = (owner: number[], type: number, rdata: number[], rdlength = rdata.length) => [
  ...owner, type >> 8, type & 0xff, 0, 1, 0, 0, 0x0e, 0x10, rdlength >> 8, rdlength & 0xff, ...rdata,
];
const A = (owner = NAME_PTR) => rr(owner, 1, [192, 0, 2, 1]);
const name = (...labels: string[]) => [...labels.flatMap((l) => [l.length, ...Buffer.from(l)]), 0];
const shape = (msg: Buffer) => readReplyShape(msg, QUESTION_END);

/** A record of an unchecked type whose rdata is `n` pointers, each to the one before (the first to the question), then an A owned by the last. */
function pointerChain(n: number): Buffer {
  const rdata = QUESTION_END + 12;
  const chain = [0xc0, 12];
  for (let i = 1; i < n; i++) chain.push(0xc0 | ((rdata + (i - 1) * 2) >> 8), (rdata + (i - 1) * 2) & 0xff);
  const last = rdata + (n - 1) * 2;
  return reply([2, 0, 0], rr(NAME_PTR, 99, chain), A([0xc0 | (last >> 8), last & 0xff]));
}

describe('readReplyShape', () => {
  it('reads a well-formed reply with compression, a CNAME, MX, SOA, SRV, HTTPS and an OPT', () => {
    const msg = reply(
      [4, 1, 2],
      rr(NAME_PTR, 5, name('b', 'example')),
      A([0xc0, 41]), // b.example, the CNAME target just written
      rr(NAME_PTR, 15, [0, 10, 4, ...Buffer.from('mail'), 0xc0, 14]),
      rr(NAME_PTR, 65, [0, 1, ...name('svc', 'example'), 0, 1, 0, 3, 2, 0x68, 0x32]),
      rr([0xc0, 14], 6, [...name('ns'), ...name('host'), ...Array(20).fill(0)]),
      rr(NAME_PTR, 33, [0, 1, 0, 1, 0, 53, 0xc0, 14]),
      [0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 4, 0, 10, 0, 0],
    );
    const s = shape(msg);
    expect(s).not.toBeNull();
    expect(s!.answers).toBe(4);
    expect(s!.targets).toHaveLength(2);
    expect(s!.optEnd).toBe(msg.length);
    expect(s!.ttlOffsets).toHaveLength(6);
  });

  const malformed: [string, Buffer][] = [
    ['a pointer to itself', reply([1, 0, 0], A([0xc0, QUESTION_END]))],
    ['two pointers that point at each other', reply([1, 0, 0], A([0xc0, 12 + QUESTION.length + 2]), [0xc0, QUESTION_END])],
    ['a pointer forward', reply([1, 0, 0], A([0xc0, 200]))],
    ['a pointer past the end', reply([1, 0, 0], A([0xff, 0xff]))],
    ['a pointer into the header', reply([1, 0, 0], A([0xc0, 2]))],
    ['a loop through an earlier name', reply([1, 0, 0], rr([1, 0x78, 0xc0, QUESTION_END], 1, [1, 2, 3, 4]))],
    ['a chain of 200 pointers to pointers', pointerChain(200)],
    ['a 64-byte label', reply([1, 0, 0], A([64, ...Array(64).fill(0x61), 0]))],
    ['a name over 255 bytes', reply([1, 0, 0], A([...Array(5).fill([63, ...Array(63).fill(0x61)]).flat(), 0]))],
    ['a name running off the end', Buffer.from([...reply([1, 0, 0]), 5, 0x61])],
    ['an rdlength past the end', reply([1, 0, 0], rr(NAME_PTR, 1, [192, 0, 2, 1], 300))],
    ['an A record of 5 bytes', reply([1, 0, 0], rr(NAME_PTR, 1, [192, 0, 2, 1, 9]))],
    ['an AAAA record of 4 bytes', reply([1, 0, 0], rr(NAME_PTR, 28, [192, 0, 2, 1]))],
    ['more answers counted than present', reply([2, 0, 0], A())],
    ['a count the message cannot hold', reply([0xff, 0, 0], A())],
    ['bytes after the last record', Buffer.from([...reply([1, 0, 0], A()), 0])],
    ['a CNAME target with a forward pointer', reply([1, 0, 0], rr(NAME_PTR, 5, [1, 0x62, 0xc0, 0x7f]))],
    ['a CNAME target longer than its rdata', reply([1, 0, 0], rr(NAME_PTR, 5, [1, 0x62, 0xc0], 2), [12])],
    ['a CNAME with bytes after its target', reply([1, 0, 0], rr(NAME_PTR, 5, [...name('b'), 9]))],
    ['an NS target pointing at itself', reply([1, 0, 0], rr(NAME_PTR, 2, [0xc0, QUESTION_END + 12]))],
    ['a PTR target with a 70-byte label', reply([1, 0, 0], rr(NAME_PTR, 12, [70, ...Array(70).fill(0x61), 0]))],
    ['an MX without a name', reply([1, 0, 0], rr(NAME_PTR, 15, [0, 10]))],
    ['an SOA with a short tail', reply([0, 1, 0], rr(NAME_PTR, 6, [...name('ns'), ...name('h'), ...Array(19).fill(0)]))],
    ['an SRV target running past its rdata', reply([1, 0, 0], rr(NAME_PTR, 33, [0, 1, 0, 1, 0, 53, 3, 0x61], 8), [0x62, 0x63, 0])],
    ['an HTTPS record with a lying parameter length', reply([1, 0, 0], rr(NAME_PTR, 65, [0, 1, 0, 0, 1, 0, 9, 0x68]))],
    ['an OPT in the answer section', reply([1, 0, 0], [0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0])],
    ['two OPT records', reply([0, 0, 2], [0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0], [0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0])],
    ['an OPT not owned by the root', reply([0, 0, 1], [...NAME_PTR, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0])],
    ['an OPT option running past its rdata', reply([0, 0, 1], [0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 4, 0, 10, 0, 8])],
  ];
  it.each(malformed)('rejects %s', (_, msg) => {
    expect(shape(msg)).toBeNull();
  });

  it('takes a short chain of pointers to pointers (legal, if odd)', () => {
    expect(shape(pointerChain(3))).not.toBeNull();
  });

  it('rejects every truncation of a good reply', () => {
    const msg = reply([2, 0, 0], rr(NAME_PTR, 5, name('b', 'example')), A([0xc0, 41]));
    expect(shape(msg)).not.toBeNull();
    for (let cut = QUESTION_END; cut < msg.length; cut++) expect(shape(msg.subarray(0, cut))).toBeNull();
  });
});

describe('checkName', () => {
  it('returns the end of the bytes in place, before any pointer is followed', () => {
    const msg = Buffer.from([...Array(12).fill(0), ...name('example'), 1, 0x61, 0xc0, 12]);
    expect(checkName(msg, 12, msg.length)).toBe(21);
    expect(checkName(msg, 21, msg.length)).toBe(msg.length);
    expect(checkName(msg, 21, msg.length - 1)).toBe(-1); // the pointer's second byte is past the limit
  });
});
