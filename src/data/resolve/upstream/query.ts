// The query aifence sends upstream, and the unpredictability each attempt
// gets: a fresh random ID and a random 0x20 case pattern on the question
// name (draft-vixie-dnsext-dns0x20), which the reply must echo byte for byte.

import { randomFillSync } from 'node:crypto';
import { writeU16 } from '../../../wire/message.js';

/** What the resolver asks upstream: the client's question and the flags that change the answer. */
export interface UpstreamQuestion {
  /** qname, qtype and qclass as wire bytes. */
  question: Uint8Array;
  rd: boolean;
  cd: boolean;
  dnssecOk: boolean;
}

/** The UDP size aifence advertises upstream (DNS Flag Day 2020: no fragmentation). */
export const UPSTREAM_UDP_SIZE = 1232;
const OPT_SIZE = 11;

/** The flags of a client's question that change the answer, and where its question ends (a parsed Query has them). */
export interface QuestionFlags {
  questionEnd: number;
  rd: boolean;
  cd: boolean;
  dnssecOk: boolean;
}

/** Header + question + a bare OPT record: the query aifence sends for `q` (ID left 0). */
export function upstreamQuery(q: UpstreamQuestion): Buffer {
  return writeQuery(q.question, 0, q.question.length, q.rd, q.cd, q.dnssecOk);
}

/** The same for the question of client query `msg` as parsed into `q`, read in place (no view or object per miss). */
export function upstreamQueryFor(msg: Uint8Array, q: QuestionFlags): Buffer {
  return writeQuery(msg, 12, q.questionEnd, q.rd, q.cd, q.dnssecOk);
}

function writeQuery(from: Uint8Array, start: number, end: number, rd: boolean, cd: boolean, dnssecOk: boolean): Buffer {
  const opt = 12 + end - start;
  // From Node's pooled slab (allocUnsafe): every byte is written below, so nothing stale shows.
  const msg = Buffer.allocUnsafe(opt + OPT_SIZE);
  msg[0] = 0;
  msg[1] = 0;
  msg[2] = rd ? 0x01 : 0;
  msg[3] = cd ? 0x10 : 0;
  writeU16(msg, 4, 1);
  writeU16(msg, 6, 0);
  writeU16(msg, 8, 0);
  writeU16(msg, 10, 1);
  for (let i = start, at = 12; i < end; i++, at++) msg[at] = from[i]; // a question is short: a loop beats a view to set() from
  msg[opt] = 0; // OPT, owned by the root
  writeU16(msg, opt + 1, 41);
  writeU16(msg, opt + 3, UPSTREAM_UDP_SIZE);
  msg[opt + 5] = 0; // extended rcode and version
  msg[opt + 6] = 0;
  msg[opt + 7] = dnssecOk ? 0x80 : 0;
  msg[opt + 8] = 0;
  writeU16(msg, opt + 9, 0); // no options
  return msg;
}

/** The same query without its OPT record, for a server that answers FORMERR to EDNS (RFC 6891 §7). */
export function withoutEdns(query: Buffer): Buffer {
  const plain = Buffer.from(query.subarray(0, query.length - OPT_SIZE));
  writeU16(plain, 10, 0);
  return plain;
}

/** Cryptographically random bytes, drawn from a refilled block so that each costs no syscall. */
export class RandomBytes {
  private readonly block = new Uint8Array(4096);
  private next = this.block.length;

  byte(): number {
    if (this.next === this.block.length) {
      randomFillSync(this.block);
      this.next = 0;
    }
    return this.block[this.next++];
  }

  u16(): number {
    return (this.byte() << 8) | this.byte();
  }
}

/**
 * A copy of `query` as one attempt sends it (or `query` itself, rewritten,
 * when `inPlace`): ID `id`, and every ASCII letter of the question name in a
 * random case (whatever case it had). The name is uncompressed (the resolver
 * checked it), so its labels can be walked without bounds surprises.
 */
export function attemptQuery(query: Buffer, id: number, random: RandomBytes, inPlace = false): Buffer {
  const out = inPlace ? query : Buffer.from(query);
  writeU16(out, 0, id);
  let bits = 0;
  let left = 0;
  for (let at = 12; out[at] !== 0; ) {
    const end = at + 1 + out[at];
    for (let i = at + 1; i < end; i++) {
      const c = out[i] | 0x20;
      if (c < 0x61 || c > 0x7a) continue; // not a letter: its case cannot carry a bit
      if (left === 0) {
        bits = random.byte();
        left = 8;
      }
      out[i] = bits & 1 ? c & ~0x20 : c;
      bits >>= 1;
      left--;
    }
    at = end;
  }
  return out;
}
