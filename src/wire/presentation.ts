// The one text form of a DNS name (RFC 1035 §5.1, as dig and BIND print
// it): labels joined by dots; inside a label `\.`, `\\`, `\"`, `\(`, `\)`,
// `\;`, `\@`, `\$` for the characters zone files give a meaning, and `\DDD`
// (three decimal digits) for every byte outside printable ASCII, space
// included. ASCII letters are lower-cased (RFC 4343); no other byte is
// touched (0xC0-0xDE are not Latin-1 capitals to DNS). So `chat.deepseek.com`
// as one label reads `chat\.deepseek\.com`, never the three-label name, and
// every logged name parses back to the bytes asked (up to ASCII case).
//
// Names stay bytes on the hot path; this runs once per name at the edge
// (query log, reports, `check`), never per query in the resolver.

import { MAX_NAME } from './message.js';

const MAX_LABEL = 63;
const BACKSLASH = 0x5c;
const DOT = 0x2e;

/** Bytes that need a backslash before them: the zone-file specials. */
const SPECIAL = new Set([...'."\\();@$'].map((c) => c.charCodeAt(0)));

/** Each byte as it is written inside a label. */
const TEXT: readonly string[] = Array.from({ length: 256 }, (_, b) => {
  if (b <= 0x20 || b >= 0x7f) return '\\' + String(b).padStart(3, '0');
  if (SPECIAL.has(b)) return '\\' + String.fromCharCode(b);
  return String.fromCharCode(b >= 0x41 && b <= 0x5a ? b | 0x20 : b);
});

/** Bytes written as themselves (lower-case letters, digits, `-`, `_` and the other plain printables). */
const PLAIN = new Uint8Array(256).map((_, b) => (TEXT[b].length === 1 && TEXT[b].charCodeAt(0) === b ? 1 : 0));

/**
 * The name whose wire form starts at `at`, in presentation form, without
 * the trailing dot (the root alone is `.`). Stops at the root label, at a
 * compression pointer or past `end`: what was read is returned.
 */
export function nameText(buf: Uint8Array, at = 0, end = buf.length): string {
  let out = '';
  let total = 1;
  for (;;) {
    if (at >= end) break;
    const len = buf[at];
    if (len === 0 || len > MAX_LABEL || at + 1 + len > end || (total += len + 1) > MAX_NAME) break;
    if (out !== '') out += '.';
    const from = at + 1;
    const to = from + len;
    let plain = true;
    for (let i = from; i < to; i++) {
      if (PLAIN[buf[i]] === 0) {
        plain = false;
        break;
      }
    }
    if (plain) out += Buffer.from(buf.buffer, buf.byteOffset + from, len).toString('latin1');
    else for (let i = from; i < to; i++) out += TEXT[buf[i]];
    at = to;
  }
  return out === '' ? '.' : out;
}

/** The longest name text made from outside bytes (a lease's host name, a static name): a DNS name's bound. */
export const MAX_HOST_NAME = 253;

/**
 * A host name from outside the DNS (a DHCP lease, a static `hosts:` entry)
 * in the same presentation form as nameText: dots separate labels, every
 * other byte is written as nameText writes it inside a label (`\DDD` for
 * anything outside printable ASCII, `\\` and the zone-file specials
 * escaped, ASCII letters lower-cased). At most MAX_HOST_NAME bytes are read
 * (the rest is cut); a trailing dot is dropped. '' for no name.
 */
export function hostNameText(bytes: Uint8Array): string {
  let end = Math.min(bytes.length, MAX_HOST_NAME);
  if (end > 0 && bytes[end - 1] === DOT) end--;
  let out = '';
  for (let i = 0; i < end; i++) out += bytes[i] === DOT ? '.' : TEXT[bytes[i]];
  return out;
}

/** A presentation-form name that cannot be read; the message says where and why. */
export class NameTextError extends Error {}

/**
 * The wire form (labels, root label included) of a presentation-form name:
 * the inverse of nameText (a trailing dot is allowed; `.` is the root).
 * Only printable ASCII is accepted as text: other bytes are written `\DDD`.
 */
export function parseNameText(text: string): Uint8Array {
  const out = new Uint8Array(MAX_NAME);
  if (text === '.') {
    out[0] = 0;
    return out.subarray(0, 1);
  }
  let w = 1;
  let lenAt = 0;
  const fail = (why: string): never => {
    throw new NameTextError(`${JSON.stringify(text)} is not a name in presentation form: ${why}`);
  };
  const closeLabel = (i: number): void => {
    const len = w - lenAt - 1;
    if (len === 0) fail(`empty label at character ${i + 1}`);
    if (len > MAX_LABEL) fail(`label longer than ${MAX_LABEL} octets before character ${i + 1}`);
    out[lenAt] = len;
    lenAt = w++;
  };
  const put = (b: number): void => {
    if (w >= MAX_NAME) fail(`longer than ${MAX_NAME} octets`);
    out[w++] = b;
  };
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) fail(`character ${i + 1} (${JSON.stringify(text[i])}) must be written \\DDD`);
    if (c === DOT) {
      closeLabel(i);
      if (i === n - 1) return finish();
      continue;
    }
    if (c !== BACKSLASH) {
      put(c);
      continue;
    }
    if (i + 1 >= n) fail('a lone backslash at the end');
    const d = text.slice(i + 1, i + 4);
    if (/^\d/.test(d)) {
      if (!/^\d{3}$/.test(d) || Number(d) > 255) fail(`\\${d} at character ${i + 1}: write a byte as three digits, \\000 to \\255`);
      put(Number(d));
      i += 3;
    } else {
      const e = text.charCodeAt(i + 1);
      if (e <= 0x20 || e >= 0x7f) fail(`character ${i + 2} (${JSON.stringify(text[i + 1])}) must be written \\DDD`);
      put(e);
      i += 1;
    }
  }
  closeLabel(n);
  return finish();

  function finish(): Uint8Array {
    // The label just closed reserved the root's byte.
    if (lenAt >= MAX_NAME) fail(`longer than ${MAX_NAME} octets`);
    out[lenAt] = 0;
    return out.slice(0, lenAt + 1);
  }
}

/** The labels of a presentation-form name, still in presentation form: splits at dots that are not escaped. */
export function textLabels(text: string): string[] {
  if (text === '.' || text === '') return [];
  const labels: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === DOT) {
      labels.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (start < text.length) labels.push(text.slice(start));
  return labels;
}
