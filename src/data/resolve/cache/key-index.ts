// The index: a hash table from a key to its record's offset in the slab,
// open addressing with linear probing over two typed arrays in shared
// memory: slots (record offset + 1; 0 empty) and the keys' hashes. A key is
// compared with the bytes its record holds, so the index keeps no strings.
// Deletion shifts entries back, so probe chains stay unbroken without
// tombstones. The hash is seeded at random once per cache (every thread
// shares the seed), so clients cannot aim their names at one chain.

import { R_HASH, R_KEY, R_TARGETS, R_TTLS, type Views, keyStart } from './layout.js';

export class KeyIndex {
  readonly slots: Int32Array;
  readonly hashes: Uint32Array;
  readonly mask: number;

  /** Slots for `maxEntries` keys: a power of two, at least twice as many (probe chains stay short). */
  static capacityFor(maxEntries: number): number {
    let capacity = 16;
    while (capacity < maxEntries * 2) capacity *= 2;
    return capacity;
  }

  constructor(
    slots: SharedArrayBuffer,
    hashes: SharedArrayBuffer,
    private readonly seed: number,
    /** The slab the offsets point into. */
    private readonly mem: Views,
  ) {
    this.slots = new Int32Array(slots);
    this.hashes = new Uint32Array(hashes);
    this.mask = this.slots.length - 1;
  }

  hash(key: string): number {
    let h = this.seed ^ key.length;
    for (let i = 0; i < key.length; i++) {
      h = Math.imul(h ^ key.charCodeAt(i), 0x5bd1e995);
      h ^= h >>> 15;
    }
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  /** The slot holding `key`, or -1. */
  find(key: string, hash: number): number {
    const { slots, hashes, mask } = this;
    const { u8, u32 } = this.mem;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const entry = slots[i];
      if (entry === 0) return -1;
      if (hashes[i] !== hash) continue;
      const at = entry - 1;
      if (u32[(at + R_KEY) >> 2] !== key.length) continue;
      let k = keyStart(at, u32[(at + R_TTLS) >> 2], u32[(at + R_TARGETS) >> 2]);
      let same = true;
      for (let j = 0; j < key.length; j++, k++) {
        if (u8[k] !== key.charCodeAt(j)) {
          same = false;
          break;
        }
      }
      if (same) return i;
    }
  }

  insert(hash: number, at: number): void {
    let i = hash & this.mask;
    while (this.slots[i] !== 0) i = (i + 1) & this.mask;
    this.slots[i] = at + 1;
    this.hashes[i] = hash;
  }

  /** The slot pointing at the record at `at`; -1 if none (never, while the invariants hold: the bound keeps a bug from hanging the resolver). */
  slotOf(at: number): number {
    let i = this.mem.u32[(at + R_HASH) >> 2] & this.mask;
    for (let probes = 0; probes <= this.mask; probes++, i = (i + 1) & this.mask) {
      if (this.slots[i] === at + 1) return i;
      if (this.slots[i] === 0) return -1;
    }
    return -1;
  }

  /** Empties `slot`, shifting back the entries after it that would no longer be found. */
  remove(slot: number): void {
    const { slots, hashes, mask } = this;
    let hole = slot;
    for (let j = (slot + 1) & mask; slots[j] !== 0; j = (j + 1) & mask) {
      const home = hashes[j] & mask;
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      slots[hole] = slots[j];
      hashes[hole] = hashes[j];
      hole = j;
    }
    slots[hole] = 0;
  }
}
