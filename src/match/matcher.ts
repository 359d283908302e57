// The compiled matcher: the lookup side of the trie (see README.md for the layout).
//
// Nodes are variable-length records in one byte pool, addressed by offset:
//   [parent offset: u32 LE][flags|label length: u8][label bytes][sub mask][fin mask]
// `sub` (present when FLAG_SUB) is the mask id for names strictly below the
// node and for the node itself unless it has exact entries; `fin` (present
// when FLAG_FIN) is the mask id for the node's own name when exact entries
// change it. Both already include everything inherited from ancestors, so
// a lookup only remembers the last `sub` it walked through.
//
// Children are found through one open-addressing table keyed by
// (parent offset, label hash). Each u32 slot packs the child's offset (high
// bits) with a fingerprint of the key (low bits), so probes past other keys
// rarely touch the pool.
import type { ListSpec, Matcher } from './types.js';
import type { MaskTable } from './masks.js';
import { FNV_OFFSET, FOLD, hashByte, keyHash, reduce } from './hash.js';
import { normalizeName } from './name.js';

export const FLAG_SUB = 0x40;
export const FLAG_FIN = 0x80;
export const LEN_MASK = 0x3f;
/** Bytes before the label: parent offset and flags/length. */
export const HEADER = 5;

const MAX_WIRE_NAME = 255;

export interface CompiledParts {
  pool: Uint8Array;
  table: Uint32Array;
  fpBits: number;
  /** Bytes per stored mask id: 2, or 3 beyond 65,536 distinct masks. */
  maskWidth: number;
  masks: MaskTable;
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
  /** matchName encodes into this, then takes the wire path. */
  private readonly wire = new Uint8Array(MAX_WIRE_NAME + 1);

  constructor(parts: CompiledParts) {
    this.pool = parts.pool;
    this.table = parts.table;
    this.cap = parts.table.length;
    this.fpBits = parts.fpBits;
    this.fpMask = 2 ** parts.fpBits - 1;
    this.maskWidth = parts.maskWidth;
    this.masks = parts.masks;
    this.maskCount = parts.masks.count;
    this.lists = parts.lists;
    this.nodes = parts.nodes;
    this.names = parts.names;
  }

  get byteSize(): number {
    return this.pool.byteLength + this.table.byteLength + this.masks.byteSize + this.starts.byteLength + this.wire.byteLength;
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
    // Pass 2: walk from the root.
    const pool = this.pool;
    let node = 0;
    let mask = 0;
    let flags = 0;
    for (let i = labels - 1; i >= 0; i--) {
      const at = starts[i];
      const len = buf[at];
      const child = this.child(node, buf, at + 1, len);
      if (child === 0) return mask;
      node = child;
      flags = pool[node + 4];
      if ((flags & FLAG_SUB) !== 0) mask = this.readMask(node + HEADER + len);
    }
    if ((flags & FLAG_FIN) !== 0) {
      const len = flags & LEN_MASK;
      return this.readMask(node + HEADER + len + ((flags & FLAG_SUB) !== 0 ? this.maskWidth : 0));
    }
    return mask;
  }

  /** Offset of the child of `parent` labelled buf[from, from+len) (any case), or 0. */
  private child(parent: number, buf: Uint8Array, from: number, len: number): number {
    let h = FNV_OFFSET;
    for (let i = from + len - 1; i >= from; i--) h = hashByte(h, FOLD[buf[i]]);
    const key = keyHash(parent, h >>> 0);
    const table = this.table;
    const fpMask = this.fpMask;
    const fp = key & fpMask;
    let slot = reduce(key, this.cap);
    for (;;) {
      const v = table[slot];
      if (v === 0) return 0;
      if ((v & fpMask) === fp) {
        const off = v >>> this.fpBits;
        if (this.isChild(off, parent, buf, from, len)) return off;
      }
      if (++slot === this.cap) slot = 0;
    }
  }

  private isChild(off: number, parent: number, buf: Uint8Array, from: number, len: number): boolean {
    const pool = this.pool;
    const storedParent = pool[off] | (pool[off + 1] << 8) | (pool[off + 2] << 16) | (pool[off + 3] << 24);
    if (storedParent !== parent || (pool[off + 4] & LEN_MASK) !== len) return false;
    const label = off + HEADER;
    for (let i = 0; i < len; i++) if (pool[label + i] !== FOLD[buf[from + i]]) return false;
    return true;
  }

  private readMask(at: number): number {
    const pool = this.pool;
    const v = pool[at] | (pool[at + 1] << 8);
    return this.maskWidth === 2 ? v : v | (pool[at + 2] << 16);
  }
}
