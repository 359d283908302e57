// What an upstream reply that reached an attempt's socket means. Everything
// that is not exactly an answer to the query sent (ID, and the question byte
// for byte, 0x20 case included) is a forgery or noise; a failure rcode from
// the server is a reason to ask the next one; a reply that does not parse is
// never used.

import { Rcode, isResponse, isTruncated, opcodeOf, rcodeOf, readU16 } from '../../../wire/message.js';
import { type ReplyShape, readReplyShape } from '../../../wire/records.js';

export const enum Verdict {
  /** Not a reply to this query (ID or question differ): ignore it and keep waiting. */
  Spoofed,
  /** Its records do not parse: the server failed this query. */
  Malformed,
  /** FORMERR, SERVFAIL, NOTIMP or REFUSED: the server failed this query; `rcode` says how. */
  Failed,
  /** TC: ask again over TCP. */
  Truncated,
  /** A reply to use; `shape` holds its shape. */
  Answer,
}

/** Failure rcodes: each one sends the query to the next server. */
export const isFailure = (rcode: number): boolean =>
  rcode === Rcode.SERVFAIL || rcode === Rcode.REFUSED || rcode === Rcode.FORMERR || rcode === Rcode.NOTIMP;

export interface Judged {
  verdict: Verdict;
  rcode: number;
  shape: ReplyShape | null;
}

/** judgeReply's answer: one object, rewritten by each call (no allocation per reply). */
const judged: Judged = { verdict: Verdict.Spoofed, rcode: -1, shape: null };

function verdict(v: Verdict, rcode: number, shape: ReplyShape | null): Judged {
  judged.verdict = v;
  judged.rcode = rcode;
  judged.shape = shape;
  return judged;
}

/**
 * Judges `reply` against `sent`, the query as this attempt sent it (its
 * question ends at `questionEnd`). The result is valid until the next call.
 */
export function judgeReply(sent: Buffer, questionEnd: number, reply: Buffer): Judged {
  if (reply.length < 12 || reply[0] !== sent[0] || reply[1] !== sent[1] || !isResponse(reply) || opcodeOf(reply) !== 0) {
    return verdict(Verdict.Spoofed, -1, null);
  }
  const rcode = rcodeOf(reply);
  const questions = readU16(reply, 4);
  // A server that cannot parse a query may answer with no question at all (RFC 1035 leaves
  // it open): from our source, port and ID it is still its answer to us.
  if (questions === 0 && isFailure(rcode)) return verdict(Verdict.Failed, rcode, null);
  if (questions !== 1 || reply.length < questionEnd || reply.compare(sent, 12, questionEnd, 12, questionEnd) !== 0) {
    return verdict(Verdict.Spoofed, rcode, null);
  }
  if (isFailure(rcode)) return verdict(Verdict.Failed, rcode, null);
  if (isTruncated(reply)) return verdict(Verdict.Truncated, rcode, null);
  const shape = readReplyShape(reply, questionEnd);
  return verdict(shape === null ? Verdict.Malformed : Verdict.Answer, rcode, shape);
}
