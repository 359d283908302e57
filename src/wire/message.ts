// Reading DNS messages straight from their bytes (RFC 1035 §4, RFC 6891).
// The hot path never decodes a whole message: it reads the header and the
// question, finds the OPT record when there is one, and leaves the rest as
// bytes to forward, cache or patch.

export const HEADER_SIZE = 12;
export const MAX_NAME = 255;

export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export const Type = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, DNAME: 39, OPT: 41, SVCB: 64, HTTPS: 65, ANY: 255 } as const;

const FLAG_QR = 0x80; // in byte 2
const OPCODE_MASK = 0x78; // in byte 2

export function readU16(buf: Uint8Array, at: number): number {
  return (buf[at] << 8) | buf[at + 1];
}

export function writeU16(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 8;
  buf[at + 1] = value & 0xff;
}

export function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

export function writeU32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 24;
  buf[at + 1] = (value >>> 16) & 0xff;
  buf[at + 2] = (value >>> 8) & 0xff;
  buf[at + 3] = value & 0xff;
}

export const rcodeOf = (msg: Uint8Array): number => msg[3] & 0x0f;
export const isResponse = (msg: Uint8Array): boolean => (msg[2] & FLAG_QR) !== 0;
export const isTruncated = (msg: Uint8Array): boolean => (msg[2] & 0x02) !== 0;
export const opcodeOf = (msg: Uint8Array): number => (msg[2] & OPCODE_MASK) >> 3;

/**
 * End offset of the uncompressed name starting at `at`, or -1 when it is
 * malformed (label over 63, name over 255, runs past the end) or uses a
 * compression pointer (questions in queries never need one).
 */
export function nameEnd(buf: Uint8Array, at: number): number {
  const start = at;
  for (;;) {
    if (at >= buf.length) return -1;
    const len = buf[at];
    if (len === 0) return at + 1 - start > MAX_NAME ? -1 : at + 1;
    if (len > 63) return -1;
    at += len + 1;
    if (at - start >= MAX_NAME) return -1;
  }
}

/** Offset just past a possibly compressed name in a record; -1 when malformed. */
export function skipName(buf: Uint8Array, at: number): number {
  for (;;) {
    if (at >= buf.length) return -1;
    const len = buf[at];
    if (len === 0) return at + 1;
    if ((len & 0xc0) === 0xc0) return at + 2 <= buf.length ? at + 2 : -1;
    if (len > 63) return -1;
    at += len + 1;
  }
}

/**
 * What the hot path needs to know about a query. One instance is reused for
 * every packet (parsing is synchronous); copy fields out before awaiting.
 */
export class Query {
  id = 0;
  /** Offset just past the question (qname, qtype, qclass). */
  questionEnd = 0;
  qtype = 0;
  qclass = 0;
  /** The client sent an OPT record. */
  edns = false;
  /** DNSSEC OK bit from the client's OPT record. */
  dnssecOk = false;
  /** Largest UDP reply the client accepts (512 without EDNS). */
  udpSize = 512;
  /** Recursion desired, copied into every answer. */
  rd = false;
  /** Checking disabled: the client validates DNSSEC itself and wants the data even when it does not validate. */
  cd = false;
}

export const enum ParseResult {
  Ok,
  /** Not answerable at all (too short to hold a header, or a response): drop. */
  Drop,
  /** Header readable, rest is not, or the query is not one a client may send: answer FORMERR. */
  FormErr,
  /** A well-formed message we do not serve (opcode other than QUERY, meta query types): answer NOTIMP. */
  NotImp,
  /** An EDNS version above 0 (RFC 6891 §6.1.3): answer BADVERS with aifence's OPT, version 0. */
  BadVers,
  /** A zone transfer (AXFR, IXFR): a forwarder has no zone to give; answer REFUSED. */
  Refused,
}

