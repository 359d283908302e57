// The answer cache: upstream replies kept as raw bytes (their OPT cut out),
// shared by every client and group (policy is decided per client before the
// cache is asked). A hit copies the bytes and counts the TTLs down; nothing
// is re-encoded. Bounded by entries and by bytes. With serve-stale (RFC
// 8767) an expired answer is kept a while longer, for when no upstream
// answers in time.

import { LRUCache } from 'lru-cache';
import type { Matcher } from '../match/types.js';
import { STALE_OPT } from '../wire/answers.js';
import { Query, Rcode } from '../wire/message.js';
import { type ReplyShape, clampedTtls, patchTtls } from '../wire/records.js';
import { relayAnswer } from '../wire/relay.js';
import { targetMasks } from './targets.js';

/** RFC 8767 §4: a stale answer's TTL, so clients come back soon for a fresh one. */
export const STALE_TTL = 30;

export interface CachedReply {
  /** The reply as received, without OPT (ID and question case are patched per hit). */
  msg: Uint8Array;
  /** Where the names this reply points to sit (CNAME inspection). */
  targetOffsets: number[];
  /** Their mask ids under `masksOf`; recomputed when a reload brings a new matcher. */
  targetMasks: Int32Array;
  masksOf: Matcher;
  ttlOffsets: Uint16Array;
  /** Each TTL as received, clamped to [minTtl, maxTtl]. */
  ttls: Uint32Array;
  storedAt: number;
  expiresAt: number;
}

export interface CacheOptions {
  maxEntries: number;
  /** Bytes of answers (plus a fixed overhead per entry) kept at most. */
  maxSize: number;
  minTtl: number;
  maxTtl: number;
  /** Expired answers are kept this long (seconds) to be served stale; null: never. */
  serveStale: { maxStale: number } | null;
  /** Monotonic milliseconds; injectable for tests. */
  now?: () => number;
}

/** What an entry costs besides its bytes: the object, its arrays and the key (measured order of magnitude). */
const ENTRY_OVERHEAD = 256;

export class AnswerCache {
  private readonly lru: LRUCache<string, CachedReply> | null;
  private readonly now: () => number;
  private readonly staleMs: number;
  hits = 0;
  misses = 0;
  /** Expired entries handed out for serve-stale. */
  staleHits = 0;

  constructor(private readonly options: CacheOptions) {
    this.lru =
      options.maxEntries > 0
        ? new LRUCache<string, CachedReply>({
            max: options.maxEntries,
            maxSize: options.maxSize,
            sizeCalculation: (e) => e.msg.length + e.ttlOffsets.length * 6 + e.targetOffsets.length * 12 + ENTRY_OVERHEAD,
          })
        : null;
    this.now = options.now ?? (() => performance.now());
    this.staleMs = options.serveStale ? options.serveStale.maxStale * 1000 : 0;
  }

  get size(): number {
    return this.lru?.size ?? 0;
  }

  /** Bytes held, as counted against maxSize. */
  get bytes(): number {
    return this.lru?.calculatedSize ?? 0;
  }

  /**
   * The entry for `key`, its target masks brought up to `matcher`: a live
   * one, or (with serve-stale) an expired one still within its stale window,
   * which `isFresh` tells apart. Undefined on a miss.
   */
  lookup(key: string, matcher: Matcher): CachedReply | undefined {
    const entry = this.lru?.get(key);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    const now = this.now();
    if (now >= entry.expiresAt) {
      this.misses++;
      if (now >= entry.expiresAt + this.staleMs) {
        this.lru!.delete(key);
        return undefined;
      }
    } else {
      this.hits++;
    }
    if (entry.masksOf !== matcher) {
      entry.targetMasks = targetMasks(entry.msg, entry.targetOffsets, matcher);
      entry.masksOf = matcher;
    }
    return entry;
  }

  isFresh(entry: CachedReply): boolean {
    return this.now() < entry.expiresAt;
  }

  /** The cached reply rewritten for this query: its ID, the question bytes as the client wrote them, aifence's OPT, TTLs counted down. */
  answer(entry: CachedReply, query: Uint8Array, q: Query): Buffer {
    const now = this.now();
    const out = relayAnswer(entry.msg, query, q);
    patchTtls(out, entry.ttlOffsets, entry.ttls, Math.floor((now - entry.storedAt) / 1000));
    return out;
  }

  /** An expired entry served stale (RFC 8767): every TTL 30 s, and EDE 3 (Stale Answer) for EDNS clients. */
  answerStale(entry: CachedReply, query: Uint8Array, q: Query): Buffer {
    this.staleHits++;
    const out = relayAnswer(entry.msg, query, q, STALE_OPT);
    for (let i = 0; i < entry.ttlOffsets.length; i++) out.writeUInt32BE(STALE_TTL, entry.ttlOffsets[i]);
    return out;
  }

  /**
   * Stores a validated NOERROR or NXDOMAIN reply for as long as its TTLs
   * allow. Failures (SERVFAIL, REFUSED) are never stored: the next query
   * asks again, or serve-stale answers.
   */
  store(key: string, msg: Uint8Array, shape: ReplyShape, masks: Int32Array, matcher: Matcher): void {
    if (this.lru === null) return;
    if (shape.rcode !== Rcode.NOERROR && shape.rcode !== Rcode.NXDOMAIN) return;
    const { minTtl, maxTtl } = this.options;
    // A negative answer without SOA gives no TTL (RFC 2308 §5: do not cache), unless the admin set a floor.
    const ttl = Math.min(Math.max(shape.ttl < 0 ? 0 : shape.ttl, minTtl), maxTtl);
    if (ttl <= 0) return;
    const storedAt = this.now();
    this.lru.set(key, {
      msg,
      targetOffsets: shape.targets,
      targetMasks: masks,
      masksOf: matcher,
      ttlOffsets: shape.ttlOffsets,
      ttls: clampedTtls(msg, shape.ttlOffsets, minTtl, maxTtl),
      storedAt,
      expiresAt: storedAt + ttl * 1000,
    });
  }

  clear(): void {
    this.lru?.clear();
  }
}

const keyScratch = Buffer.allocUnsafe(256 + 5);

/**
 * The cache and in-flight key: the question lower-cased (name, type, class)
 * plus one byte for the flags that change the upstream's answer: RD (an
 * RD=0 answer is not a recursive one), CD (a CD=1 answer skipped the
 * upstream's DNSSEC validation: never serve it to clients that rely on it)
 * and DO (a DNSSEC client needs the RRSIGs). EDNS itself is not in the key:
 * aifence answers every EDNS client with its own OPT.
 */
export function cacheKey(query: Uint8Array, q: Query): string {
  const length = q.questionEnd - 12;
  for (let i = 0; i < length; i++) {
    const c = query[12 + i];
    keyScratch[i] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
  }
  keyScratch[length] = 0x40 | (q.rd ? 1 : 0) | (q.cd ? 2 : 0) | (q.dnssecOk ? 4 : 0);
  return keyScratch.toString('latin1', 0, length + 1);
}
