// DER (ITU-T X.690), as much as certificates need: a writer for the
// structures a leaf certificate is made of, and a reader that walks the
// organisation's CA certificate to take its subject and key identifier as
// they are. Node's crypto signs and verifies but writes no certificate.

const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
const NULL = 0x05;
const OID = 0x06;
const UTF8_STRING = 0x0c;
const SEQUENCE = 0x30;
const SET = 0x31;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

/** One element: tag, length, contents. */
export function tlv(tag: number, ...contents: Uint8Array[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag, ...lengthBytes(body.length)]), body]);
}

export const sequence = (...items: Uint8Array[]): Buffer => tlv(SEQUENCE, ...items);
export const set = (...items: Uint8Array[]): Buffer => tlv(SET, ...items);
export const octetString = (bytes: Uint8Array): Buffer => tlv(OCTET_STRING, bytes);
export const utf8String = (text: string): Buffer => tlv(UTF8_STRING, Buffer.from(text, 'utf8'));
export const nullValue = (): Buffer => tlv(NULL);
/** A BIT STRING of whole bytes (no unused bits), as keys and signatures are. */
export const bitString = (bytes: Uint8Array): Buffer => tlv(BIT_STRING, Buffer.from([0]), bytes);
/** [n] EXPLICIT: a constructed context tag around one element. */
export const explicit = (n: number, inner: Uint8Array): Buffer => tlv(0xa0 | n, inner);
/** [n] IMPLICIT on a primitive: the contents with a context tag. */
export const implicit = (n: number, contents: Uint8Array): Buffer => tlv(0x80 | n, contents);

/** A non-negative INTEGER from its big-endian bytes (a leading 0 keeps it positive). */
export function unsignedInteger(bytes: Uint8Array): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return tlv(INTEGER, trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

export const smallInteger = (n: number): Buffer => unsignedInteger(Uint8Array.of(n));

export function objectId(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out = [arcs[0] * 40 + arcs[1]];
  for (const arc of arcs.slice(2)) {
    const groups: number[] = [];
    for (let v = arc; ; v = Math.floor(v / 128)) {
      groups.unshift(v & 0x7f);
      if (v < 128) break;
    }
    out.push(...groups.map((g, i) => (i < groups.length - 1 ? g | 0x80 : g)));
  }
  return tlv(OID, Uint8Array.from(out));
}

/** UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5), to the second. */
export function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const year = date.getUTCFullYear();
  return year < 2050 ? tlv(UTC_TIME, Buffer.from(digits.slice(2) + 'Z', 'ascii')) : tlv(GENERALIZED_TIME, Buffer.from(digits + 'Z', 'ascii'));
}

/** One element read from DER: where its header starts, where its contents start and where it ends. */
export interface Element {
  tag: number;
  start: number;
  contents: number;
  end: number;
}

/** The element at `at`; throws on a length that runs past `limit` (a file that is not DER). */
export function readElement(buf: Uint8Array, at: number, limit = buf.length): Element {
  if (at + 2 > limit) throw new Error('DER: truncated element');
  const tag = buf[at];
  let length = buf[at + 1];
  let contents = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || contents + count > limit) throw new Error('DER: bad length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[contents + i];
    contents += count;
  }
  const end = contents + length;
  if (end > limit) throw new Error('DER: element runs past its container');
  return { tag, start: at, contents, end };
}

/** The elements inside a constructed one. */
export function children(buf: Uint8Array, parent: Element): Element[] {
  const out: Element[] = [];
  for (let at = parent.contents; at < parent.end; ) {
    const e = readElement(buf, at, parent.end);
    out.push(e);
    at = e.end;
  }
  return out;
}

/** An OBJECT IDENTIFIER's contents in dotted form. */
export function readObjectId(buf: Uint8Array, e: Element): string {
  const bytes = buf.subarray(e.contents, e.end);
  const arcs = [Math.floor(bytes[0] / 40), bytes[0] % 40];
  let v = 0;
  for (let i = 1; i < bytes.length; i++) {
    v = v * 128 + (bytes[i] & 0x7f);
    if ((bytes[i] & 0x80) === 0) {
      arcs.push(v);
      v = 0;
    }
  }
  return arcs.join('.');
}
