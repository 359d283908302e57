// Walking the resource records of an upstream reply: once when it arrives,
// to validate it, learn how long it may be cached and where its TTLs sit so
// that cache hits can count them down without parsing again.

import { Rcode, Type, rcodeOf, readU16, readU32, skipName, writeU32 } from './message.js';

export interface ReplyShape {
  /** Offsets of every TTL field (OPT excluded: its TTL field holds flags). */
  ttlOffsets: Uint16Array;
  /** The smallest TTL of the answer records; for a negative answer, RFC 2308's min(SOA TTL, SOA minimum). -1 when the reply gives none. */
  ttl: number;
  rcode: number;
  answers: number;
  /** Where the OPT record sits (start and end offsets), -1 when the reply has none: aifence answers with its own. */
  optStart: number;
  optEnd: number;
  /** Offsets of the names that answer records point to (CNAME, DNAME targets; SVCB/HTTPS target names), for policy to check. */
  targets: number[];
}

/**
 * Checks the structure of a reply (every record fits in the message) and
 * collects its TTLs. Returns null for a malformed reply, which is dropped.
 */
export function readReplyShape(msg: Uint8Array, questionEnd: number): ReplyShape | null {
  const answers = readU16(msg, 6);
  const authority = readU16(msg, 8);
  const total = answers + authority + readU16(msg, 10);
  const offsets = new Uint16Array(total);
  let count = 0;
  let minAnswerTtl = -1;
  let negativeTtl = -1;
  const targets: number[] = [];
  let optStart = -1;
  let optEnd = -1;
  let at = questionEnd;
  for (let i = 0; i < total; i++) {
    const start = at;
    at = skipName(msg, at);
    if (at < 0 || at + 10 > msg.length) return null;
    const type = readU16(msg, at);
    const ttl = readU32(msg, at + 4) & 0x7fffffff; // RFC 2181 §8: the top bit is treated as zero
    const rdlength = readU16(msg, at + 8);
    if (at + 10 + rdlength > msg.length) return null;
    if (type === Type.OPT) {
      if (optStart >= 0 || i < answers + authority) return null; // one OPT, in the additional section (RFC 6891 §6.1.1)
      optStart = start;
      optEnd = at + 10 + rdlength;
    } else {
      offsets[count++] = at + 4;
      if (i < answers) {
        if (minAnswerTtl < 0 || ttl < minAnswerTtl) minAnswerTtl = ttl;
        if (type === Type.CNAME || type === Type.DNAME) targets.push(at + 10);
        else if ((type === Type.SVCB || type === Type.HTTPS) && rdlength > 2) targets.push(at + 12); // after SvcPriority
      } else if (i < answers + authority && type === Type.SOA && negativeTtl < 0) {
        const minimum = soaMinimum(msg, at + 10, rdlength);
        if (minimum >= 0) negativeTtl = Math.min(ttl, minimum);
      }
    }
    at += 10 + rdlength;
  }
  if (at !== msg.length) return null;
  const rcode = rcodeOf(msg);
  const ttl = answers > 0 && rcode === Rcode.NOERROR ? minAnswerTtl : negativeTtl;
  return { ttlOffsets: offsets.subarray(0, count), ttl, rcode, answers, optStart, optEnd, targets };
}

/** The SOA MINIMUM field: the last 4 bytes of its rdata, after two names and four counters. */
function soaMinimum(msg: Uint8Array, rdata: number, rdlength: number): number {
  let at = skipName(msg, rdata);
  if (at < 0) return -1;
  at = skipName(msg, at);
  if (at < 0 || at + 20 !== rdata + rdlength) return -1;
  return readU32(msg, at + 16);
}

/** Sets every TTL at `offsets` to its clamped original minus the seconds elapsed (never below 0). */
export function patchTtls(msg: Uint8Array, offsets: Uint16Array, original: Uint32Array, elapsed: number): void {
  for (let i = 0; i < offsets.length; i++) {
    const left = original[i] - elapsed;
    writeU32(msg, offsets[i], left > 0 ? left : 0);
  }
}

/** The TTL values at `offsets`, clamped to [min, max], as the cache will count them down. */
export function clampedTtls(msg: Uint8Array, offsets: Uint16Array, min: number, max: number): Uint32Array {
  const out = new Uint32Array(offsets.length);
  for (let i = 0; i < offsets.length; i++) {
    const ttl = readU32(msg, offsets[i]) & 0x7fffffff;
    out[i] = ttl < min ? min : ttl > max ? max : ttl;
  }
  return out;
}

/**
 * Copies the possibly compressed name at `at` into `out` as an uncompressed
 * wire name; returns its length, or -1 when it is malformed or loops.
 */
export function expandName(msg: Uint8Array, at: number, out: Uint8Array): number {
  let length = 0;
  for (let jumps = 0; jumps < 64; ) {
    if (at >= msg.length) return -1;
    const len = msg[at];
    if ((len & 0xc0) === 0xc0) {
      if (at + 1 >= msg.length) return -1;
      at = ((len & 0x3f) << 8) | msg[at + 1];
      jumps++;
      continue;
    }
    if (len > 63 || length + len + 1 > 255 || at + len >= msg.length) return -1;
    out.set(msg.subarray(at, at + len + 1), length);
    length += len + 1;
    if (len === 0) return length;
    at += len + 1;
  }
  return -1;
}
