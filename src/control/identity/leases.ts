// Lease files as DHCP servers write them, read into one shape: an address,
// the host name the client gave (presentation form, hostNameText: the bytes
// of a file are anyone's), and when the lease began and ends. Pure parsing:
// lease-job.ts runs it off the query thread, `check --offline` in place.
//
// - dnsmasq (`dhcp-leasefile`, /var/lib/misc/dnsmasq.leases): one lease a
//   line, `EXPIRY MAC|IAID ADDRESS HOSTNAME|* CLIENT-ID|*` (expiry in epoch
//   seconds, 0 = never; a `duid` line before the DHCPv6 leases). The file is
//   rewritten whole on each change, so what it holds is what is leased.
// - Kea memfile (kea-leases4.csv, kea-leases6.csv): CSV with a header row
//   naming the columns (address, valid_lifetime, expire, hostname, state,
//   and lease_type for DHCPv6); appended to as leases change, so the last
//   row for an address wins. Commas in a host name are `&#x2c`.
// - ISC dhcpd (dhcpd.leases): `lease ADDRESS { starts …; ends …; binding
//   state active; client-hostname "…"; }` blocks, appended as they change
//   (the last block for an address wins), times in UTC (`W YYYY/MM/DD
//   HH:MM:SS`, or `epoch N;` with db-time-format local), strings with
//   `\ooo` escapes.
//
// A lease that is not in force (expired, released, declined, free) gives
// nothing; a line that cannot be read is counted, never fatal.

import { canonicalAddress } from '../../net/address.js';
import { hostNameText } from '../../wire/presentation.js';
import { isIP } from 'node:net';
import type { LeaseFormat } from '../config/identity.js';

export interface Lease {
  /** Canonical address (as a socket reports its peer). */
  address: string;
  /** Presentation form; '' when the client gave none. */
  name: string;
  /** Epoch milliseconds; -Infinity when the file does not say (dnsmasq). */
  start: number;
  /** Epoch milliseconds; Infinity for a lease that never ends. */
  end: number;
}

export interface ParsedLeases {
  leases: Lease[];
  /** Lines or blocks that could not be read, and the first of them (1-based line). */
  bad: number;
  firstBad?: number;
}

/** The leases in a file's bytes that are in force at some time: expired ones (end <= now) are left out. */
export function parseLeases(format: LeaseFormat, bytes: Buffer, now: number): ParsedLeases {
  const parsed = format === 'dnsmasq' ? dnsmasq(bytes) : format === 'kea' ? kea(bytes) : isc(bytes);
  parsed.leases = parsed.leases.filter((l) => l.end > now);
  return parsed;
}

/** An address as the file writes it, canonical; null when it is none. */
function addressOf(text: string): string | null {
  return isIP(text) === 0 ? null : canonicalAddress(text);
}

const latin1 = (b: Buffer, from: number, to: number): string => b.toString('latin1', from, to);

function lines(bytes: Buffer): { from: number; to: number }[] {
  const out: { from: number; to: number }[] = [];
  let from = 0;
  for (;;) {
    const nl = bytes.indexOf(0x0a, from);
    const to = nl < 0 ? bytes.length : nl;
    out.push({ from, to: to > from && bytes[to - 1] === 0x0d ? to - 1 : to });
    if (nl < 0) return out;
    from = nl + 1;
  }
}

function dnsmasq(bytes: Buffer): ParsedLeases {
  const result: ParsedLeases = { leases: [], bad: 0 };
  lines(bytes).forEach(({ from, to }, i) => {
    if (to <= from) return;
    const fields: { from: number; to: number }[] = [];
    for (let at = from; at < to && fields.length < 6; ) {
      const space = bytes.indexOf(0x20, at);
      const end = space < 0 || space > to ? to : space;
      if (end > at) fields.push({ from: at, to: end });
      at = end + 1;
    }
    const word = (k: number) => latin1(bytes, fields[k].from, fields[k].to);
    if (fields.length >= 1 && word(0) === 'duid') return;
    const expiry = fields.length >= 4 ? Number(word(0)) : NaN;
    const address = fields.length >= 4 ? addressOf(word(2)) : null;
    if (!Number.isInteger(expiry) || expiry < 0 || address === null) {
      if (result.bad++ === 0) result.firstBad = i + 1;
      return;
    }
    const host = bytes.subarray(fields[3].from, fields[3].to);
    const name = host.length === 1 && host[0] === 0x2a ? '' : hostNameText(host);
    result.leases.push({ address, name, start: -Infinity, end: expiry === 0 ? Infinity : expiry * 1000 });
  });
  return result;
}

