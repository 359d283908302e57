// Reverse lookups (PTR) as the identity section asks them: the question for
// an address (`5.0.0.10.in-addr.arpa`, nibbles under `ip6.arpa`), and the
// name a reply gives, read with the same bounds as every other reply
// (checkName: no loop, no jump forward, labels and name within RFC 1035).

import { addressBytes } from '../net/address.js';
import { HEADER_SIZE, Rcode, Type, readU16, readU32, skipName, writeU16 } from './message.js';
import { checkName, expandName } from './records.js';
import { nameText } from './presentation.js';

const CLASS_IN = 1;

/** The reverse name of an address in wire form, or null when it is none. */
export function reverseName(address: string): Uint8Array | null {
  const b = addressBytes(address);
  if (b === null) return null;
  const labels: string[] = [];
  const v4 = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (v4) {
    for (let i = 15; i >= 12; i--) labels.push(String(b[i]));
    labels.push('in-addr', 'arpa');
  } else {
    for (let i = 15; i >= 0; i--) labels.push((b[i] & 15).toString(16), (b[i] >> 4).toString(16));
    labels.push('ip6', 'arpa');
  }
  return Uint8Array.from([...labels.flatMap((l) => [l.length, ...Buffer.from(l, 'latin1')]), 0]);
}

/** A PTR query for `address` with this id (RD set: a recursive server may ask on); null for no address. */
export function ptrQuery(id: number, address: string): Buffer | null {
  const name = reverseName(address);
  if (name === null) return null;
  const q = Buffer.alloc(HEADER_SIZE + name.length + 4);
  writeU16(q, 0, id);
  q[2] = 0x01; // RD
  writeU16(q, 4, 1);
  q.set(name, HEADER_SIZE);
  writeU16(q, HEADER_SIZE + name.length, Type.PTR);
  writeU16(q, HEADER_SIZE + name.length + 2, CLASS_IN);
  return q;
}

/** What a reply says: the first PTR name (presentation form) and its TTL; `name: ''` when there is none (NXDOMAIN, no PTR). */
export interface PtrAnswer {
  name: string;
  ttl: number;
}

/**
 * The answer in `reply` to `query`, or null when `reply` is not its answer
 * (another id or question, not a response, malformed) or says nothing to
 * cache (SERVFAIL, REFUSED: the next miss asks again).
 */
export function readPtrAnswer(reply: Uint8Array, query: Uint8Array): PtrAnswer | null {
  if (reply.length < query.length || (reply[2] & 0x80) === 0 || reply[0] !== query[0] || reply[1] !== query[1]) return null;
  if (readU16(reply, 4) !== 1) return null;
  // The question, byte for byte but ASCII case (a server may echo 0x20 case changes).
  for (let i = HEADER_SIZE; i < query.length; i++) if ((reply[i] | 0x20) !== (query[i] | 0x20)) return null;
  const rcode = reply[3] & 0x0f;
  if (rcode === Rcode.NXDOMAIN) return { name: '', ttl: negativeTtl(reply, query.length) };
  if (rcode !== Rcode.NOERROR) return null;
  let at = query.length;
  const out = new Uint8Array(255);
  for (let n = readU16(reply, 6); n > 0; n--) {
    at = skipName(reply, at);
    if (at < 0 || at + 10 > reply.length) return null;
    const type = readU16(reply, at);
    const ttl = readU32(reply, at + 4);
    const length = readU16(reply, at + 8);
    const rdata = at + 10;
    if (rdata + length > reply.length) return null;
    if (type === Type.PTR && checkName(reply, rdata, rdata + length) >= 0) {
      const n2 = expandName(reply, rdata, out);
      if (n2 > 0) return { name: nameText(out, 0, n2), ttl };
    }
    at = rdata + length;
  }
  return { name: '', ttl: negativeTtl(reply, at) };
}

/** RFC 2308: a negative answer is cached for its SOA's MINIMUM (or TTL, if smaller); 0 when there is no SOA to say. */
function negativeTtl(reply: Uint8Array, at: number): number {
  // Skip the answer section, then read the authority's SOA.
  for (let n = readU16(reply, 6); n > 0; n--) {
    at = skipName(reply, at);
    if (at < 0 || at + 10 > reply.length) return 0;
    at += 10 + readU16(reply, at + 8);
  }
  for (let n = readU16(reply, 8); n > 0; n--) {
    at = skipName(reply, at);
    if (at < 0 || at + 10 > reply.length) return 0;
    const type = readU16(reply, at);
    const ttl = readU32(reply, at + 4);
    const end = at + 10 + readU16(reply, at + 8);
    if (type === Type.SOA && end <= reply.length && end >= 20) return Math.min(ttl, readU32(reply, end - 4));
    at = end;
  }
  return 0;
}
