// The answer cache: upstream replies kept as raw bytes (their OPT cut out),
// shared by every client and group (policy is decided per client before the
// cache is asked). A hit copies the bytes and counts the TTLs down; nothing
// is re-encoded. With serve-stale (RFC 8767) an expired answer is kept a
// while longer, for when no upstream answers in time.
//
// Storage is one preallocated byte slab used as a ring (a log): each answer
// is one record holding its key, its bytes, its TTL offsets and clamped
// TTLs, its CNAME-target offsets and their mask ids, and its times. A
// typed-array hash table maps keys to record offsets. Nothing per answer is
// a JS object, so a full cache costs its bytes and nothing for the GC to
// walk. Records are evicted from the ring's tail (oldest first); one that
// was hit since it was written gets a second chance (CLOCK): it is moved to
// the head when there is room.
//
// Everything (slab, index, and the ring's counters) lives in
// SharedArrayBuffers, so worker threads share one cache (`memory` and
// `attach`): a name one thread fetched is a hit for every other, and N
// workers hold what one would. A short spin lock guards each operation; a
// hit is copied out of the slab under it, so the answer is built after the
// lock is released from bytes no other thread can change.

import type { Matcher } from '../../match/types.js';
import { STALE_OPT } from '../../wire/answers.js';
import { Query, Rcode, writeU32 } from '../../wire/message.js';
import type { ReplyShape } from '../../wire/records.js';
import { relayAnswerFrom } from '../../wire/relay.js';
import { NO_TARGETS, targetMasks } from './targets.js';
import { releaseIfHeldBy, spinLock, spinUnlock } from '../../shared/spin-lock.js';
import type { CacheLimits, CacheMemory } from '../../shared/plane-memory.js';

/** RFC 8767 §4: a stale answer's TTL, so clients come back soon for a fresh one. */
export const STALE_TTL = 30;

/** Typed views of one byte store: the slab, or a detached copy of one record. */
interface Views {
  u8: Buffer;
  u16: Uint16Array;
  u32: Uint32Array;
  i32: Int32Array;
  f64: Float64Array;
}

function viewsOf(buffer: ArrayBufferLike): Views {
  return {
    u8: Buffer.from(buffer),
    u16: new Uint16Array(buffer),
    u32: new Uint32Array(buffer),
    i32: new Int32Array(buffer),
    f64: new Float64Array(buffer),
  };
}

/**
 * A cached answer as `lookup` hands it out: a view of one record. The one
 * `lookup` returns is reused by the next lookup; keep one across an await
 * only through `detach`.
 */
export class CachedReply {
  constructor(
    /** The store the record lives in. */
    public mem: Views,
    /** The record's byte offset in it. */
    public at: number,
    /** Mask ids of the names the answer points to (CNAME inspection), under the matcher last passed to `lookup`. */
    public targetMasks: Int32Array,
    public storedAt: number,
    public expiresAt: number,
  ) {}
}

export interface CacheOptions extends CacheLimits {
  /** Monotonic milliseconds; injectable for tests. Threads sharing a cache must share the clock (the default does). */
  now?: () => number;
}

// The shared state: an Int32 lock word (0 free, else the holder's id), then the ring's counters as float64s.
const S_HEAD = 1;
const S_TAIL = 2;
const S_WRAPPED = 3;
const S_WRAP_END = 4;
const S_COUNT = 5;
const S_LIMIT = 6;
const S_HITS = 7;
const S_MISSES = 8;
const S_STALE_HITS = 9;
const S_SEED = 10;
const S_EPOCH = 11;
const STATE_BYTES = 12 * 8;

/** Wall-clock-anchored monotonic milliseconds: the same scale in every thread (each has its own performance.now origin). */
const sharedNow = (): number => performance.timeOrigin + performance.now();

// A record: a 56-byte header, then ttls u32[n], masks i32[t], ttl offsets
// u16[n], target offsets u16[t], key bytes, message bytes; padded to 8.
const R_SIZE = 0; // u32: bytes of the whole record
const R_HASH = 4;
const R_KEY = 8; // u32: key length
const R_MSG = 12; // u32: message length
const R_TTLS = 16; // u32: n
const R_TARGETS = 20; // u32: t
const R_MASKS = 24; // u32: how many of the t mask slots are used
const R_EPOCH = 28; // u32: matcher epoch the masks belong to
const R_FLAGS = 32; // u32
const R_STORED = 40; // f64
const R_EXPIRES = 48; // f64
const HEADER = 56;
const LIVE = 1;
const REFERENCED = 2;
/** The smallest record there can be (header, a 1-byte name key, a 17-byte message), for sizing the index. */
const MIN_RECORD = 80;
/** The ring starts at this many bytes and grows by as much, up to maxSize, while the entry bound is not reached: memory touched follows what is cached. */
const GROW = 1 << 20;
/** Records moved to the head (second chances) per store at most: eviction work per store stays bounded. */
const SECOND_CHANCES = 8;
const MASK_VIEWS = 16;
const MAX_SLAB = 1024 ** 3;

