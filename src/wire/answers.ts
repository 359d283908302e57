// Answers aifence writes itself: block answers and protocol errors. Record
// bytes are prepared once (at start-up or reload); per query only the header
// and the client's question bytes are copied in, so 0x20 case survives.

import { addressBytes } from '../net/address.js';
import { HEADER_SIZE, Query, Rcode, Type, writeU16, writeU32 } from './message.js';
import { replyBuffer } from './reply-memory.js';

export type BlockMode =
  | { kind: 'nxdomain' }
  | { kind: 'null' }
  | { kind: 'refused' }
  /** NOERROR with no records (and the SOA): the name exists but has nothing for this client. */
  | { kind: 'nodata' }
  | { kind: 'sinkhole'; ipv4?: string; ipv6?: string };

/** RFC 8914 Extended DNS Error codes that aifence sends. */
export const Ede = { StaleAnswer: 3, Blocked: 15, NoReachableAuthority: 22 } as const;

/** The name `aifence health` asks: answered by aifence itself (RFC 6761 .invalid), never forwarded, so health means aifence. */
export const HEALTH_PROBE_NAME = 'health.aifence.invalid';

const CLASS_IN = 1;
const OUR_UDP_SIZE = 1232; // the DNS Flag Day 2020 default: no fragmentation
const POINTER_TO_QNAME = [0xc0, HEADER_SIZE];

/** One prepared resource record, owned by the query name (a pointer to the question). */
export function record(type: number, ttl: number, rdata: Uint8Array): Uint8Array {
  const rr = new Uint8Array(12 + rdata.length);
  rr.set(POINTER_TO_QNAME, 0);
  writeU16(rr, 2, type);
  writeU16(rr, 4, CLASS_IN);
  writeU32(rr, 6, ttl);
  writeU16(rr, 10, rdata.length);
  rr.set(rdata, 12);
  return rr;
}

export function encodeName(name: string): Uint8Array {
  const parts = name.split('.').filter(Boolean);
  const out: number[] = [];
  for (const p of parts) out.push(p.length, ...Buffer.from(p, 'ascii'));
  out.push(0);
  return Uint8Array.from(out);
}

/** SOA for negative block answers: its MINIMUM (and TTL) is the block TTL, so clients cache the refusal that long. */
function soaRecord(ttl: number): Uint8Array {
  const mname = encodeName('aifence.invalid');
  const rname = encodeName('hostmaster.aifence.invalid');
  const rdata = new Uint8Array(mname.length + rname.length + 20);
  rdata.set(mname, 0);
  rdata.set(rname, mname.length);
  const counters = mname.length + rname.length;
  writeU32(rdata, counters, 1); // serial
  writeU32(rdata, counters + 4, 3600); // refresh
  writeU32(rdata, counters + 8, 600); // retry
  writeU32(rdata, counters + 12, 86400); // expire
  writeU32(rdata, counters + 16, ttl); // minimum: the negative-caching TTL
  return record(Type.SOA, ttl, rdata);
}

/**
 * aifence's own OPT record (version 0, its UDP size, no flags: the DO bit is
 * set per query), optionally carrying one Extended DNS Error.
 * `extendedRcode` holds the upper 8 bits of a 12-bit rcode (1 = BADVERS).
 */
export function optRecord(ede?: { code: number; text: string }, extendedRcode = 0): Uint8Array {
  const text = ede ? Buffer.from(ede.text, 'utf8') : Buffer.alloc(0);
  const rdlength = ede ? 4 + 2 + text.length : 0;
  const opt = new Uint8Array(11 + rdlength);
  // name: root (0); type OPT; class: our UDP size; TTL: extended rcode, version, flags (all 0)
  writeU16(opt, 1, Type.OPT);
  writeU16(opt, 3, OUR_UDP_SIZE);
  opt[5] = extendedRcode;
  writeU16(opt, 9, rdlength);
  if (ede) {
    writeU16(opt, 11, 15); // option code: Extended DNS Error
    writeU16(opt, 13, 2 + text.length);
    writeU16(opt, 15, ede.code);
    opt.set(text, 17);
  }
  return opt;
}

const OPT_DO_BYTE = 7;
const NO_RECORDS: readonly Uint8Array[] = [];
const PLAIN_OPT = optRecord();
const UNREACHABLE_OPT = optRecord({ code: Ede.NoReachableAuthority, text: 'no upstream answered' });
/** RFC 8767 §5: a stale answer says so. */
export const STALE_OPT = optRecord({ code: Ede.StaleAnswer, text: 'no upstream answered in time' });
const BADVERS_OPT = optRecord(undefined, 1);

/**
 * Writes header + the client's question + the given records into one new
 * buffer: the single allocation an answer needs.
 */
