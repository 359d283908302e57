// Building the trie: names go in one by one (as the lists are parsed) into
// growable typed arrays; compile() then computes mask ids top-down and lays
// the nodes out as the matcher's compact records. Only the compiled
// matcher stays alive; all of this is garbage afterwards, and compile()
// lets go of each part as soon as it is done with it, so that the peak is
// one phase's arrays, not all of them (a million names: 140 -> 90 MB).
import type { ListSpec } from './types.js';
import { MaskBuilder } from './masks.js';
import { CompiledMatcher, FLAG_FIN, FLAG_SUB } from './matcher.js';
import { FNV_OFFSET, ROOT_KEY, hashByte, keyHash, reduce } from './hash.js';
import { sharedArray } from './shared.js';

/**
 * Lookup table load. Probe runs get long at 85%, but they stay within a cache
 * line or two and fingerprints reject other keys without touching the pool;
 * lower loads measured no faster here and cost memory.
 */
const TABLE_LOAD = 0.85;
/** Table slots per region when the lookup table is filled region by region. */
const REGION_BITS = 8;
const EXACT = 2;
const ALLOW = 1;

/** Build record words: [node number, parent number, suffix key, label length], then the label bytes padded to 4. */
const REC_WORDS = 4;
/** Names inserted together (see flush()). */
const BATCH = 32;
/** A 253-octet name has at most 127 labels. */
const MAX_LEVELS = 127;

/** What the builder may be told up front; it grows past any of it. */
export interface BuilderOptions {
  /**
   * Bytes of list text about to be added: the growable arrays start that
   * big (untouched capacity is never resident: large allocations are fresh
   * zero pages), so that they rarely grow, and never copy tens of MB while
   * the old copy is still held.
   */
  expectedBytes?: number;
  /** A full garbage collection of this thread, called between compile()'s phases (worker threads have one). */
  collect?: () => void;
}

const EMPTY = new Int32Array(0);

export class TrieBuilder {
  /** Node 0 is the root. Parents are always created before their children. */
  private count = 1;
  /** Records, one per node, appended in node order: one cache line per probe that matches. */
  private words: Int32Array;
  private bytes: Uint8Array;
  private used = REC_WORDS; // the root's record (all zero) is at word 0
  /** Word offset of each node's record. */
  private recordAt: Uint32Array;
  /**
   * Pairs (suffix key, record offset) by suffix key; offset 0 is empty (the
   * root is nobody's child). The key beside the offset lets probes and the
   * warm-up pick the right record without touching the others.
   */
  private table = new Int32Array(2 << 13);
  /** Names waiting to be inserted, and their entry codes. */
  private readonly batchNames: string[] = [];
  private readonly batchCodes = new Int32Array(BATCH);
  private batchSize = 0;
  private lastName = '';
  private lastCode = -1;
  /** Per batched name, per level (TLD first): the label's bounds and its suffix key. */
  private readonly levelCount = new Int32Array(BATCH);
  private readonly levelStart = new Int32Array(BATCH * MAX_LEVELS);
  private readonly levelEnd = new Int32Array(BATCH * MAX_LEVELS);
  private readonly levelKey = new Int32Array(BATCH * MAX_LEVELS);
  /** Where the warm-up loads go, so the compiler cannot drop them. */
  private readonly touched = new Int32Array(1);
  /** Pairs (node, listId * 4 + EXACT? + ALLOW?). */
  private entries: Int32Array;
  private entryCount = 0;
  private readonly collect: () => void;

  constructor(options: BuilderOptions = {}) {
    // A name of n labels takes ~n records of 4 words and its label bytes: half a word per byte of text covers
    // the usual lists (a domains list: 0.46); one entry per ~8 bytes, one node per ~12.
    const bytes = options.expectedBytes ?? 0;
    this.words = new Int32Array(Math.max(1 << 14, Math.ceil(bytes / 2)));
    this.bytes = new Uint8Array(this.words.buffer);
    this.recordAt = new Uint32Array(Math.max(1 << 12, Math.ceil(bytes / 12)));
    this.entries = new Int32Array(Math.max(1 << 12, 2 * Math.ceil(bytes / 8)));
    this.collect = options.collect ?? (() => undefined);
  }

