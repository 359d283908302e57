// Reading the address string Node gives for a datagram's source into bytes
// the caller owns, with no allocation: the rate limiter does this for every
// UDP query. `addressBytes` in address.ts is the readable version for config
// and start-up; this one is a hand-written scanner for the hot path.

const COLON = 58;
const DOT = 46;
const PERCENT = 37;

// One reader at a time (the query loop is single-threaded).
const groups = new Uint16Array(8);

/**
 * Writes the 16 bytes of `text` into `out` (IPv4 mapped into ::ffff:0:0/96,
 * like `addressBytes`); false when `text` is not an IPv4 or IPv6 address.
 * Accepts what inet_ntop writes and more: full or compressed IPv6, an IPv4
 * tail, a zone (`%eth0`, ignored).
 */
export function readAddress(text: string, out: Uint8Array): boolean {
  let end = text.length;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === COLON) return readIPv6(text, end, out);
    if (c === PERCENT) end = i;
  }
  if (!readIPv4(text, 0, end, out, 12)) return false;
  out.fill(0, 0, 10);
  out[10] = 0xff;
  out[11] = 0xff;
  return true;
}

/** Dotted quad text[from, end) into out[at .. at+4). */
function readIPv4(text: string, from: number, end: number, out: Uint8Array, at: number): boolean {
  let octets = 0;
  let value = 0;
  let digits = 0;
  for (let i = from; i <= end; i++) {
    const c = i < end ? text.charCodeAt(i) : DOT;
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return false;
    } else if (c === DOT) {
      if (digits === 0 || octets === 4) return false;
      out[at + octets++] = value;
      value = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  return octets === 4;
}

function readIPv6(text: string, length: number, out: Uint8Array): boolean {
  let end = text.indexOf('%');
  if (end < 0) end = length;
  let n = 0; // groups read
  let gap = -1; // where '::' stands, in groups
  let i = 0;
  if (end >= 2 && text.charCodeAt(0) === COLON) {
    if (text.charCodeAt(1) !== COLON) return false;
    gap = 0;
    i = 2;
  }
  while (i < end) {
    let value = 0;
    let digits = 0;
    let j = i;
    for (; j < end; j++) {
      const h = hexValue(text.charCodeAt(j));
      if (h < 0) break;
      value = value * 16 + h;
      digits++;
    }
    if (j < end && text.charCodeAt(j) === DOT) {
      // An IPv4 tail stands for the last two groups.
      if (n > 6 || !readIPv4(text, i, end, out, 0)) return false;
      groups[n++] = (out[0] << 8) | out[1];
      groups[n++] = (out[2] << 8) | out[3];
      break;
    }
    if (digits === 0 || digits > 4 || n === 8) return false;
    groups[n++] = value;
    if (j === end) break;
    if (text.charCodeAt(j) !== COLON) return false;
    j++;
    if (j < end && text.charCodeAt(j) === COLON) {
      if (gap >= 0) return false;
      gap = n;
      j++;
    } else if (j === end) {
      return false; // a single trailing colon
    }
    i = j;
  }
  if (gap < 0 ? n !== 8 : n > 7) return false;
  const zeros = 8 - n;
  let o = 0;
  for (let g = 0; g < n; g++) {
    if (g === gap) for (let z = 0; z < zeros; z++, o += 2) out[o] = out[o + 1] = 0;
    out[o++] = groups[g] >>> 8;
    out[o++] = groups[g] & 0xff;
  }
  // '::' at the very end (or the whole address).
  if (gap === n) for (let z = 0; z < zeros; z++, o += 2) out[o] = out[o + 1] = 0;
  return true;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}
