// Broken upstream replies and forged ones, for the fuzz tests and
// `npm run fuzz`. Every reply is built from the query aifence really sent
// (its ID and its 0x20 question), then broken in one known way, so that a
// test knows which replies must never reach a client.

import { readReplyShape } from '../../src/wire/records.js';

/** A small seeded PRNG (mulberry32): runs are repeatable from their seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every way a fuzzed reply is made, and whether it is broken for sure. */
export const REPLY_KINDS = {
  good: false,
  'pointer-loop': true,
  'pointer-past-end': true,
  'pointer-forward': true,
  'rdata-pointer-loop': true,
  'rdlength-long': true,
  'rdlength-short': true,
  'count-lie': true,
  'label-too-long': true,
  'trailing-garbage': true,
  'cut-short': true,
  'tc-without-tcp': true,
  'cname-chain-100': false,
  'bytes-flipped': false,
  // Last: replies that look forged cost the fuzzer its turn (a timeout and a back-off).
  'wrong-id': true,
  garbage: false,
} as const;
export type ReplyKind = keyof typeof REPLY_KINDS;
export const KIND_NAMES = Object.keys(REPLY_KINDS) as ReplyKind[];

/** Where the question ends in a query aifence sent (its name is uncompressed). */
export function questionEnd(query: Uint8Array): number {
  let at = 12;
  while (at < query.length && query[at] !== 0) at += query[at] + 1;
  return at + 5;
}

const u16 = (n: number) => [n >> 8, n & 0xff];
const rr = (owner: number[], type: number, rdata: number[], rdlength = rdata.length) => [
  ...owner, ...u16(type), 0, 1, 0, 0, 0x0e, 0x10, ...u16(rdlength), ...rdata,
];

/** An answer to `query`: header with its ID, the question byte for byte, then `answers` records (A 10.0.0.1 unless given). */
export function answerTo(query: Uint8Array, records: number[][] = [rr([0xc0, 12], 1, [10, 0, 0, 1])], count = records.length): Buffer {
  const end = questionEnd(query);
  const header = [query[0], query[1], 0x81 | (query[2] & 0x01), 0x80, 0, 1, ...u16(count), 0, 0, 0, 0];
  return Buffer.from([...header, ...query.subarray(12, end), ...records.flat()]);
}

/** A reply of `kind` to `query`; null when the kind is a TC that the test's TCP refusal follows up. */
export function fuzzReply(kind: ReplyKind, query: Uint8Array, random: () => number): Buffer {
  const end = questionEnd(query);
  const A = (owner: number[]) => rr(owner, 1, [10, 0, 0, 1]);
  switch (kind) {
    case 'good':
      return answerTo(query);
    case 'pointer-loop':
      return answerTo(query, [A([0xc0 | (end >> 8), end & 0xff])]);
    case 'pointer-past-end':
      return answerTo(query, [A([0xff, 0xf0])]);
    case 'pointer-forward':
      return answerTo(query, [A([0xc0, 12]), A([0xc0, end + 20])]);
    case 'rdata-pointer-loop':
      return answerTo(query, [rr([0xc0, 12], 5, [0xc0 | ((end + 12) >> 8), (end + 12) & 0xff])]);
    case 'rdlength-long':
      return answerTo(query, [rr([0xc0, 12], 1, [10, 0, 0, 1], 4 + 1 + Math.floor(random() * 1000))]);
    case 'rdlength-short':
      return answerTo(query, [rr([0xc0, 12], 1, [10, 0, 0, 1], 3), A([0xc0, 12])], 2);
    case 'count-lie':
      return answerTo(query, [A([0xc0, 12])], 2 + Math.floor(random() * 60000));
    case 'label-too-long':
      return answerTo(query, [A([64 + Math.floor(random() * 63), ...Array(130).fill(0x61), 0])]);
    case 'trailing-garbage':
      return Buffer.concat([answerTo(query), Buffer.from([0, 0, 0, 1 + Math.floor(random() * 200)])]);
    case 'cut-short': {
      const whole = answerTo(query);
      return whole.subarray(0, end + 1 + Math.floor(random() * (whole.length - end - 1)));
    }
    case 'wrong-id': {
      const reply = answerTo(query);
      reply[1] ^= 1 + Math.floor(random() * 255);
      return reply;
    }
    case 'tc-without-tcp': {
      const reply = answerTo(query, []);
      reply[2] |= 0x02;
      return reply;
    }
    case 'cname-chain-100': {
      // a.<qname> CNAME b.<qname> ... 100 links, then an A: valid, long, and all of it to check.
      const records: number[][] = [];
      let owner = [0xc0, 12];
      let at = end;
      for (let i = 0; i < 100; i++) {
        const target = [3, 0x63, 0x30 + Math.floor(i / 10), 0x30 + (i % 10), 0xc0, 12];
        records.push(rr(owner, 5, target));
        owner = [0xc0 | ((at + owner.length + 10) >> 8), (at + owner.length + 10) & 0xff];
        at += records[i].length;
      }
      records.push(A(owner));
      return answerTo(query, records);
    }
    case 'bytes-flipped': {
      const reply = answerTo(query, [A([0xc0, 12]), rr([0xc0, 12], 5, [3, 0x77, 0x77, 0x77, 0xc0, 12])]);
      const flips = 1 + Math.floor(random() * 4);
      // Past the header's ID and the question, or the reply is simply not ours.
      for (let i = 0; i < flips; i++) reply[end + Math.floor(random() * (reply.length - end))] = Math.floor(random() * 256);
      return reply;
    }
    case 'garbage': {
      const reply = Buffer.alloc(12 + Math.floor(random() * 500));
      for (let i = 0; i < reply.length; i++) reply[i] = Math.floor(random() * 256);
      reply[0] = query[0];
      reply[1] = query[1];
      return reply;
    }
  }
}

/** Is `answer`, as a client got it, a well-formed DNS message? A header alone, or one question and records that all parse. */
export function wellFormed(answer: Buffer): boolean {
  if (answer.length < 12) return false;
  const questions = answer.readUInt16BE(4);
  if (questions === 0) return answer.length === 12 || readReplyShape(answer, 12) !== null;
  const end = questionEnd(answer);
  return questions === 1 && end <= answer.length && readReplyShape(answer, end) !== null;
}
