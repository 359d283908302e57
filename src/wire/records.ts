// Walking the resource records of an upstream reply: once when it arrives,
// to validate it, learn how long it may be cached and where its TTLs sit so
// that cache hits can count them down without parsing again.

import { Rcode, Type, rcodeOf, readU16, readU32, writeU32 } from './message.js';

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

/** The types whose rdata holds names, and where: checked like owner names before a reply is used. */
const Rdata = { PTR: 12, SRV: 33 } as const;

/**
 * Checks the structure of a reply after its question (which the caller has
 * compared with the one sent) and collects its TTLs. Every record must lie
 * inside the message and the message must end with the last one; every name,
 * owner or inside the rdata of NS, CNAME, DNAME, PTR, MX, SOA, SRV, SVCB and
 * HTTPS, must be well formed (see checkName); A and AAAA have their fixed
 * sizes; one OPT at most, owned by the root, in the additional section.
 * Returns null for a malformed reply, which is never relayed or cached.
 */
export function readReplyShape(msg: Uint8Array, questionEnd: number): ReplyShape | null {
  if (msg.length < 12 || questionEnd > msg.length) return null;
  const answers = readU16(msg, 6);
  const authority = readU16(msg, 8);
  const total = answers + authority + readU16(msg, 10);
  // Each record takes at least 11 bytes: a count the message cannot hold is a lie, whatever follows.
  if (total * 11 > msg.length - questionEnd) return null;
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
    at = checkName(msg, at, msg.length);
    if (at < 0 || at + 10 > msg.length) return null;
    const type = readU16(msg, at);
    const ttl = readU32(msg, at + 4) & 0x7fffffff; // RFC 2181 §8: the top bit is treated as zero
    const rdlength = readU16(msg, at + 8);
    const rdata = at + 10;
    const rdEnd = rdata + rdlength;
    if (rdEnd > msg.length || !rdataFits(msg, type, rdata, rdEnd)) return null;
    if (type === Type.OPT) {
      // One OPT, owned by the root, in the additional section (RFC 6891 §6.1.1).
      if (optStart >= 0 || i < answers + authority || msg[start] !== 0) return null;
      optStart = start;
      optEnd = rdEnd;
    } else {
      offsets[count++] = at + 4;
      if (i < answers) {
        if (minAnswerTtl < 0 || ttl < minAnswerTtl) minAnswerTtl = ttl;
        if (type === Type.CNAME || type === Type.DNAME) targets.push(rdata);
        else if (type === Type.SVCB || type === Type.HTTPS) targets.push(rdata + 2); // after SvcPriority
      } else if (i < answers + authority && type === Type.SOA && negativeTtl < 0) {
        negativeTtl = Math.min(ttl, readU32(msg, rdEnd - 4)); // the SOA MINIMUM, its last field
      }
    }
    at = rdEnd;
  }
  if (at !== msg.length) return null;
  const rcode = rcodeOf(msg);
  const ttl = answers > 0 && rcode === Rcode.NOERROR ? minAnswerTtl : negativeTtl;
  return { ttlOffsets: offsets.subarray(0, count), ttl, rcode, answers, optStart, optEnd, targets };
}

/** Does the rdata in [rdata, rdEnd) have the layout its type requires? Types aifence does not read only need to fit. */
function rdataFits(msg: Uint8Array, type: number, rdata: number, rdEnd: number): boolean {
  switch (type) {
    case Type.A:
      return rdEnd - rdata === 4;
    case Type.AAAA:
      return rdEnd - rdata === 16;
    case Type.NS:
    case Type.CNAME:
    case Type.DNAME:
    case Rdata.PTR:
      return checkName(msg, rdata, rdEnd) === rdEnd;
    case Type.MX:
      return rdata + 2 < rdEnd && checkName(msg, rdata + 2, rdEnd) === rdEnd;
    case Rdata.SRV:
      return rdata + 6 < rdEnd && checkName(msg, rdata + 6, rdEnd) === rdEnd;
    case Type.SOA: {
      const rname = checkName(msg, rdata, rdEnd);
      return rname >= 0 && checkName(msg, rname, rdEnd) + 20 === rdEnd;
    }
    case Type.SVCB:
    case Type.HTTPS: {
      if (rdata + 2 >= rdEnd) return false;
      let at = checkName(msg, rdata + 2, rdEnd);
      if (at < 0) return false;
      while (at < rdEnd) {
        // SvcParams: key, length, value (RFC 9460 §2.2)
        if (at + 4 > rdEnd) return false;
        at += 4 + readU16(msg, at + 2);
      }
      return at === rdEnd;
    }
    case Type.OPT: {
      let at = rdata;
      while (at < rdEnd) {
        if (at + 4 > rdEnd) return false;
        at += 4 + readU16(msg, at + 2);
      }
      return at === rdEnd;
    }
    default:
      return true;
  }
}

const MAX_JUMPS = 127;

/**
 * Checks the possibly compressed name at `at`, whose bytes in place must end
 * by `limit` (the message, or the rdata holding it). Labels are at most 63
 * bytes, the whole name at most 255 (RFC 1035 §2.3.4); a compression pointer
 * must point inside the message, past the header and before the run of labels
 * it was read in, so that every jump goes strictly backwards and no chain can
 * loop. Returns the offset just past the name's bytes in place, or -1.
 */
export function checkName(msg: Uint8Array, at: number, limit: number): number {
  let end = -1;
  let length = 0;
  let runStart = at;
  let jumps = 0;
  for (;;) {
    if (at >= limit) return -1;
    const len = msg[at];
    if (len >= 0xc0) {
      // Backward-only jumps end, but a chain of pointers to pointers could still cost a walk of the
      // whole message per name; a name has at most 127 labels, so more jumps than that mean nothing good.
      if (at + 1 >= limit || ++jumps > MAX_JUMPS) return -1;
      const target = ((len & 0x3f) << 8) | msg[at + 1];
      if (end < 0) end = at + 2;
      if (target >= runStart || target < 12) return -1;
      at = runStart = target;
      limit = msg.length;
      continue;
    }
    if (len > 63) return -1; // 0x40 and 0x80 label types are obsolete or unassigned
    length += len + 1;
    if (length > 255) return -1;
    if (len === 0) return end < 0 ? at + 1 : end;
    at += len + 1;
  }
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
