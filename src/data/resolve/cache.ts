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
// workers hold what one would. A short spin lock guards each operation.
//
// This file is what the cache means in DNS: what is kept and for how long,
// TTLs counted down, stale answers, CNAME-target masks, the key. The parts
// beside it (cache/) know nothing of DNS: the memory layout (layout.ts), the
// lock (lock.ts), the index (key-index.ts), the ring allocator (ring.ts).

import type { Matcher } from '../../match/types.js';
import { STALE_OPT } from '../../wire/answers.js';
import { Query, Rcode, writeU32 } from '../../wire/message.js';
import type { ReplyShape } from '../../wire/records.js';
import { relayAnswerFrom } from '../../wire/relay.js';
import { NO_TARGETS, targetMasks } from './targets.js';
import type { CacheLimits, CacheMemory } from '../../shared/plane-memory.js';
import { epochNow } from '../../thread/clock.js';
import { KeyIndex } from './cache/key-index.js';
import {
  HEADER,
  MIN_RECORD,
  R_EPOCH,
  R_EXPIRES,
  R_FLAGS,
  R_KEY,
  R_MASKS,
  R_MSG,
  R_SIZE,
  R_STORED,
  R_TARGETS,
  R_TTLS,
  REFERENCED,
  LIVE,
  S_EPOCH,
  S_HITS,
  S_MISSES,
  S_SEED,
  S_STALE_HITS,
  STATE_BYTES,
  type Views,
  keyStart,
  msgStart,
  viewsOf,
} from './cache/layout.js';
import { CacheLock } from './cache/lock.js';
import { Ring } from './cache/ring.js';

/** RFC 8767 §4: a stale answer's TTL, so clients come back soon for a fresh one. */
export const STALE_TTL = 30;

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
    /** When `lookup` read it (0: not from a lookup): the one clock read a hit's freshness and TTLs are judged by. */
    public readAt = 0,
  ) {}
}

export interface CacheOptions extends CacheLimits {
  /** Monotonic milliseconds; injectable for tests. Threads sharing a cache must share the clock (the default does). */
  now?: () => number;
}

const MASK_VIEWS = 16;
const MAX_SLAB = 1024 ** 3;

export class AnswerCache {
  private readonly now: () => number;
  private readonly staleMs: number;
  /** The slab: a ring of records. */
  private readonly mem: Views;
  /** The shared state's counters (hits, misses, the seed, the masks' epoch; the ring's are the ring's). */
  private readonly st: Float64Array;
  private readonly mutex: CacheLock;
  private readonly index: KeyIndex;
  private readonly ring: Ring;
  /** A hit's record, copied out of the slab under the lock. */
  private scratch: Views = viewsOf(new ArrayBuffer(1024));
  private readonly maxEntries: number;
  private readonly maxRecord: number;
  /** Mask ids in records are valid for one filter generation (or, without one, `epochMatcher`); they are recomputed on their next hit under another. */
  private epochMatcher: Matcher | null = null;
  private readonly view: CachedReply;
  private readonly maskScratch = new Int32Array(MASK_VIEWS);
  private readonly maskViews: Int32Array[] = [];

  /** A new cache; `attached`: the memory of an existing one (another thread's), `owner` this thread's id in its lock. */
  constructor(
    private readonly options: CacheOptions,
    attached?: CacheMemory,
    owner = 1,
  ) {
    this.now = options.now ?? epochNow; // the same scale in every thread sharing the cache
    this.staleMs = options.serveStale ? options.serveStale.maxStale * 1000 : 0;
    // Offsets live in Int32Arrays: the slab stays under 2 GB (the config allows 1 GB).
    const slabSize = options.maxEntries > 0 ? Math.floor(Math.min(options.maxSize, MAX_SLAB) / 8) * 8 : 0;
    this.maxEntries = Math.min(options.maxEntries, Math.floor(slabSize / MIN_RECORD));
    // An answer bigger than an eighth of the cache is not kept: it would flush too much.
    this.maxRecord = Math.floor(slabSize / 8);
    const capacity = KeyIndex.capacityFor(this.maxEntries);
    const memory = attached ?? {
      options: { maxEntries: options.maxEntries, maxSize: options.maxSize, minTtl: options.minTtl, maxTtl: options.maxTtl, serveStale: options.serveStale },
      slab: new SharedArrayBuffer(slabSize),
      slots: new SharedArrayBuffer(capacity * 4),
      hashes: new SharedArrayBuffer(capacity * 4),
      state: new SharedArrayBuffer(STATE_BYTES),
    };
    this.memory = memory;
    this.mem = viewsOf(memory.slab);
    this.st = new Float64Array(memory.state);
    this.mutex = new CacheLock(memory.state, owner);
    if (attached === undefined) {
      Ring.start(this.st, slabSize);
      this.st[S_SEED] = (Math.random() * 0x100000000) >>> 0;
      this.st[S_EPOCH] = 1;
    }
    this.index = new KeyIndex(memory.slots, memory.hashes, this.st[S_SEED], this.mem);
    this.ring = new Ring(this.mem, this.st, slabSize, this.maxEntries, this.index);
    for (let i = 0; i <= MASK_VIEWS; i++) this.maskViews.push(i === 0 ? NO_TARGETS : this.maskScratch.subarray(0, i));
    this.view = new CachedReply(this.scratch, 0, NO_TARGETS, 0, 0);
  }