export class AnswerCache {
  private readonly now: () => number;
  private readonly staleMs: number;
  /** The slab: a ring of records. */
  private readonly mem: Views;
  private readonly slabSize: number;
  /** The lock word and the ring's counters, shared by every thread using this cache. */
  private readonly lockWord: Int32Array;
  private readonly st: Float64Array;
  /** This thread's id in the lock word. */
  private readonly owner: number;
  /** A hit's record, copied out of the slab under the lock. */
  private scratch: Views = viewsOf(new ArrayBuffer(1024));
  private readonly maxEntries: number;
  private readonly maxRecord: number;
  /** Open addressing, linear probing: record offset + 1 (0: empty), and the key's hash. */
  private readonly slots: Int32Array;
  private readonly hashes: Uint32Array;
  private readonly indexMask: number;
  /** A random seed (shared), so clients cannot aim their names at one chain of the index. */
  private readonly seed: number;
  /** Mask ids in records are valid for one filter generation (or, without one, `epochMatcher`); they are recomputed on their next hit under another. */
  private epochMatcher: Matcher | null = null;
  private chances = 0;
  private readonly view: CachedReply;
  private readonly maskScratch = new Int32Array(MASK_VIEWS);
  private readonly maskViews: Int32Array[] = [];

  /** A new cache; `attached`: the memory of an existing one (another thread's), `owner` this thread's id in its lock. */
  constructor(
    private readonly options: CacheOptions,
    attached?: CacheMemory,
    owner = 1,
  ) {
    this.now = options.now ?? sharedNow;
    this.staleMs = options.serveStale ? options.serveStale.maxStale * 1000 : 0;
    // Offsets live in Int32Arrays: the slab stays under 2 GB (the config allows 1 GB).
    this.slabSize = options.maxEntries > 0 ? Math.floor(Math.min(options.maxSize, MAX_SLAB) / 8) * 8 : 0;
    this.maxEntries = Math.min(options.maxEntries, Math.floor(this.slabSize / MIN_RECORD));
    // An answer bigger than an eighth of the cache is not kept: it would flush too much.
    this.maxRecord = Math.floor(this.slabSize / 8);
    let capacity = 16;
    while (capacity < this.maxEntries * 2) capacity *= 2;
    const memory = attached ?? {
      options: { maxEntries: options.maxEntries, maxSize: options.maxSize, minTtl: options.minTtl, maxTtl: options.maxTtl, serveStale: options.serveStale },
      slab: new SharedArrayBuffer(this.slabSize),
      slots: new SharedArrayBuffer(capacity * 4),
      hashes: new SharedArrayBuffer(capacity * 4),
      state: new SharedArrayBuffer(STATE_BYTES),
    };
    this.memory = memory;
    this.mem = viewsOf(memory.slab);
    this.slots = new Int32Array(memory.slots);
    this.hashes = new Uint32Array(memory.hashes);
    this.indexMask = capacity - 1;
    this.lockWord = new Int32Array(memory.state, 0, 1);
    this.st = new Float64Array(memory.state);
    this.owner = owner;
    if (attached === undefined) {
      this.st[S_LIMIT] = Math.min(this.slabSize, GROW);
      this.st[S_SEED] = (Math.random() * 0x100000000) >>> 0;
      this.st[S_EPOCH] = 1;
    }
    this.seed = this.st[S_SEED];
    for (let i = 0; i <= MASK_VIEWS; i++) this.maskViews.push(i === 0 ? NO_TARGETS : this.maskScratch.subarray(0, i));
    this.view = new CachedReply(this.scratch, 0, NO_TARGETS, 0, 0);
  }

  /** This cache's memory, for another thread to `attach` to. */
  readonly memory: CacheMemory;

