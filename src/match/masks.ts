// Mask ids: each distinct (block lists, allow lists) pair of bitsets gets a
// small integer, so a lookup returns one int and policy precomputes one
// verdict per id. Any number of lists: bitsets are arrays of 32-bit words.

import { sharedArray } from './shared.js';

/** What a MaskTable is made of: plain numbers and a Uint32Array over shared memory, so it crosses threads without a copy. */
export interface MaskTableParts {
  count: number;
  words: number;
  bits: Uint32Array;
}

/** The compiled table: for mask m, words [m*2W, m*2W+W) are block bits, the next W are allow bits. */
export class MaskTable {
  constructor(
    readonly count: number,
    private readonly words: number,
    private readonly bits: Uint32Array,
  ) {}

  blocks(maskId: number, listId: number): boolean {
    return this.bit(maskId * 2 * this.words, listId);
  }

  allows(maskId: number, listId: number): boolean {
    return this.bit((maskId * 2 + 1) * this.words, listId);
  }

  get byteSize(): number {
    return this.bits.byteLength;
  }

  private bit(base: number, listId: number): boolean {
    if (listId < 0 || listId >= this.words * 32) return false;
    return ((this.bits[base + (listId >>> 5)] >>> (listId & 31)) & 1) === 1;
  }
}

/** Interns masks while the trie is compiled. Id 0 is the empty mask. */
export class MaskBuilder {
  private readonly words: number;
  private readonly masks: Uint32Array[] = [];
  private readonly ids = new Map<string, number>();
  /** (mask id, list, allow) -> mask id: nearly every node repeats a transition already seen. */
  private readonly transitions = new Map<number, number>();

  constructor(private readonly listCount: number) {
    this.words = Math.max(1, Math.ceil(listCount / 32));
    this.intern(new Uint32Array(2 * this.words));
  }

  get count(): number {
    return this.masks.length;
  }

  /** The id of mask `maskId` with list `listId` added as a block (or allow) list. */
  add(maskId: number, listId: number, allow: boolean): number {
    const key = (maskId * this.listCount + listId) * 2 + (allow ? 1 : 0);
    const known = this.transitions.get(key);
    if (known !== undefined) return known;
    const bits = this.masks[maskId].slice();
    bits[(allow ? this.words : 0) + (listId >>> 5)] |= 1 << (listId & 31);
    const id = this.intern(bits);
    this.transitions.set(key, id);
    return id;
  }

  /**
   * The table of the masks some node uses (`used[id] === 1`; id 0 always
   * kept), renumbered densely: intermediate masks met while adding a node's
   * entries one by one are dropped. `remap[oldId]` is the new id.
   */
  finish(used: Uint8Array): { table: MaskTableParts; remap: Int32Array } {
    const remap = new Int32Array(this.masks.length).fill(-1);
    let count = 0;
    for (let id = 0; id < this.masks.length; id++) if (id === 0 || used[id] === 1) remap[id] = count++;
    const bits = sharedArray(Uint32Array, count * 2 * this.words);
    this.masks.forEach((m, id) => {
      if (remap[id] >= 0) bits.set(m, remap[id] * 2 * this.words);
    });
    return { table: { count, words: this.words, bits }, remap };
  }

  private intern(bits: Uint32Array): number {
    const key = bits.join(',');
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.masks.length;
      this.masks.push(bits);
      this.ids.set(key, id);
    }
    return id;
  }
}
