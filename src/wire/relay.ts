// Relaying an upstream reply: aifence answers every EDNS client with its
// own OPT record (RFC 6891: OPT is hop-by-hop), so the upstream's OPT is cut
// out once when the reply arrives and the client's is written per answer.

import { optRecord } from './answers.js';
import { type Query, readU16, writeU16 } from './message.js';
import { type ReplyShape, readReplyShape } from './records.js';
import { replyBuffer } from './reply-memory.js';

const PLAIN_OPT = optRecord();
const OPT_DO_BYTE = 7;

/**
 * The reply without its OPT record (and ARCOUNT one less), with its shape.
 * The common case, OPT last, costs no copy: everything before it stays where it was.
 */
export function withoutOpt(reply: Buffer, shape: ReplyShape): { bare: Buffer; shape: ReplyShape } | null {
  if (shape.optStart < 0) return { bare: reply, shape };
  if (shape.optEnd === reply.length) {
    const bare = reply.subarray(0, shape.optStart);
    writeU16(bare, 10, readU16(bare, 10) - 1);
    // The shape is this reply's own: every offset before the OPT stays valid.
    shape.optStart = -1;
    shape.optEnd = -1;
    return { bare, shape };
  }
  const bare = Buffer.concat([reply.subarray(0, shape.optStart), reply.subarray(shape.optEnd)]);
  writeU16(bare, 10, readU16(bare, 10) - 1);
  const questionEnd = questionEndOf(bare);
  const reshaped = questionEnd < 0 ? null : readReplyShape(bare, questionEnd);
  return reshaped === null ? null : { bare, shape: reshaped };
}

function questionEndOf(msg: Uint8Array): number {
  let at = 12;
  while (at < msg.length && msg[at] !== 0) at += msg[at] + 1;
  return at + 5 <= msg.length ? at + 5 : -1;
}

/**
 * A relayed reply (without OPT) as this client's answer: its ID, its
 * question bytes (0x20 case), and aifence's OPT when the client sent EDNS,
 * with DO echoed. `opt` may carry an Extended DNS Error.
 */
export function relayAnswer(bare: Uint8Array, query: Uint8Array, q: Query, opt: Uint8Array = PLAIN_OPT): Buffer {
  const out = replyBuffer(bare.length + (q.edns ? opt.length : 0));
  out.set(bare, 0);
  return finishRelay(out, bare.length, query, q, opt);
}

/** The same from `length` bytes at `start` of `src` (the answer cache's slab), with no view made of them. */
export function relayAnswerFrom(src: Buffer, start: number, length: number, query: Uint8Array, q: Query, opt: Uint8Array = PLAIN_OPT): Buffer {
  const out = replyBuffer(length + (q.edns ? opt.length : 0));
  // A short answer byte by byte (Buffer.copy's call costs more); a long one by memcpy.
  if (length > 128) src.copy(out, 0, start, start + length);
  else for (let i = 0; i < length; i++) out[i] = src[start + i];
  return finishRelay(out, length, query, q, opt);
}

function finishRelay(out: Buffer, length: number, query: Uint8Array, q: Query, opt: Uint8Array): Buffer {
  writeU16(out, 0, q.id);
  for (let i = 12; i < q.questionEnd; i++) out[i] = query[i];
  if (q.edns) {
    out.set(opt, length);
    if (q.dnssecOk) out[length + OPT_DO_BYTE] |= 0x80;
    writeU16(out, 10, readU16(out, 10) + 1);
  }
  return out;
}
