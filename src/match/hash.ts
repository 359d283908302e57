// Hashes shared by the builder and the lookup, so both place a node in the
// same slot. A node's key chains its parent's key with its label (so it is a
// hash of the whole suffix `chat.deepseek.com`); the label is hashed byte by
// byte (FNV-1a) from its LAST byte to its first, because the builder scans
// names right to left, then mixed with the parent (murmur3 finaliser).

export const FNV_OFFSET = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

/** One more (already lower-cased) byte into a label hash. */
export function hashByte(h: number, c: number): number {
  return Math.imul(h ^ c, FNV_PRIME);
}

/** The key of the root, which every chain starts from. */
export const ROOT_KEY = 0x6a09e667;

/** The key of the child labelled `labelHash` under a node with key (or, in the builder, id) `parent`. Unsigned 32 bits. */
export function keyHash(parent: number, labelHash: number): number {
  let h = Math.imul(parent, 0x9e3779b1) ^ labelHash;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Maps a 32-bit hash onto 0..size-1 by its high bits (Lemire's multiply-shift; exact in doubles for size < 2^31). */
export function reduce(hash: number, size: number): number {
  return Math.floor((hash / 4294967296) * size);
}

/** ASCII lower-casing table for bytes read off the wire. */
export const FOLD = new Uint8Array(256).map((_, c) => (c >= 65 && c <= 90 ? c | 32 : c));
