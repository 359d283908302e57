// The compiled matcher: the lookup side of the trie (see README.md for the layout).
//
// Nodes are variable-length records in one byte pool, addressed by offset:
//   [flags|label length: u8][label bytes][parent offset: LEB128][sub mask][fin mask]
// Records are laid out by depth, so top-level nodes sit at the start of the
// pool and most parent offsets (those of second-level names) take 2 bytes.
// `sub` (present when FLAG_SUB) is the mask id for names strictly below the
// node and for the node itself unless it has exact entries; `fin` (present
// when FLAG_FIN) is the mask id for the node's own name when exact entries
// change it. Both already include everything inherited from ancestors, so
// a lookup only remembers the last `sub` it walked through.
//
// Children are found through one open-addressing table keyed by the hash
// of the whole suffix (parent suffix key, label hash), so every level's slot
// can be computed from the query alone. Each u32 slot packs the child's offset (high
// bits) with a fingerprint of the key (low bits), so probes past other keys
// rarely touch the pool.
import type { ListSpec, Matcher } from './types.js';
import { MaskTable, type MaskTableParts } from './masks.js';
import { FNV_OFFSET, FNV_PRIME, FOLD, ROOT_KEY } from './hash.js';
import { normalizeName } from './name.js';

export const FLAG_SUB = 0x40;
export const FLAG_FIN = 0x80;
export const LEN_MASK = 0x3f;

const MAX_WIRE_NAME = 255;

/**
 * Everything a matcher is made of. The arrays live in SharedArrayBuffers and
 * the rest is plain data, so the parts can be posted to another thread
 * (worker_threads) and a matcher built there over the same memory: compiled
 * once, shared by reference, never copied.
 */
export interface CompiledParts {
  pool: Uint8Array;
  table: Uint32Array;
  fpBits: number;
  /** Bytes per stored mask id: 1 up to 256 distinct masks, 2 up to 65,536, else 3. */
  maskWidth: number;
  masks: MaskTableParts;
  lists: readonly ListSpec[];
  /** Trie nodes, root excluded. */
  nodes: number;
  /** Distinct names carrying at least one entry. */
  names: number;
}

export class CompiledMatcher implements Matcher {
  readonly lists: readonly ListSpec[];
  readonly maskCount: number;
  readonly nodes: number;
  readonly names: number;
  private readonly pool: Uint8Array;
  private readonly table: Uint32Array;
  private readonly cap: number;
  private readonly fpBits: number;
  private readonly fpMask: number;
  private readonly maskWidth: number;
  private readonly masks: MaskTable;
  /** Label start offsets of the name being matched (at most 127 labels fit in 255 octets). */
  private readonly starts = new Int32Array(128);
  /** Suffix keys of the name being matched, by label index. */
  private readonly keys = new Int32Array(128);
  /** Their first table slots. */
  private readonly slots = new Int32Array(128);
  /** Where the warm-up loads go, so the compiler cannot drop them (a typed array: a number field could box). */
  private readonly touched = new Int32Array(1);
  /** matchName encodes into this, then takes the wire path. */
  private readonly wire = new Uint8Array(MAX_WIRE_NAME + 1);
  /**
   * V8 does not count SharedArrayBuffers toward its GC pressure: a matcher
   * dropped by a reload would hold its memory until some unrelated GC (a
   * burst of 30 reloads of a 300k-name list grew the daemon to 560 MB). An
   * ArrayBuffer of the same size is counted, so this thread collects the old
   * matcher in time; never written, its pages are never resident.
   */
  readonly gcWeight: ArrayBuffer | null;

  constructor(readonly parts: CompiledParts) {
    this.pool = parts.pool;
    this.table = parts.table;
    this.cap = parts.table.length;
    this.fpBits = parts.fpBits;
    this.fpMask = 2 ** parts.fpBits - 1;
    this.maskWidth = parts.maskWidth;
    this.masks = new MaskTable(parts.masks.count, parts.masks.words, parts.masks.bits);
    this.maskCount = parts.masks.count;
    this.lists = parts.lists;
    this.nodes = parts.nodes;
    this.names = parts.names;
    const shared = parts.pool.byteLength + parts.table.byteLength + parts.masks.bits.byteLength;
    this.gcWeight = parts.pool.buffer instanceof SharedArrayBuffer ? new ArrayBuffer(shared) : null;
  }

  get byteSize(): number {
    return this.pool.byteLength + this.table.byteLength + this.masks.byteSize + this.starts.byteLength + this.keys.byteLength + this.slots.byteLength + this.touched.byteLength + this.wire.byteLength;
  }

  blocks(maskId: number, listId: number): boolean {
    return this.masks.blocks(maskId, listId);
  }

  allows(maskId: number, listId: number): boolean {
    return this.masks.allows(maskId, listId);
  }

