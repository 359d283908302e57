// Where things sit in the cache's memory: the shared state block (the lock
// word, then the ring's and the cache's counters) and one record in the slab.
// Everything is typed-array arithmetic on these offsets; nothing per answer
// is a JS object.

/** Typed views of one byte store: the slab, or a detached copy of one record. */
export interface Views {
  u8: Buffer;
  u16: Uint16Array;
  u32: Uint32Array;
  i32: Int32Array;
  f64: Float64Array;
}

export function viewsOf(buffer: ArrayBufferLike): Views {
  return {
    u8: Buffer.from(buffer),
    u16: new Uint16Array(buffer),
    u32: new Uint32Array(buffer),
    i32: new Int32Array(buffer),
    f64: new Float64Array(buffer),
  };
}

// The shared state: an Int32 lock word (0 free, else the holder's id; lock.ts), then counters as float64s.
export const S_HEAD = 1;
export const S_TAIL = 2;
export const S_WRAPPED = 3;
export const S_WRAP_END = 4;
export const S_COUNT = 5;
export const S_LIMIT = 6;
export const S_HITS = 7;
export const S_MISSES = 8;
export const S_STALE_HITS = 9;
export const S_SEED = 10;
export const S_EPOCH = 11;
export const STATE_BYTES = 12 * 8;

// A record: a 56-byte header, then ttls u32[n], masks i32[t], ttl offsets
// u16[n], target offsets u16[t], key bytes, message bytes; padded to 8.
export const R_SIZE = 0; // u32: bytes of the whole record
export const R_HASH = 4;
export const R_KEY = 8; // u32: key length
export const R_MSG = 12; // u32: message length
export const R_TTLS = 16; // u32: n
export const R_TARGETS = 20; // u32: t
export const R_MASKS = 24; // u32: how many of the t mask slots are used
export const R_EPOCH = 28; // u32: matcher epoch the masks belong to
export const R_FLAGS = 32; // u32
export const R_STORED = 40; // f64
export const R_EXPIRES = 48; // f64
export const HEADER = 56;
/** Flags: indexed (a lookup can find it), and hit since it was written (the ring gives it a second chance). */
export const LIVE = 1;
export const REFERENCED = 2;
/** The smallest record there can be (header, a 1-byte name key, a 17-byte message), for sizing the index. */
export const MIN_RECORD = 80;

/** Where the key bytes of a record at `at` begin (after n TTLs and t targets: 4 + 2 bytes each). */
export function keyStart(at: number, n: number, t: number): number {
  return at + HEADER + (n + t) * 6;
}

/** Where the message bytes of a record at `at` begin. */
export function msgStart(at: number, n: number, t: number, keyLength: number): number {
  return at + HEADER + (n + t) * 6 + keyLength;
}