/** The UDP answer size aifence allows unless the operator raises it (DNS Flag Day 2020: no fragmentation). */
export const DEFAULT_MAX_UDP = 1232;

const QTYPE_IXFR = 251;
const QTYPE_AXFR = 252;
const QTYPE_MAILB = 253;
const QTYPE_MAILA = 254;

/**
 * Parses header, question and OPT of a client query into `q`, checking
 * what a client may send (RFC 1035, RFC 6891): one question, no answer or
 * authority records, no rcode bits, at most one OPT, owned by the root,
 * whose options exactly fill it. `maxUdp` caps the size the client advertises.
 */
export function parseQuery(msg: Uint8Array, q: Query, maxUdp = DEFAULT_MAX_UDP): ParseResult {
  if (msg.length < HEADER_SIZE || isResponse(msg)) return ParseResult.Drop;
  q.id = readU16(msg, 0);
  q.rd = (msg[2] & 0x01) !== 0;
  q.cd = (msg[3] & 0x10) !== 0;
  q.edns = false;
  q.dnssecOk = false;
  q.udpSize = 512;
  if (opcodeOf(msg) !== 0) return ParseResult.NotImp;
  if (readU16(msg, 4) !== 1 || (msg[3] & 0x0f) !== 0 || readU16(msg, 6) !== 0 || readU16(msg, 8) !== 0) return ParseResult.FormErr;
  const end = nameEnd(msg, HEADER_SIZE);
  if (end < 0 || end + 4 > msg.length) return ParseResult.FormErr;
  q.qtype = readU16(msg, end);
  q.qclass = readU16(msg, end + 2);
  q.questionEnd = end + 4;
  const additional = readU16(msg, 10);
  let version = 0;
  let at = q.questionEnd;
  for (let i = 0; i < additional; i++) {
    const owner = at;
    at = skipName(msg, at);
    if (at < 0 || at + 10 > msg.length) return ParseResult.FormErr;
    const type = readU16(msg, at);
    const rdlength = readU16(msg, at + 8);
    const rdata = at + 10;
    at = rdata + rdlength;
    if (at > msg.length) return ParseResult.FormErr;
    if (type !== Type.OPT) continue; // TSIG and the like: aifence neither forwards nor needs them
    if (q.edns || msg[owner] !== 0 || !optionsFill(msg, rdata, at)) return ParseResult.FormErr;
    q.edns = true;
    q.udpSize = Math.min(Math.max(512, readU16(msg, owner + 3)), Math.max(512, maxUdp));
    version = msg[owner + 6];
    q.dnssecOk = (msg[owner + 7] & 0x80) !== 0;
  }
  if (at !== msg.length) return ParseResult.FormErr;
  if (version !== 0) return ParseResult.BadVers;
  if (q.qtype === Type.OPT) return ParseResult.FormErr;
  if (q.qtype === QTYPE_AXFR || q.qtype === QTYPE_IXFR) return ParseResult.Refused;
  if (q.qtype === QTYPE_MAILA || q.qtype === QTYPE_MAILB) return ParseResult.NotImp;
  return ParseResult.Ok;
}

/** EDNS options are (code, length, data) triples that must end exactly at the end of the OPT's rdata. */
function optionsFill(msg: Uint8Array, at: number, end: number): boolean {
  while (at < end) {
    if (at + 4 > end) return false;
    at += 4 + readU16(msg, at + 2);
  }
  return at === end;
}

/** ASCII case-insensitive comparison of two byte ranges of equal length. */
export function equalsIgnoreCase(a: Uint8Array, aStart: number, b: Uint8Array, bStart: number, length: number): boolean {
  for (let i = 0; i < length; i++) {
    let x = a[aStart + i];
    let y = b[bStart + i];
    if (x >= 0x41 && x <= 0x5a) x |= 0x20;
    if (y >= 0x41 && y <= 0x5a) y |= 0x20;
    if (x !== y) return false;
  }
  return true;
}
