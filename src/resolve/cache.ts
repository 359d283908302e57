// The answer cache: upstream replies kept as raw bytes, shared by every
// client and group (policy is decided per client before the cache is asked).
// A hit copies the bytes and counts the TTLs down; nothing is re-encoded.

import { LRUCache } from 'lru-cache';
import type { Matcher } from '../match/types.js';
import { Query, Rcode } from '../wire/message.js';
import { relayAnswer } from '../wire/relay.js';
import { type ReplyShape, clampedTtls, patchTtls } from '../wire/records.js';
import { targetMasks } from './targets.js';

/** SERVFAIL from upstream is kept only briefly: long enough to absorb a retry storm, short enough to recover. */
export const SERVFAIL_TTL = 5;

export interface CachedReply {
  /** The reply as received (ID and question case are patched per hit). */
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
  minTtl: number;
  maxTtl: number;
  /** Monotonic milliseconds; injectable for tests. */
  now?: () => number;
}

export class AnswerCache {
  private readonly lru: LRUCache<string, CachedReply> | null;
  private readonly now: () => number;
  hits = 0;
  misses = 0;

  constructor(private readonly options: CacheOptions) {
    this.lru = options.maxEntries > 0 ? new LRUCache<string, CachedReply>({ max: options.maxEntries }) : null;
    this.now = options.now ?? (() => performance.now());
  }

  get size(): number {
    return this.lru?.size ?? 0;
  }

  /** The live entry for `key`, its target masks brought up to `matcher`; undefined on a miss. */
  lookup(key: string, matcher: Matcher): CachedReply | undefined {
    const entry = this.lru?.get(key);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    const now = this.now();
    if (now >= entry.expiresAt) {
      this.lru!.delete(key);
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (entry.masksOf !== matcher) {
      entry.targetMasks = targetMasks(entry.msg, entry.targetOffsets, matcher);
      entry.masksOf = matcher;
    }
    return entry;
  }

  /** The cached reply rewritten for this query: its ID, the question bytes as the client wrote them, aifence's OPT, TTLs counted down. */
  answer(entry: CachedReply, query: Uint8Array, q: Query): Buffer {
    const now = this.now();
    const out = relayAnswer(entry.msg, query, q);
    patchTtls(out, entry.ttlOffsets, entry.ttls, Math.floor((now - entry.storedAt) / 1000));
    return out;
  }

  /** Stores a validated upstream reply for as long as its TTLs allow. */
  store(key: string, msg: Uint8Array, shape: ReplyShape, masks: Int32Array, matcher: Matcher): void {
    if (this.lru === null) return;
    const { minTtl, maxTtl } = this.options;
    let ttl: number;
    if (shape.rcode === Rcode.SERVFAIL) ttl = Math.min(SERVFAIL_TTL, maxTtl);
    else if (shape.rcode !== Rcode.NOERROR && shape.rcode !== Rcode.NXDOMAIN) return;
    // A negative answer without SOA gives no TTL (RFC 2308 §5: do not cache), unless the admin set a floor.
    else ttl = Math.min(Math.max(shape.ttl < 0 ? 0 : shape.ttl, minTtl), maxTtl);
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