  /** Record that list `listId` has `name` (normalised) as an entry. */
  add(name: string, listId: number, exact: boolean, allow: boolean): void {
    const code = listId * 4 + (exact ? EXACT : 0) + (allow ? ALLOW : 0);
    // RPZ writes `name` then `*.name`: the same entry twice in a row adds nothing.
    if (name === this.lastName && code === this.lastCode) return;
    this.lastName = name;
    this.lastCode = code;
    const b = this.batchSize++;
    this.batchNames[b] = name;
    this.batchCodes[b] = code;
    if (this.batchSize === BATCH) this.flush();
  }

  /**
   * Inserts a batch of names in three sweeps: find every name's labels and
   * suffix keys, touch all their table slots, then all the records those
   * point at, and only then walk. The touches are independent loads that
   * the CPU overlaps, where walking each name alone waits for one cache miss
   * after another (table, then record, per label). Inserting is bound by
   * those misses; batching saved about 10% of it on the shared lists.
   */
  private flush(): void {
    const { levelStart, levelEnd, levelKey, levelCount } = this;
    for (let b = 0; b < this.batchSize; b++) levelCount[b] = this.levels(this.batchNames[b], b * MAX_LEVELS);
    const table = this.table;
    const mask = (table.length >>> 1) - 1;
    let touched = 0;
    for (let b = 0; b < this.batchSize; b++) {
      for (let l = b * MAX_LEVELS; l < b * MAX_LEVELS + levelCount[b]; l++) touched ^= table[((levelKey[l] & mask) << 1) + 1];
    }
    for (let b = 0; b < this.batchSize; b++) {
      for (let l = b * MAX_LEVELS; l < b * MAX_LEVELS + levelCount[b]; l++) {
        const key = levelKey[l];
        for (let slot = key & mask; table[(slot << 1) + 1] !== 0; slot = (slot + 1) & mask) {
          if (table[slot << 1] === key) {
            touched ^= this.words[table[(slot << 1) + 1]];
            break;
          }
        }
      }
    }
    this.touched[0] = touched;
    for (let b = 0; b < this.batchSize; b++) {
      const name = this.batchNames[b];
      let node = 0;
      for (let l = b * MAX_LEVELS; l < b * MAX_LEVELS + levelCount[b]; l++) node = this.child(node, levelKey[l], name, levelStart[l], levelEnd[l]);
      if (this.entryCount * 2 + 2 > this.entries.length) this.entries = grow(this.entries, this.entries.length * 2);
      this.entries[this.entryCount * 2] = node;
      this.entries[this.entryCount * 2 + 1] = this.batchCodes[b];
      this.entryCount++;
    }
    this.batchSize = 0;
  }

  /** Right to left: each label's bounds and suffix key, TLD first, from index `base`; returns how many. */
  private levels(name: string, base: number): number {
    let n = base;
    let end = name.length;
    let h = FNV_OFFSET;
    let key = ROOT_KEY;
    for (let i = end - 1; i >= -1; i--) {
      const c = i < 0 ? 46 : name.charCodeAt(i);
      if (c === 46) {
        key = keyHash(key, h >>> 0) | 0;
        this.levelStart[n] = i + 1;
        this.levelEnd[n] = end;
        this.levelKey[n++] = key;
        end = i;
        h = FNV_OFFSET;
      } else {
        h = hashByte(h, c);
      }
    }
    return n - base;
  }

  private child(parent: number, key: number, name: string, start: number, end: number): number {
    const table = this.table;
    const mask = (table.length >>> 1) - 1;
    const words = this.words;
    let slot = key & mask;
    for (;;) {
      const w = table[(slot << 1) + 1];
      if (w === 0) return this.create(slot, parent, key, name, start, end);
      if (table[slot << 1] === key && words[w + 1] === parent && this.sameLabel(w, name, start, end)) return words[w];
      slot = (slot + 1) & mask;
    }
  }

  private sameLabel(w: number, name: string, start: number, end: number): boolean {
    if (this.words[w + 3] !== end - start) return false;
    const at = (w + REC_WORDS) * 4 - start;
    for (let i = start; i < end; i++) if (this.bytes[at + i] !== name.charCodeAt(i)) return false;
    return true;
  }