  /** The same cache in this thread: `owner` (1 and up, distinct per thread) names it in the lock. */
  static attach(memory: CacheMemory, owner: number): AnswerCache {
    return new AnswerCache(memory.options, memory, owner);
  }

  // The ring's counters, in shared memory.
  private get head(): number { return this.st[S_HEAD]; }
  private set head(v: number) { this.st[S_HEAD] = v; }
  private get tail(): number { return this.st[S_TAIL]; }
  private set tail(v: number) { this.st[S_TAIL] = v; }
  /** The ring has wrapped: records lie in [tail, wrapEnd) and [0, head). */
  private get wrapped(): boolean { return this.st[S_WRAPPED] === 1; }
  private set wrapped(v: boolean) { this.st[S_WRAPPED] = v ? 1 : 0; }
  private get wrapEnd(): number { return this.st[S_WRAP_END]; }
  private set wrapEnd(v: number) { this.st[S_WRAP_END] = v; }
  private get count(): number { return this.st[S_COUNT]; }
  private set count(v: number) { this.st[S_COUNT] = v; }
  /** Bytes of the slab in use as the ring so far (it grows until the entry bound is reached). */
  private get limit(): number { return this.st[S_LIMIT]; }
  private set limit(v: number) { this.st[S_LIMIT] = v; }
  private get epoch(): number { return this.st[S_EPOCH]; }
  private set epoch(v: number) { this.st[S_EPOCH] = v; }
  get hits(): number { return this.st[S_HITS]; }
  get misses(): number { return this.st[S_MISSES]; }
  /** Expired entries handed out for serve-stale. */
  get staleHits(): number { return this.st[S_STALE_HITS]; }

  /** Spins (then naps) until this thread holds the lock. */
  private lock(): void {
    spinLock(this.lockWord, 0, this.owner);
  }

  private unlock(): void {
    spinUnlock(this.lockWord, 0);
  }

