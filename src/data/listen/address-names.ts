// A datagram's source address as the text node:dgram would give it
// (inet_ntop's form, `%scope` on a link-local IPv6 address), from the bytes
// the batched listener receives. The strings of recent sources are kept in a
// small table indexed by a hash of the bytes: a client seen before costs a
// compare, no string. The table is bounded (a flood of spoofed sources only
// replaces its entries).

/** Entries in the table (a power of two). */
const ENTRIES = 1024;

/** Scratch for one address's 16 bytes (one reader at a time: the query loop is single-threaded). */
export const SOURCE = new Uint8Array(16);

export class AddressNames {
  private readonly bytes = new Uint8Array(ENTRIES * 16);
  private readonly meta = new Uint32Array(ENTRIES * 2);
  private readonly texts: string[] = new Array<string>(ENTRIES).fill('');

  /** The text of the `length` (4 or 16) address bytes at `from` in `src`, with its IPv6 scope id. */
  of(src: Uint8Array, from: number, length: 4 | 16, scope: number): string {
    let h = (length * 31 + scope) | 0;
    for (let i = 0; i < length; i++) h = Math.imul(h ^ src[from + i], 0x01000193);
    const slot = (h >>> 0) & (ENTRIES - 1);
    const at = slot * 16;
    const bytes = this.bytes;
    let same = this.texts[slot] !== '' && this.meta[slot * 2] === length && this.meta[slot * 2 + 1] === scope;
    for (let i = 0; same && i < length; i++) same = bytes[at + i] === src[from + i];
    if (same) return this.texts[slot];
    for (let i = 0; i < length; i++) bytes[at + i] = src[from + i];
    this.meta[slot * 2] = length;
    this.meta[slot * 2 + 1] = scope;
    return (this.texts[slot] = length === 4 ? ipv4Text(src, from) : ipv6Text(src, from, scope));
  }
}

function ipv4Text(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/**
 * As inet_ntop (libuv's, which node:dgram uses) writes it: the longest run
 * of two or more zero groups (the first of equal ones) as `::`, lower-case
 * hex, and an IPv4 tail for mapped (::ffff:a.b.c.d) and compatible
 * (::a.b.c.d) addresses; a link-local address with a scope gets `%scope`.
 */
export function ipv6Text(b: Uint8Array, at: number, scope = 0): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((b[at + 2 * i] << 8) | b[at + 2 * i + 1]);
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) best = -1;
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (best >= 0 && i >= best && i < best + bestLen) {
      if (i === best) text += ':';
      continue;
    }
    if (i !== 0) text += ':';
    if (i === 6 && best === 0 && (bestLen === 6 || (bestLen === 7 && words[7] !== 1) || (bestLen === 5 && words[5] === 0xffff))) {
      text += ipv4Text(b, at + 12);
      break;
    }
    text += words[i].toString(16);
  }
  if (best >= 0 && best + bestLen === 8) text += ':';
  const linkLocal = b[at] === 0xfe && (b[at + 1] & 0xc0) === 0x80;
  return linkLocal && scope > 0 ? `${text}%${scope}` : text;
}