/** Kea's CSV escape: `&#xHH` is the byte 0xHH (commas in host names). */
function keaField(bytes: Buffer): Buffer {
  if (bytes.indexOf('&#x') < 0) return bytes;
  return Buffer.from(latin1(bytes, 0, bytes.length).replace(/&#x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
}

function kea(bytes: Buffer): ParsedLeases {
  const result: ParsedLeases = { leases: [], bad: 0 };
  const byAddress = new Map<string, Lease | null>();
  let columns: Map<string, number> | null = null;
  lines(bytes).forEach(({ from, to }, i) => {
    if (to <= from) return;
    const cells: Buffer[] = [];
    for (let at = from; at <= to; ) {
      const comma = bytes.indexOf(0x2c, at);
      const end = comma < 0 || comma > to ? to : comma;
      cells.push(bytes.subarray(at, end));
      at = end + 1;
    }
    const cell = (name: string): Buffer | undefined => {
      const k = columns?.get(name);
      return k === undefined ? undefined : cells[k];
    };
    // The header names the columns (their order and number changed across Kea versions); a later header (after a cleanup) names them again.
    if (latin1(cells[0], 0, cells[0].length) === 'address') {
      columns = new Map(cells.map((c, k) => [latin1(c, 0, c.length), k]));
      return;
    }
    const text = (name: string) => {
      const c = cell(name);
      return c === undefined ? '' : latin1(c, 0, c.length);
    };
    const address = columns === null ? null : addressOf(text('address'));
    const lifetime = Number(text('valid_lifetime'));
    const expire = Number(text('expire'));
    if (address === null || !Number.isInteger(lifetime) || !Number.isInteger(expire)) {
      if (result.bad++ === 0) result.firstBad = i + 1;
      return;
    }
    // Only a lease in its default state is in force (1 declined, 2 expired-reclaimed, 3 released); a delegated prefix (lease_type 2) is no client address.
    const state = text('state');
    const type = text('lease_type');
    if ((state !== '' && state !== '0') || type === '2' || lifetime === 0) {
      byAddress.set(address, null);
      return;
    }
    const never = lifetime === 0xffffffff;
    byAddress.set(address, {
      address,
      name: hostNameText(keaField(cell('hostname') ?? Buffer.alloc(0))),
      start: never ? -Infinity : (expire - lifetime) * 1000,
      end: never ? Infinity : expire * 1000,
    });
  });
  for (const l of byAddress.values()) if (l !== null) result.leases.push(l);
  return result;
}

type Token = { kind: 'word' | 'string' | '{' | '}' | ';'; bytes: Buffer; line: number };

const DELIMITS = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0d, 0x0a, 0x7b, 0x7d, 0x3b, 0x22, 0x23]) DELIMITS[c] = 1;

/** dhcpd.leases as tokens, one at a time: words, quoted strings (with `\\ooo`, `\\"` and `\\\\` undone), braces and semicolons; `#` to the end of a line is a comment. */
class IscTokens {
  private at = 0;
  private line = 1;

  constructor(private readonly b: Buffer) {}

  next(): Token | undefined {
    const b = this.b;
    while (this.at < b.length) {
      const c = b[this.at];
      if (c === 0x0a) {
        this.line++;
        this.at++;
      } else if (c === 0x20 || c === 0x09 || c === 0x0d) this.at++;
      else if (c === 0x23) {
        while (this.at < b.length && b[this.at] !== 0x0a) this.at++;
      } else break;
    }
    if (this.at >= b.length) return undefined;
    const c = b[this.at];
    const line = this.line;
    if (c === 0x7b || c === 0x7d || c === 0x3b) {
      this.at++;
      return { kind: c === 0x7b ? '{' : c === 0x7d ? '}' : ';', bytes: b.subarray(this.at - 1, this.at), line };
    }
    if (c === 0x22) return this.string(line);
    const from = this.at;
    while (this.at < b.length && DELIMITS[b[this.at]] === 0) this.at++;
    return { kind: 'word', bytes: b.subarray(from, this.at), line };
  }

  /** A quoted string; one the file ends inside is no token (a write in progress). */
  private string(line: number): Token | undefined {
    const b = this.b;
    const out: number[] = [];
    let i = this.at + 1;
    while (i < b.length && b[i] !== 0x22) {
      if (b[i] === 0x5c && i + 1 < b.length) {
        const d = b.toString('latin1', i + 1, i + 4);
        if (/^[0-7]{3}$/.test(d)) {
          out.push(parseInt(d, 8) & 0xff);
          i += 4;
        } else {
          out.push(b[i + 1]);
          i += 2;
        }
        continue;
      }
      if (b[i] === 0x0a) this.line++;
      out.push(b[i++]);
    }
    this.at = i + 1;
    return i >= b.length ? undefined : { kind: 'string', bytes: Buffer.from(out), line };
  }
}

