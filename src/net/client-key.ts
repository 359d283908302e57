// Who "one client" is for every per-client limit: an IPv4 address, or an
// IPv6 /56. One IPv6 host can take any address of its /64 (privacy
// addresses change daily), and a site usually gets a /56 from its ISP, so
// the exact IPv6 address would let one client be as many as it likes. The
// rate limiter and the connection caps count by this key alike.

// In the second key word, below the 24 bits of an IPv6 /56's last three bytes: never 0, so 0 can mean "empty".
const TAG_IPV4 = 4;
const TAG_IPV6 = 6;

/** Writes the key of a 16-byte address (IPv4 mapped into ::ffff:0:0/96) as two 32-bit words into `out`. */
export function clientKey(bytes: Uint8Array, out: Uint32Array): void {
  if (isMappedIPv4(bytes)) {
    out[0] = (bytes[12] << 24) | (bytes[13] << 16) | (bytes[14] << 8) | bytes[15];
    out[1] = TAG_IPV4;
  } else {
    out[0] = (bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3];
    out[1] = (bytes[4] << 24) | (bytes[5] << 16) | (bytes[6] << 8) | TAG_IPV6;
  }
}

function isMappedIPv4(b: Uint8Array): boolean {
  return b[10] === 0xff && b[11] === 0xff && (b[0] | b[1] | b[2] | b[3] | b[4] | b[5] | b[6] | b[7] | b[8] | b[9]) === 0;
}

/**
 * A 32-bit mix of a key's two words with a random `seed` (murmur3's
 * finaliser), so that addresses cannot be chosen to land together.
 */
export function mixKey(k0: number, k1: number, seed: number): number {
  let h = Math.imul(k0 ^ seed, 0xcc9e2d51);
  h = Math.imul((h << 15) | (h >>> 17), 0x1b873593) ^ k1;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}