  /** Frees the lock if thread `owner` held it when it died (the control plane calls this when a worker exits). */
  releaseIfHeldBy(owner: number): boolean {
    return releaseIfHeldBy(this.lockWord, 0, owner);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes of the slab the ring has reached so far: the part of it made resident. */
  get touched(): number {
    return this.limit;
  }

  /** Bytes of the slab the ring holds now (records, including removed ones not yet passed by the tail); at most maxSize. */
  get bytes(): number {
    return this.wrapped ? this.wrapEnd - this.tail + this.head : this.head - this.tail;
  }

  /**
   * The entry for `key`, its target masks brought up to `matcher`: a live
   * one, or (with serve-stale) an expired one still within its stale window,
   * which `isFresh` tells apart. Undefined on a miss. The entry is a view
   * that the next lookup reuses.
   */
  lookup(key: string, matcher: Matcher, generation?: number): CachedReply | undefined {
    if (this.maxEntries === 0) {
      this.st[S_MISSES]++;
      return undefined;
    }
    const hash = this.hash(key);
    this.lock();
    try {
      const slot = this.find(key, hash);
      if (slot < 0) {
        this.st[S_MISSES]++;
        return undefined;
      }
      const at = this.slots[slot] - 1;
      const { u32, f64 } = this.mem;
      const expiresAt = f64[(at + R_EXPIRES) >> 3];
      const now = this.now();
      if (now >= expiresAt) {
        this.st[S_MISSES]++;
        if (now >= expiresAt + this.staleMs) {
          this.removeSlot(slot);
          return undefined;
        }
      } else {
        this.st[S_HITS]++;
      }
      u32[(at + R_FLAGS) >> 2] |= REFERENCED;
      this.useMatcher(matcher, generation);
      if (u32[(at + R_EPOCH) >> 2] !== this.epoch) this.remask(at, matcher);
      const view = this.view;
      view.mem = this.copyOut(at);
      view.at = 0;
      view.storedAt = f64[(at + R_STORED) >> 3];
      view.expiresAt = expiresAt;
      view.targetMasks = this.masksOf(view.mem, 0);
      return view;
    } finally {
      this.unlock();
    }
  }

  /** The record at `at`, copied into this thread's scratch (grown to fit), word by word. */
  private copyOut(at: number): Views {
    const size = this.mem.u32[(at + R_SIZE) >> 2];
    if (this.scratch.u8.length < size) this.scratch = viewsOf(new ArrayBuffer(Math.max(size, this.scratch.u8.length * 2)));
    const from = this.mem.u32;
    const to = this.scratch.u32;
    const base = at >> 2;
    for (let w = 0, n = size >> 2; w < n; w++) to[w] = from[base + w];
    return this.scratch;
  }

  isFresh(entry: CachedReply): boolean {
    return this.now() < entry.expiresAt;
  }

  /** A copy of the entry that outlives the next lookup and the record's eviction (a flight keeps it for serve-stale). */
  detach(entry: CachedReply): CachedReply {
    const size = entry.mem.u32[(entry.at + R_SIZE) >> 2];
    const copy = new ArrayBuffer(size);
    new Uint8Array(copy).set(entry.mem.u8.subarray(entry.at, entry.at + size));
    return new CachedReply(viewsOf(copy), 0, Int32Array.from(entry.targetMasks), entry.storedAt, entry.expiresAt);
  }

  /** The cached reply rewritten for this query: its ID, the question bytes as the client wrote them, aifence's OPT, TTLs counted down. */
  answer(entry: CachedReply, query: Uint8Array, q: Query): Buffer {
    const elapsed = Math.floor((this.now() - entry.storedAt) / 1000);
    const { u32, u16 } = entry.mem;
    const at = entry.at;
    const n = u32[(at + R_TTLS) >> 2];
    const t = u32[(at + R_TARGETS) >> 2];
    const out = relayAnswerFrom(entry.mem.u8, msgStart(at, n, t, u32[(at + R_KEY) >> 2]), u32[(at + R_MSG) >> 2], query, q);
    const ttls = (at + HEADER) >> 2;
    const offsets = (at + HEADER + (n + t) * 4) >> 1;
    for (let i = 0; i < n; i++) {
      const left = u32[ttls + i] - elapsed;
      writeU32(out, u16[offsets + i], left > 0 ? left : 0);
    }
    return out;
  }

  /** An expired entry served stale (RFC 8767): every TTL 30 s, and EDE 3 (Stale Answer) for EDNS clients. */
  answerStale(entry: CachedReply, query: Uint8Array, q: Query): Buffer {
    this.st[S_STALE_HITS]++; // a statistic: a lost increment between threads does no harm
    const { u32, u16 } = entry.mem;
    const at = entry.at;
    const n = u32[(at + R_TTLS) >> 2];
    const t = u32[(at + R_TARGETS) >> 2];
    const out = relayAnswerFrom(entry.mem.u8, msgStart(at, n, t, u32[(at + R_KEY) >> 2]), u32[(at + R_MSG) >> 2], query, q, STALE_OPT);
    const offsets = (at + HEADER + (n + t) * 4) >> 1;
    for (let i = 0; i < n; i++) writeU32(out, u16[offsets + i], STALE_TTL);
    return out;
  }

  /**
   * Stores a validated NOERROR or NXDOMAIN reply for as long as its TTLs
   * allow. Failures (SERVFAIL, REFUSED) are never stored: the next query
   * asks again, or serve-stale answers.
   */
  store(key: string, msg: Uint8Array, shape: ReplyShape, masks: Int32Array, matcher: Matcher, generation?: number): void {
    if (this.maxEntries === 0) return;
    if (shape.rcode !== Rcode.NOERROR && shape.rcode !== Rcode.NXDOMAIN) return;
    const { minTtl, maxTtl } = this.options;
    // A negative answer without SOA gives no TTL (RFC 2308 §5: do not cache), unless the admin set a floor.
    const ttl = Math.min(Math.max(shape.ttl < 0 ? 0 : shape.ttl, minTtl), maxTtl);
    if (ttl <= 0) return;
    const n = shape.ttlOffsets.length;
    const targets = shape.targets;
    const t = targets.length;
    const size = (msgStart(0, n, t, key.length) + msg.length + 7) & ~7;
    const hash = this.hash(key);
    this.lock();
    try {
      this.storeLocked(key, hash, size, msg, shape, masks, matcher, generation, ttl);
    } finally {
      this.unlock();
    }
  }

  private storeLocked(key: string, hash: number, size: number, msg: Uint8Array, shape: ReplyShape, masks: Int32Array, matcher: Matcher, generation: number | undefined, ttl: number): void {
    const { minTtl, maxTtl } = this.options;
    const n = shape.ttlOffsets.length;
    const targets = shape.targets;
    const t = targets.length;
    const old = this.find(key, hash);
    if (old >= 0) this.removeSlot(old);
    if (size > this.maxRecord) return;
    this.chances = SECOND_CHANCES;
    while (this.count >= this.maxEntries) this.evict();
    const at = this.allocate(size);
    const { u8, u16, u32, i32, f64 } = this.mem;
    const w = at >> 2;
    u32[w] = size;
    u32[w + 1] = hash;
    u32[w + 2] = key.length;
    u32[w + 3] = msg.length;
    u32[w + 4] = n;
    u32[w + 5] = t;
    u32[(at + R_FLAGS) >> 2] = LIVE;
    const storedAt = this.now();
    f64[(at + R_STORED) >> 3] = storedAt;
    f64[(at + R_EXPIRES) >> 3] = storedAt + ttl * 1000;
    u8.set(msg, msgStart(at, n, t, key.length));
    const ttls = (at + HEADER) >> 2;
    const ttlOffsets = (at + HEADER + (n + t) * 4) >> 1;
    for (let i = 0; i < n; i++) {
      const offset = shape.ttlOffsets[i];
      const value = ((msg[offset] << 24) | (msg[offset + 1] << 16) | (msg[offset + 2] << 8) | msg[offset + 3]) & 0x7fffffff;
      u32[ttls + i] = value < minTtl ? minTtl : value > maxTtl ? maxTtl : value;
      u16[ttlOffsets + i] = offset;
    }
    for (let i = 0; i < t; i++) u16[ttlOffsets + n + i] = targets[i];
    const keyAt = at + HEADER + (n + t) * 6;
    for (let i = 0; i < key.length; i++) u8[keyAt + i] = key.charCodeAt(i);
    this.useMatcher(matcher, generation);
    const masksAt = ttls + n;
    for (let i = 0; i < masks.length && i < t; i++) i32[masksAt + i] = masks[i];
    u32[(at + R_MASKS) >> 2] = Math.min(masks.length, t);
    u32[(at + R_EPOCH) >> 2] = this.epoch;
    this.insert(hash, at);
    this.count++;
  }

  clear(): void {
    this.lock();
    try {
      // Record by record, not slots.fill(0): a big index's untouched pages stay untouched.
      this.chances = 0;
      while (this.wrapped || this.tail !== this.head) this.evict();
      this.head = this.tail = this.wrapEnd = 0;
    } finally {
      this.unlock();
    }
  }

  /**
   * The epoch masks are valid for: the filter generation when given (every
   * thread's matcher of one generation is the same, so they share masks);
   * else a new one for each new matcher object (one thread, tests).
   */
  private useMatcher(matcher: Matcher, generation: number | undefined): void {
    if (generation !== undefined) {
      this.epoch = generation;
      return;
    }
    if (matcher === this.epochMatcher) return;
    this.epochMatcher = matcher;
    this.epoch = (this.epoch + 1) >>> 0 || 1;
  }

  /** A reload brought a new matcher: the record's targets are matched again. */
  private remask(at: number, matcher: Matcher): void {
    const { u8, u16, u32, i32 } = this.mem;
    const n = u32[(at + R_TTLS) >> 2];
    const t = u32[(at + R_TARGETS) >> 2];
    const start = msgStart(at, n, t, u32[(at + R_KEY) >> 2]);
    const msg = u8.subarray(start, start + u32[(at + R_MSG) >> 2]);
    const offsets: number[] = [];
    for (let i = 0; i < t; i++) offsets.push(u16[((at + HEADER + (n + t) * 4) >> 1) + n + i]);
    const masks = targetMasks(msg, offsets, matcher);
    i32.set(masks, ((at + HEADER) >> 2) + n);
    u32[(at + R_MASKS) >> 2] = masks.length;
    u32[(at + R_EPOCH) >> 2] = this.epoch;
  }

  /** The record's masks as an Int32Array: a reused view for the common few, a copy beyond. */
  private masksOf(mem: Views, at: number): Int32Array {
    const { u32, i32 } = mem;
    const count = u32[(at + R_MASKS) >> 2];
    const from = ((at + HEADER) >> 2) + u32[(at + R_TTLS) >> 2];
    if (count > MASK_VIEWS) return i32.slice(from, from + count);
    for (let i = 0; i < count; i++) this.maskScratch[i] = i32[from + i];
    return this.maskViews[count];
  }

  private hash(key: string): number {
    let h = this.seed ^ key.length;
    for (let i = 0; i < key.length; i++) {
      h = Math.imul(h ^ key.charCodeAt(i), 0x5bd1e995);
      h ^= h >>> 15;
    }
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  /** The index slot holding `key`, or -1. */
  private find(key: string, hash: number): number {
    const { slots, hashes, indexMask } = this;
    const { u8, u32 } = this.mem;
    for (let i = hash & indexMask; ; i = (i + 1) & indexMask) {
      const entry = slots[i];
      if (entry === 0) return -1;
      if (hashes[i] !== hash) continue;
      const at = entry - 1;
      if (u32[(at + R_KEY) >> 2] !== key.length) continue;
      let k = at + HEADER + (u32[(at + R_TTLS) >> 2] + u32[(at + R_TARGETS) >> 2]) * 6;
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

  private insert(hash: number, at: number): void {
    let i = hash & this.indexMask;
    while (this.slots[i] !== 0) i = (i + 1) & this.indexMask;
    this.slots[i] = at + 1;
    this.hashes[i] = hash;
  }

  /** The index slot pointing at the record at `at`; -1 if none (never, while the invariants hold: the bound keeps a bug from hanging the resolver). */
  private slotOf(at: number): number {
    let i = this.mem.u32[(at + R_HASH) >> 2] & this.indexMask;
    for (let probes = 0; probes <= this.indexMask; probes++, i = (i + 1) & this.indexMask) {
      if (this.slots[i] === at + 1) return i;
      if (this.slots[i] === 0) return -1;
    }
    return -1;
  }

  /** Takes a record out of the index (its bytes stay until the tail passes them). */
  private removeSlot(slot: number): void {
    const at = this.slots[slot] - 1;
    this.mem.u32[(at + R_FLAGS) >> 2] = 0;
    this.count--;
    // Backward-shift deletion keeps every probe chain unbroken without tombstones.
    const { slots, hashes, indexMask } = this;
    let hole = slot;
    for (let j = (slot + 1) & indexMask; slots[j] !== 0; j = (j + 1) & indexMask) {
      const home = hashes[j] & indexMask;
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      slots[hole] = slots[j];
      hashes[hole] = hashes[j];
      hole = j;
    }
    slots[hole] = 0;
  }

  /** Room for `size` bytes at the head, evicting from the tail as needed. */
  private allocate(size: number): number {
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
    if (flags & LIVE && this.slotOf(at) < 0) {
      u32[(at + R_FLAGS) >> 2] = 0; // not indexed: nothing to keep
      this.count--;
    } else if (flags & LIVE) {
      const slot = this.slotOf(at);
      const room = this.wrapped ? this.tail - this.head : this.limit - this.head;
      if (flags & REFERENCED && this.chances > 0 && room >= size) {
        this.chances--;
        u32[(at + R_FLAGS) >> 2] = LIVE;
        const to = this.take(size);
        u8.copyWithin(to, at, at + size);
        this.slots[slot] = to + 1;
      } else {
        this.removeSlot(slot);
      }
    }
    this.tail += size;
    if (this.wrapped && this.tail >= this.wrapEnd) {
      this.tail = 0;
      this.wrapped = false;
    }
  }
}

/** Where the message bytes of a record at `at` begin. */
function msgStart(at: number, n: number, t: number, keyLength: number): number {
  return at + HEADER + (n + t) * 6 + keyLength;
}

const keyScratch = Buffer.allocUnsafe(256 + 4 + 1 + 8); // name, type and class, flags, a zone tag

/**
 * The cache and in-flight key: the question lower-cased (name, type, class)
 * plus one byte for the flags that change the upstream's answer: RD (an
 * RD=0 answer is not a recursive one), CD (a CD=1 answer skipped the
 * upstream's DNSSEC validation: never serve it to clients that rely on it)
 * and DO (a DNSSEC client needs the RRSIGs). EDNS itself is not in the key:
 * aifence answers every EDNS client with its own OPT.
 */
export function cacheKey(query: Uint8Array, q: Query, route: Uint8Array | null = null): string {
  const length = q.questionEnd - 12;
  for (let i = 0; i < length; i++) {
    const c = query[12 + i];
    keyScratch[i] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
  }
  keyScratch[length] = 0x40 | (q.rd ? 1 : 0) | (q.cd ? 2 : 0) | (q.dnssecOk ? 4 : 0);
  if (route === null) return keyScratch.toString('latin1', 0, length + 1);
  // A conditionally forwarded name: its zone's tag, so an answer from one routing never serves another.
  for (let i = 0; i < route.length; i++) keyScratch[length + 1 + i] = route[i];
  return keyScratch.toString('latin1', 0, length + 1 + route.length);
}