function compose(
  query: Uint8Array,
  q: Query,
  rcode: number,
  answers: readonly Uint8Array[],
  authority: Uint8Array | null,
  opt: Uint8Array | null,
  truncated = false,
): Buffer {
  let size = q.questionEnd;
  for (const rr of answers) size += rr.length;
  if (authority) size += authority.length;
  if (opt) size += opt.length;
  const out = replyBuffer(size);
  for (let i = 0; i < q.questionEnd; i++) out[i] = query[i];
  writeU16(out, 0, q.id);
  out[2] = 0x80 | (query[2] & 0x79) | (truncated ? 0x02 : 0); // QR, opcode and RD kept; AA off; TC as asked
  out[3] = 0x80 | (query[3] & 0x10) | rcode; // RA, CD kept
  writeU16(out, 4, 1);
  writeU16(out, 6, answers.length);
  writeU16(out, 8, authority ? 1 : 0);
  writeU16(out, 10, opt ? 1 : 0);
  let at = q.questionEnd;
  for (const rr of answers) {
    out.set(rr, at);
    at += rr.length;
  }
  if (authority) {
    out.set(authority, at);
    at += authority.length;
  }
  if (opt) {
    out.set(opt, at);
    if (q.dnssecOk) out[at + OPT_DO_BYTE] |= 0x80;
  }
  return out;
}

/** An answer with no records: NOTIMP, REFUSED, SERVFAIL and friends. */
export function errorAnswer(query: Uint8Array, q: Query, rcode: number): Buffer {
  const opt = q.edns ? (rcode === Rcode.SERVFAIL ? UNREACHABLE_OPT : PLAIN_OPT) : null;
  return compose(query, q, rcode, [], null, opt);
}

/** BADVERS (RFC 6891 §6.1.3): the client asked for an EDNS version above 0; aifence's OPT says version 0. */
export function badVersAnswer(query: Uint8Array, q: Query): Buffer {
  return compose(query, q, Rcode.NOERROR, [], null, BADVERS_OPT);
}

/** NOERROR with records aifence prepared itself (owned by the query name), or none. */
export function ownAnswer(query: Uint8Array, q: Query, answers: readonly Uint8Array[]): Buffer {
  return compose(query, q, Rcode.NOERROR, answers, null, q.edns ? PLAIN_OPT : null);
}

/** NOERROR with no records: for the health probe name. */
export function emptyAnswer(query: Uint8Array, q: Query): Buffer {
  return compose(query, q, Rcode.NOERROR, [], null, q.edns ? PLAIN_OPT : null);
}

/** RFC 8482 §4.2: ANY gets one synthesised HINFO record ("RFC8482", ""), never the whole name's data (amplification). */
const ANY_HINFO = [record(13, 3600, Uint8Array.from([7, ...Buffer.from('RFC8482'), 0]))];
export function anyAnswer(query: Uint8Array, q: Query): Buffer {
  return compose(query, q, Rcode.NOERROR, ANY_HINFO, null, q.edns ? PLAIN_OPT : null);
}

/** FORMERR or NOTIMP for a query whose question could not be read or is not served: the header alone, counts zeroed. */
export function headerOnlyAnswer(query: Uint8Array, rcode: number): Buffer {
  const out = Buffer.alloc(HEADER_SIZE);
  out.set(query.subarray(0, 4), 0);
  out[2] = 0x80 | (query[2] & 0x79);
  out[3] = 0x80 | rcode;
  return out;
}

/** Header and question with TC set: the reply does not fit the client's UDP size, ask for TCP. */
export function truncatedAnswer(query: Uint8Array, q: Query): Buffer {
  return compose(query, q, Rcode.NOERROR, [], null, q.edns ? PLAIN_OPT : null, true);
}

/**
 * Block answers for one blocking configuration, with an Extended DNS Error
 * naming the list that decided (prepared per list, indexed by list id).
 */
export class BlockAnswers {
  private readonly soa: Uint8Array;
  // Answer sections by query type, prepared so a blocked query allocates only its reply.
  private readonly forA: Uint8Array[];
  private readonly forAaaa: Uint8Array[];
  private readonly forAny: Uint8Array[];
  private readonly opts: Uint8Array[];

  constructor(
    private readonly mode: BlockMode,
    ttl: number,
    reasons: readonly string[],
  ) {
    this.soa = soaRecord(ttl);
    const v4 = mode.kind === 'null' ? '0.0.0.0' : mode.kind === 'sinkhole' ? mode.ipv4 : undefined;
    const v6 = mode.kind === 'null' ? '::' : mode.kind === 'sinkhole' ? mode.ipv6 : undefined;
    this.forA = v4 ? [record(Type.A, ttl, addressBytes(v4)!.subarray(12))] : [];
    this.forAaaa = v6 ? [record(Type.AAAA, ttl, addressBytes(v6)!)] : [];
    this.forAny = [...this.forA, ...this.forAaaa];
    this.opts = reasons.map((r) => optRecord({ code: Ede.Blocked, text: `blocked by aifence: ${r}` }));
  }

  /** The block answer to `query`, the reason being list `reason`'s name. */
  answer(query: Uint8Array, q: Query, reason: number): Buffer {
    const opt = q.edns ? (this.opts[reason] ?? PLAIN_OPT) : null;
    switch (this.mode.kind) {
      case 'nxdomain':
        return compose(query, q, Rcode.NXDOMAIN, [], this.soa, opt);
      case 'refused':
        return compose(query, q, Rcode.REFUSED, [], null, opt);
      default: {
        const answers = this.addressRecords(q.qtype);
        return compose(query, q, Rcode.NOERROR, answers, answers.length === 0 ? this.soa : null, opt);
      }
    }
  }

  private addressRecords(qtype: number): readonly Uint8Array[] {
    if (qtype === Type.A) return this.forA;
    if (qtype === Type.AAAA) return this.forAaaa;
    if (qtype === Type.ANY) return this.forAny;
    return NO_RECORDS;
  }
}