  private create(slot: number, parent: number, key: number, name: string, start: number, end: number): number {
    const id = this.count++;
    const len = end - start;
    const w = this.used;
    this.used += REC_WORDS + ((len + 3) >>> 2);
    if (this.used > this.words.length) {
      this.words = grow(this.words, this.words.length * 2);
      this.bytes = new Uint8Array(this.words.buffer);
    }
    if (id >= this.recordAt.length) this.recordAt = grow(this.recordAt, this.recordAt.length * 2);
    const words = this.words;
    words[w] = id;
    words[w + 1] = parent;
    words[w + 2] = key;
    words[w + 3] = len;
    const at = (w + REC_WORDS) * 4 - start;
    for (let i = start; i < end; i++) this.bytes[at + i] = name.charCodeAt(i);
    this.recordAt[id] = w;
    this.table[slot << 1] = key;
    this.table[(slot << 1) + 1] = w;
    if (this.count > this.table.length >>> 2) this.rehash();
    return id;
  }

  private rehash(): void {
    const old = this.table;
    const table = new Int32Array(old.length * 2);
    const mask = (table.length >>> 1) - 1;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i + 1] === 0) continue;
      let slot = old[i] & mask;
      while (table[(slot << 1) + 1] !== 0) slot = (slot + 1) & mask;
      table[slot << 1] = old[i];
      table[(slot << 1) + 1] = old[i + 1];
    }
    this.table = table;
  }

  /**
   * Compute mask ids and lay out the matcher. `lists` are indexed by the
   * list ids given to add(). Each phase lets go of what it no longer needs
   * (the insertion table, the entries, then the records) before the next
   * allocates its own.
   */
  compile(lists: readonly ListSpec[]): CompiledMatcher {
    this.flush();
    const n = this.count;
    this.table = EMPTY;
    let { first, codes } = this.entriesByNode();
    this.entries = EMPTY;
    this.collect();
    const masks = new MaskBuilder(Math.max(1, lists.length));
    let sub = new Int32Array(n);
    let fin = new Int32Array(n);
    let flags = new Uint8Array(n);
    let names = 0;
    for (let id = 1; id < n; id++) {
      const inherited = sub[this.parentOf(id)];
      let s = inherited;
      for (let e = first[id]; e < first[id + 1]; e++) {
        if ((codes[e] & EXACT) === 0) s = masks.add(s, codes[e] >>> 2, (codes[e] & ALLOW) !== 0);
      }
      let f = s;
      for (let e = first[id]; e < first[id + 1]; e++) {
        if ((codes[e] & EXACT) !== 0) f = masks.add(f, codes[e] >>> 2, (codes[e] & ALLOW) !== 0);
      }
      sub[id] = s;
      fin[id] = f;
      // Store a mask only where it differs from what the walk already carries.
      flags[id] = (s !== inherited ? FLAG_SUB : 0) | (f !== s ? FLAG_FIN : 0);
      if (first[id + 1] > first[id]) names++;
    }
    first = codes = EMPTY;
    const used = new Uint8Array(masks.count);
    for (let id = 1; id < n; id++) {
      if ((flags[id] & FLAG_SUB) !== 0) used[sub[id]] = 1;
      if ((flags[id] & FLAG_FIN) !== 0) used[fin[id]] = 1;
    }
    const { table, remap } = masks.finish(used);
    const width = table.count <= 1 << 8 ? 1 : table.count <= 1 << 16 ? 2 : 3;

    // Lay records out by depth (parents still before children): the few
    // top-level nodes come first, so their children's parent offsets are short.
    let order = this.byDepth();
    let offset = new Uint32Array(n);
    let size = 1; // the root: a flags byte, never read
    for (let k = 1; k < n; k++) {
      const id = order[k];
      offset[id] = size;
      const f = flags[id];
      size += 1 + this.labelLength(id) + varintLength(offset[this.parentOf(id)]) + ((f & FLAG_SUB) !== 0 ? width : 0) + ((f & FLAG_FIN) !== 0 ? width : 0);
    }
    order = EMPTY;
    if (size >= 2 ** 31) throw new Error(`matcher too large (${size} bytes of nodes)`);
    const pool = sharedArray(Uint8Array, size);
    for (let id = 1; id < n; id++) {
      let at = offset[id];
      const len = this.labelLength(id);
      pool[at++] = flags[id] | len;
      const label = (this.recordAt[id] + REC_WORDS) * 4;
      for (let i = 0; i < len; i++) pool[at++] = this.bytes[label + i]; // not subarray(): a view per node
      at = writeVarint(pool, at, offset[this.parentOf(id)]);
      if ((flags[id] & FLAG_SUB) !== 0) at = writeMask(pool, at, remap[sub[id]], width);
      if ((flags[id] & FLAG_FIN) !== 0) writeMask(pool, at, remap[fin[id]], width);
    }
    sub = fin = EMPTY;
    flags = new Uint8Array(0);

    const offBits = Math.max(1, Math.ceil(Math.log2(size)));
    const fpBits = 32 - offBits;
    const cap = Math.ceil((n - 1) / TABLE_LOAD) + 1;
    const fpScale = 2 ** fpBits;
    // Each node's home slot and slot value; then the records go before the table is filled.
    let homes = new Int32Array(n);
    let slotValue = new Uint32Array(n);
    for (let id = 1; id < n; id++) {
      const key = this.words[this.recordAt[id] + 2] >>> 0;
      homes[id] = reduce(key, cap);
      slotValue[id] = offset[id] * fpScale + (key & (fpScale - 1));
    }
    offset = new Uint32Array(0);
    this.words = EMPTY;
    this.bytes = new Uint8Array(0);
    this.recordAt = new Uint32Array(0);
    this.collect();
    const slots = sharedArray(Uint32Array, cap);
    // Nodes go in grouped by the region of the table their home slot lies
    // in (a counting sort on the home's high bits), so the probes of one group
    // stay within a few cache lines instead of missing once per node. Any
    // insertion order gives a valid linear-probing table.
    const regions = (cap >>> REGION_BITS) + 1;
    const start = new Int32Array(regions + 1);
    for (let id = 1; id < n; id++) start[(homes[id] >>> REGION_BITS) + 1]++;
    for (let r = 0; r < regions; r++) start[r + 1] += start[r];
    const byHome = new Int32Array(n - 1);
    const values = new Uint32Array(n - 1);
    for (let id = 1; id < n; id++) {
      const at = start[homes[id] >>> REGION_BITS]++;
      byHome[at] = homes[id];
      values[at] = slotValue[id];
    }
    homes = EMPTY;
    slotValue = new Uint32Array(0);
    for (let k = 0; k < n - 1; k++) {
      let slot = byHome[k];
      while (slots[slot] !== 0) if (++slot === cap) slot = 0;
      slots[slot] = values[k];
    }
    return new CompiledMatcher({ pool, table: slots, fpBits, maskWidth: width, masks: table, lists, nodes: n - 1, names });
  }

  /** Node ids sorted by depth (counting sort; the root first). */
  private byDepth(): Int32Array {
    const n = this.count;
    const depth = new Uint8Array(n);
    const perDepth = new Int32Array(MAX_LEVELS + 2);
    for (let id = 1; id < n; id++) {
      depth[id] = depth[this.parentOf(id)] + 1;
      perDepth[depth[id] + 1]++;
    }
    perDepth[1] = 1; // the root, depth 0
    for (let d = 1; d < perDepth.length; d++) perDepth[d] += perDepth[d - 1];
    const order = new Int32Array(n);
    for (let id = 0; id < n; id++) order[perDepth[depth[id]]++] = id;
    return order;
  }

  private parentOf(id: number): number {
    return this.words[this.recordAt[id] + 1];
  }

  private labelLength(id: number): number {
    return this.words[this.recordAt[id] + 3];
  }

  /** Entries grouped by node (counting sort): node i's codes are codes[first[i], first[i+1]). */
  private entriesByNode(): { first: Int32Array; codes: Int32Array } {
    const first = new Int32Array(this.count + 1);
    for (let e = 0; e < this.entryCount; e++) first[this.entries[e * 2] + 1]++;
    for (let i = 0; i < this.count; i++) first[i + 1] += first[i];
    const fill = first.slice(0, this.count);
    const codes = new Int32Array(this.entryCount);
    for (let e = 0; e < this.entryCount; e++) codes[fill[this.entries[e * 2]]++] = this.entries[e * 2 + 1];
    return { first, codes };
  }
}

/** Bytes of `value` as LEB128 (7 bits a byte, low first, high bit = more follows). */
function varintLength(value: number): number {
  let n = 1;
  for (let v = value >>> 7; v !== 0; v >>>= 7) n++;
  return n;
}

function writeVarint(pool: Uint8Array, at: number, value: number): number {
  let p = at;
  let v = value;
  while (v >= 0x80) {
    pool[p++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  pool[p++] = v;
  return p;
}

function writeMask(pool: Uint8Array, at: number, mask: number, width: number): number {
  for (let i = 0; i < width; i++) pool[at + i] = mask >>> (8 * i);
  return at + width;
}

function grow<T extends Int32Array | Uint32Array | Uint8Array>(a: T, size: number): T {
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a);
  return b;
}