/** `W YYYY/MM/DD HH:MM:SS` (UTC), `epoch N`, or `never`: epoch milliseconds, Infinity for never, NaN when unreadable. */
function iscTime(words: string[]): number {
  if (words[0] === 'never') return Infinity;
  if (words[0] === 'epoch') return Number(words[1]) * 1000;
  const m = /^(\d{4})\/(\d{1,2})\/(\d{1,2})$/.exec(words[1] ?? '');
  const t = /^(\d{1,2}):(\d{2}):(\d{2})$/.exec(words[2] ?? '');
  if (!m || !t) return NaN;
  const [y, mo, d, h, mi, se] = [...m.slice(1), ...t.slice(1)].map(Number);
  const time = Date.UTC(y, mo - 1, d, h, mi, se);
  // Date.UTC rolls month 13 into the next year: a date that does not read back is no date.
  const back = new Date(time);
  return back.getUTCMonth() === mo - 1 && back.getUTCDate() === d && back.getUTCHours() === h && mi < 60 && se < 61 ? time : NaN;
}

function isc(bytes: Buffer): ParsedLeases {
  const result: ParsedLeases = { leases: [], bad: 0 };
  const byAddress = new Map<string, Lease | null>();
  const tokens = new IscTokens(bytes);
  const bad = (line: number) => {
    if (result.bad++ === 0) result.firstBad = line;
  };
  /** Skips to the end of the statement or block that began with `first`: false when the file ends first. */
  const skip = (first: Token): boolean => {
    if (first.kind === ';' || first.kind === '}') return true;
    let depth = first.kind === '{' ? 1 : 0;
    for (let t = tokens.next(); t !== undefined; t = tokens.next()) {
      if (t.kind === '{') depth++;
      else if (t.kind === '}') depth--;
      if (depth === 0 && (t.kind === ';' || t.kind === '}')) return true;
    }
    return false;
  };
  for (let t = tokens.next(); t !== undefined; t = tokens.next()) {
    if (t.kind !== 'word' || latin1(t.bytes, 0, t.bytes.length) !== 'lease') {
      skip(t);
      continue;
    }
    const where = t.line;
    const head = tokens.next();
    const open = tokens.next();
    const address = head?.kind === 'word' ? addressOf(latin1(head.bytes, 0, head.bytes.length)) : null;
    if (open?.kind !== '{' || address === null) {
      bad(where);
      if (open !== undefined) skip(open);
      continue;
    }
    const lease = iscLease(tokens, skip, address);
    if (lease === undefined) {
      bad(where);
      continue;
    }
    byAddress.set(address, lease);
  }
  for (const l of byAddress.values()) if (l !== null) result.leases.push(l);
  return result;
}

/** The statements of one lease block up to its closing brace: the lease (null when not active), or undefined when unreadable or cut off. */
function iscLease(tokens: IscTokens, skip: (first: Token) => boolean, address: string): Lease | null | undefined {
  let start = -Infinity;
  let end = Infinity;
  let state = 'active';
  let name: Buffer = Buffer.alloc(0);
  for (;;) {
    const words: Token[] = [];
    let last: Token | undefined;
    for (last = tokens.next(); last !== undefined && last.kind !== ';' && last.kind !== '}'; last = tokens.next()) {
      if (last.kind === '{') {
        // A nested block (`on expiry { … }`): not a lease's field.
        if (!skip(last)) return undefined;
        words.length = 0;
        continue;
      }
      words.push(last);
    }
    if (last === undefined) return undefined; // the file ends inside the block: a write in progress
    if (words.length > 0) {
      const w = words.map((x) => latin1(x.bytes, 0, x.bytes.length));
      if (w[0] === 'starts') start = iscTime(w.slice(1));
      else if (w[0] === 'ends') end = iscTime(w.slice(1));
      else if (w[0] === 'binding' && w[1] === 'state') state = w[2] ?? '';
      else if (w[0] === 'client-hostname' && words[1]?.kind === 'string') name = words[1].bytes;
    }
    if (last.kind === '}') break;
  }
  if (Number.isNaN(start) || Number.isNaN(end)) return undefined;
  // Only an active binding is a lease in force (free, expired, released, abandoned, backup are not).
  return state === 'active' ? { address, name: hostNameText(name), start, end } : null;
}
