// The ring allocator: the slab as a log of records, written at the head and
// freed at the tail, oldest first. A record hit since it was written gets a
// second chance (CLOCK): it is moved to the head when there is room, a few
// per store at most, so eviction work per store stays bounded. The ring
// starts small and grows while the entry bound is not reached, so the memory
// touched follows what is cached. Its counters live in the shared state:
// every thread sharing the cache works on one ring.

import { type Views, LIVE, R_FLAGS, R_SIZE, REFERENCED, S_COUNT, S_HEAD, S_LIMIT, S_TAIL, S_WRAP_END, S_WRAPPED } from './layout.js';
import type { KeyIndex } from './key-index.js';

/** The ring starts at this many bytes and grows by as much, up to the slab's size, while the entry bound is not reached. */
const GROW = 1 << 20;
/** Records moved to the head (second chances) per store at most. */
const SECOND_CHANCES = 8;

export class Ring {
  private chances = 0;

  constructor(
    private readonly mem: Views,
    /** The shared state's counters. */
    private readonly st: Float64Array,
    private readonly slabSize: number,
    private readonly maxEntries: number,
    private readonly index: KeyIndex,
  ) {}

  /** Sets up a new cache's ring (not one attached to). */
  static start(st: Float64Array, slabSize: number): void {
    st[S_LIMIT] = Math.min(slabSize, GROW);
  }

  private get head(): number { return this.st[S_HEAD]; }
  private set head(v: number) { this.st[S_HEAD] = v; }
  private get tail(): number { return this.st[S_TAIL]; }
  private set tail(v: number) { this.st[S_TAIL] = v; }
  /** The ring has wrapped: records lie in [tail, wrapEnd) and [0, head). */
  private get wrapped(): boolean { return this.st[S_WRAPPED] === 1; }
  private set wrapped(v: boolean) { this.st[S_WRAPPED] = v ? 1 : 0; }
  private get wrapEnd(): number { return this.st[S_WRAP_END]; }
  private set wrapEnd(v: number) { this.st[S_WRAP_END] = v; }
  /** Records indexed (live). */
  get count(): number { return this.st[S_COUNT]; }
  set count(v: number) { this.st[S_COUNT] = v; }
  /** Bytes of the slab in use as the ring so far (it grows until the entry bound is reached). */
  get limit(): number { return this.st[S_LIMIT]; }
  private set limit(v: number) { this.st[S_LIMIT] = v; }

  /** Bytes of the slab the ring holds now (records, including removed ones not yet passed by the tail). */
  get bytes(): number {
    return this.wrapped ? this.wrapEnd - this.tail + this.head : this.head - this.tail;
  }

  /** Room for a new record of `size` bytes at the head: evicts to stay under the entry bound, then from the tail as needed. */
  allocate(size: number): number {
    this.chances = SECOND_CHANCES;
    while (this.count >= this.maxEntries) this.evict();
    for (;;) {
      if (!this.wrapped) {
        if (this.head + size <= this.limit) return this.take(size);
        // Grow only when the ring fills all it has touched: once the tail has moved on (entries evicted,
        // as on every store of a full cache), the room it left at the front is reused first.
        if (this.limit < this.slabSize && this.count < this.maxEntries && this.tail < size) {
          this.limit = Math.min(this.slabSize, this.limit + Math.max(GROW, size));
          continue;
        }
        if (this.tail === this.head) {
          this.tail = this.head = 0; // empty: start again from the front
          continue;
        }
        this.wrapEnd = this.head;
        this.head = 0;
        this.wrapped = true;
        continue;
      }
      if (this.head + size <= this.tail) return this.take(size);
      this.evict();
    }
  }

  /** Takes the record in `slot` out of the index (its bytes stay until the tail passes them). */
  forget(slot: number): void {
    const at = this.index.slots[slot] - 1;
    this.mem.u32[(at + R_FLAGS) >> 2] = 0;
    this.count--;
    this.index.remove(slot);
  }

  /** Evicts every record, one by one (a big index's untouched pages stay untouched), and starts again from the front. */
  clear(): void {
    this.chances = 0;
    while (this.wrapped || this.tail !== this.head) this.evict();
    this.head = this.tail = this.wrapEnd = 0;
  }

  private take(size: number): number {
    const at = this.head;
    this.head += size;
    return at;
  }

  /** Frees the record at the tail, or moves it to the head if it was hit since it was written and there is room. */
  private evict(): void {
    const at = this.tail;
    const { u8, u32 } = this.mem;
    const size = u32[(at + R_SIZE) >> 2];
    const flags = u32[(at + R_FLAGS) >> 2];
    if (flags & LIVE && this.index.slotOf(at) < 0) {
      u32[(at + R_FLAGS) >> 2] = 0; // not indexed: nothing to keep
      this.count--;
    } else if (flags & LIVE) {
      const slot = this.index.slotOf(at);
      const room = this.wrapped ? this.tail - this.head : this.limit - this.head;
      if (flags & REFERENCED && this.chances > 0 && room >= size) {
        this.chances--;
        u32[(at + R_FLAGS) >> 2] = LIVE;
        const to = this.take(size);
        u8.copyWithin(to, at, at + size);
        this.index.slots[slot] = to + 1;
      } else {
        this.forget(slot);
      }
    }
    this.tail += size;
    if (this.wrapped && this.tail >= this.wrapEnd) {
      this.tail = 0;
      this.wrapped = false;
    }
  }
}