  /** This cache's memory, for another thread to `attach` to. */
  readonly memory: CacheMemory;

  /** The same cache in this thread: `owner` (1 and up, distinct per thread) names it in the lock. */
  static attach(memory: CacheMemory, owner: number): AnswerCache {
    return new AnswerCache(memory.options, memory, owner);
  }

  private get epoch(): number { return this.st[S_EPOCH]; }
  private set epoch(v: number) { this.st[S_EPOCH] = v; }
  get hits(): number { return this.st[S_HITS]; }
  get misses(): number { return this.st[S_MISSES]; }
  /** Expired entries handed out for serve-stale. */
  get staleHits(): number { return this.st[S_STALE_HITS]; }

  /** Frees the lock if thread `owner` held it when it died (the control plane calls this when a worker exits). */
  releaseIfHeldBy(owner: number): boolean {
    return this.mutex.releaseIfHeldBy(owner);
  }

  get size(): number {
    return this.ring.count;
  }

  /** Bytes of the slab the ring has reached so far: the part of it made resident. */
  get touched(): number {
    return this.ring.limit;
  }

  /** Bytes of the slab the ring holds now (records, including removed ones not yet passed by the tail); at most maxSize. */
  get bytes(): number {
    return this.ring.bytes;
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
    const hash = this.index.hash(key);
    this.mutex.lock();
    try {
      const slot = this.index.find(key, hash);
      if (slot < 0) {
        this.st[S_MISSES]++;
        return undefined;
      }
      const at = this.index.slots[slot] - 1;
      const { u32, f64 } = this.mem;
      const expiresAt = f64[(at + R_EXPIRES) >> 3];
      const now = this.now();
      if (now >= expiresAt) {
        this.st[S_MISSES]++;
        if (now >= expiresAt + this.staleMs) {
          this.ring.forget(slot);
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
      view.readAt = now;
      view.targetMasks = this.masksOf(view.mem, 0);
      return view;
    } finally {
      this.mutex.unlock();
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
    return (entry.readAt || this.now()) < entry.expiresAt;
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
    const elapsed = Math.floor(((entry.readAt || this.now()) - entry.storedAt) / 1000);
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
    const hash = this.index.hash(key);
    this.mutex.lock();
    try {
      this.storeLocked(key, hash, size, msg, shape, masks, matcher, generation, ttl);
    } finally {
      this.mutex.unlock();
    }
  }

  private storeLocked(key: string, hash: number, size: number, msg: Uint8Array, shape: ReplyShape, masks: Int32Array, matcher: Matcher, generation: number | undefined, ttl: number): void {
    const { minTtl, maxTtl } = this.options;
    const n = shape.ttlOffsets.length;
    const targets = shape.targets;
    const t = targets.length;
    const old = this.index.find(key, hash);
    if (old >= 0) this.ring.forget(old);
    if (size > this.maxRecord) return;
    const at = this.ring.allocate(size);
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
    const keyAt = keyStart(at, n, t);
    for (let i = 0; i < key.length; i++) u8[keyAt + i] = key.charCodeAt(i);
    this.useMatcher(matcher, generation);
    const masksAt = ttls + n;
    for (let i = 0; i < masks.length && i < t; i++) i32[masksAt + i] = masks[i];
    u32[(at + R_MASKS) >> 2] = Math.min(masks.length, t);
    u32[(at + R_EPOCH) >> 2] = this.epoch;
    this.index.insert(hash, at);
    this.ring.count++;
  }

  clear(): void {
    this.mutex.lock();
    try {
      this.ring.clear();
    } finally {
      this.mutex.unlock();
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