  matchName(name: string): number {
    const norm = normalizeName(name);
    if (typeof norm !== 'string') return -1;
    const wire = this.wire;
    let at = 0;
    let lenAt = 0;
    for (let i = 0; i <= norm.length; i++) {
      if (i === norm.length || norm.charCodeAt(i) === 46) {
        wire[lenAt] = at - lenAt;
        lenAt = ++at;
      } else {
        wire[++at] = norm.charCodeAt(i);
      }
    }
    wire[lenAt] = 0;
    return this.matchWire(wire, 0);
  }

  matchWire(buf: Uint8Array, offset: number): number {
    // Pass 1: validate and note where each label starts (the trie is walked from the last label).
    const starts = this.starts;
    const end = buf.length;
    let labels = 0;
    let total = 1;
    let p = offset;
    for (;;) {
      if (p >= end) return -1;
      const len = buf[p];
      if (len === 0) break;
      if (len > 63) return -1; // compression pointer (0xC0) or reserved label type
      total += len + 1;
      if (total > MAX_WIRE_NAME) return -1;
      starts[labels++] = p;
      p += len + 1;
    }
    // Pass 2: every suffix's key depends only on the name's bytes, so all
    // the keys are computed first (arithmetic only), then every level's
    // table slot is read in one tight loop, and the records those slots
    // point at in another: independent loads that the CPU keeps in flight
    // together instead of waiting for one cache miss per label.
    const keys = this.keys;
    const table = this.table;
    const slots = this.slots;
    const pool = this.pool;
    const cap = this.cap;
    const fpMask = this.fpMask;
    const fpBits = this.fpBits;
    let key = ROOT_KEY;
    for (let i = labels - 1; i >= 0; i--) {
      const at = starts[i];
      let h = FNV_OFFSET;
      for (let j = at + buf[at]; j > at; j--) h = Math.imul(h ^ FOLD[buf[j]], FNV_PRIME);
      // keyHash() and reduce() of hash.ts, written out: calls that V8 declines
      // to inline would box these 32-bit values (an allocation per lookup).
      key = Math.imul(key, 0x9e3779b1) ^ h;
      key ^= key >>> 16;
      key = Math.imul(key, 0x85ebca6b);
      key ^= key >>> 13;
      key = Math.imul(key, 0xc2b2ae35);
      key ^= key >>> 16;
      keys[i] = key;
      slots[i] = Math.floor(((key >>> 0) / 4294967296) * cap);
    }
    let touched = 0;
    for (let i = labels - 1; i >= 0; i--) touched ^= table[slots[i]];
    for (let i = labels - 1; i >= 0; i--) {
      const v = table[slots[i]];
      if ((v & fpMask) === (keys[i] & fpMask)) touched ^= pool[v >>> fpBits];
    }
    this.touched[0] = touched;
    // Pass 3: walk from the root, now mostly in cache. Written out in one
    // function (no child()/isChild() calls, fields in locals): 1.15-1.25x
    // the speed of the same steps as methods (see README.md, Measured).
    let node = 0;
    let mask = 0;
    let flags = 0;
    walk: for (let i = labels - 1; i >= 0; i--) {
      const from = starts[i] + 1;
      const len = buf[from - 1];
      const fp = keys[i] & fpMask;
      for (let slot = slots[i]; ; ) {
        const v = table[slot];
        if (v === 0) return mask; // no such child: the deepest mask seen is the answer
        if ((v & fpMask) === fp) {
          const off = v >>> fpBits;
          verify: if ((pool[off] & LEN_MASK) === len) {
            for (let k = 0; k < len; k++) if (pool[off + 1 + k] !== FOLD[buf[from + k]]) break verify;
            let at = off + 1 + len;
            let parent = 0;
            for (let shift = 0; ; shift += 7) {
              const b = pool[at++];
              parent |= (b & 0x7f) << shift;
              if (b < 0x80) break;
            }
            if (parent === node) {
              node = off;
              flags = pool[off];
              if ((flags & FLAG_SUB) !== 0) mask = this.readMask(at);
              continue walk;
            }
          }
        }
        if (++slot === cap) slot = 0;
      }
    }
    if ((flags & FLAG_FIN) !== 0) {
      const masks = this.skipParent(node + 1 + (flags & LEN_MASK));
      return this.readMask(masks + ((flags & FLAG_SUB) !== 0 ? this.maskWidth : 0));
    }
    return mask;
  }

  /** Position just past the parent offset that starts at `at`. */
  private skipParent(at: number): number {
    let p = at;
    while (this.pool[p++] >= 0x80);
    return p;
  }

  private readMask(at: number): number {
    const pool = this.pool;
    const w = this.maskWidth;
    if (w === 1) return pool[at];
    const v = pool[at] | (pool[at + 1] << 8);
    return w === 2 ? v : v | (pool[at + 2] << 16);
  }
}
