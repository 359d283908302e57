// Per-client rate limiting for UDP queries: a token bucket per client (an
// IPv4 address, an IPv6 /56) in a table of fixed size, so a flood of forged
// source addresses costs a bounded amount of memory and no allocation.
//
// The table is set-associative: a client's key hashes (with a random seed,
// so addresses cannot be chosen to collide) to a set of WAYS slots. A client
// not in its set takes an empty slot, or else evicts the slot whose bucket
// is fullest once refilled. A full bucket holds nothing a fresh one would
// not, so evicting it loses nothing; a client being limited has an empty
// bucket and is evicted last, so a flood of new addresses cannot wipe out
// the record of the client that is flooding (at worst a client gets a fresh
// burst back when all WAYS clients of its set are drained at once).
//
// A flood whose every packet carries a new forged source looks like many
// new clients, each with a full bucket: per-client limits cannot bound it
// (access.clients and the network's anti-spoofing filters do). What they
// bound is one client, real or impersonated: a host that floods, and the
// answers a forger can aim at one victim.
//
// TCP is not limited here: its source addresses cannot be forged, the
// handshake throttles a client by itself, the TCP listener caps
// connections, and TCP is the way out that `slip` offers to real clients
// sharing a limited address (a NAT gateway).

import type { RateLimitCounts } from '../../shared/plane-stats.js';
import type { RateLimitAction, RateLimitConfig } from '../../shared/serving-config.js';
import { type Cidr, cidrContains } from '../../net/address.js';
import { clientKey, mixKey } from '../../net/client-key.js';
import { readAddress } from '../../net/read-address.js';
import { errorAnswer, truncatedAnswer } from '../../wire/answers.js';
import { ParseResult, Query, Rcode, parseQuery } from '../../wire/message.js';

/** What to do with one query: answer it as usual, or one of the actions for a client over its rate. */
export const Limit = { Pass: 0, Drop: 1, Refused: 2, Slip: 3 } as const;
export type Limit = (typeof Limit)[keyof typeof Limit];

/** 65,536 clients: ~1.7 MB of typed arrays, far more clients than an office has. */
export const DEFAULT_SLOTS = 1 << 16;
const WAYS = 8;
/** How often the limiter's clock is refreshed while queries arrive. */
const TICK_MS = 5;
/** At most one report of limited clients this often (a flood must not flood the log too). */
const REPORT_MS = 10_000;

export interface RateLimiterOptions {
  /** Table slots: a power of two, at least 8 (default 65,536). */
  slots?: number;
  /** Monotonic milliseconds, read per query (tests); by default a timer keeps the time. */
  clock?: () => number;
  /**
   * Told when clients are being limited: at the first limited query, then at
   * most every 10 s, with the queries limited since the last report and the
   * latest client limited.
   */
  onLimited?: (report: { client: string; queries: number; action: RateLimitAction }) => void;
}

export class RateLimiter {
  readonly counts: RateLimitCounts = { drop: 0, refused: 0, slip: 0, evictions: 0 };
  private qpsPerMs = 0;
  private burst = 0;
  private action: RateLimitAction = 'drop';
  private slipEvery = 1;
  private exempt: readonly Cidr[] = [];
  // Values that cross a call kept as small integers or in typed arrays: V8 boxes
  // a double or a 32-bit number it passes or returns, an allocation per query.
  private readonly seed = (Math.random() * 0x4000_0000) | 0;
  private readonly mask: number;
  private readonly key = new Uint32Array(2);
  /** Milliseconds now, as far as the limiter knows (see `tick`). */
  private readonly now = new Float64Array(1);
  private ticker: NodeJS.Timeout | null = null;
  private checked = false;
  private readonly slots: number;
  private readonly clock: (() => number) | null;
  private readonly onLimited: RateLimiterOptions['onLimited'];
  private limitedSinceReport = 0;
  private lastReport = -Infinity;
  // The table, one entry per slot; allocated when first enabled.
  private key0 = new Uint32Array(0);
  private key1 = new Uint32Array(0); // 0: empty slot
  private tokens = new Float64Array(0);
  private last = new Float64Array(0);
  private slipCount = new Uint8Array(0);
  private used = 0;
  private readonly bytes = new Uint8Array(16);
  /** The last client seen, parsed: a page load is a burst of 50-100 queries from one address, each a new string. */
  private lastAddress = '';
  private lastExempt = false;
  private lastKey0 = 0;
  private lastKey1 = 0;
  private readonly q = new Query();

  constructor(config: RateLimitConfig, options: RateLimiterOptions = {}) {
    const slots = (this.slots = options.slots ?? DEFAULT_SLOTS);
    this.clock = options.clock ?? null;
    this.onLimited = options.onLimited;
    if (slots < WAYS || (slots & (slots - 1)) !== 0) throw new Error(`rate limit table size ${slots} is not a power of two of at least ${WAYS}`);
    this.mask = (slots / WAYS - 1) * WAYS;
    this.configure(config);
  }

  get enabled(): boolean {
    return this.qpsPerMs > 0;
  }

  /** Clients in the table now. */
  get clients(): number {
    return this.used;
  }

  /** Applies a new config (on reload); clients keep their buckets, capped to the new burst. */
  configure(config: RateLimitConfig): void {
    this.qpsPerMs = config.qps / 1000;
    this.burst = config.burst;
    this.action = config.action;
    this.slipEvery = config.slip;
    this.exempt = config.exempt;
    this.lastAddress = ''; // the exempt prefixes may have changed
    if (this.enabled && this.key1.length === 0) {
      this.key0 = new Uint32Array(this.slots);
      this.key1 = new Uint32Array(this.slots);
      this.tokens = new Float64Array(this.slots);
      this.last = new Float64Array(this.slots);
      this.slipCount = new Uint8Array(this.slots);
    }
  }

  /** Takes a token from the client's bucket: Pass, or what to do with a query over its rate. */
  check(address: string): Limit {
    if (this.qpsPerMs === 0) return Limit.Pass;
    const key = this.key;
    if (address !== this.lastAddress && !this.parse(address)) return Limit.Pass;
    if (this.lastExempt) return Limit.Pass;
    key[0] = this.lastKey0;
    key[1] = this.lastKey1;
    this.advance();
    const now = this.now[0];
    const slot = this.slotFor();
    const tokens = Math.min(this.burst, this.tokens[slot] + (now - this.last[slot]) * this.qpsPerMs);
    this.last[slot] = now;
    if (tokens >= 1) {
      this.tokens[slot] = tokens - 1;
      return Limit.Pass;
    }
    this.tokens[slot] = tokens;
    this.limitedSinceReport++;
    if (now - this.lastReport >= REPORT_MS) this.report(address, now);
    if (this.action === 'drop') return Limit.Drop;
    if (this.action === 'refused') return Limit.Refused;
    if (++this.slipCount[slot] < this.slipEvery) return Limit.Drop;
    this.slipCount[slot] = 0;
    return Limit.Slip;
  }

  /** Reads a new client's address into the memo (its key, whether it is exempt); false: not an address, never limited. */
  private parse(address: string): boolean {
    const bytes = this.bytes;
    if (!readAddress(address, bytes)) return false;
    this.lastAddress = address;
    this.lastExempt = false;
    for (const cidr of this.exempt) if (cidrContains(cidr, bytes)) this.lastExempt = true;
    clientKey(bytes, this.key);
    this.lastKey0 = this.key[0];
    this.lastKey1 = this.key[1];
    return true;
  }

  private report(client: string, now: number): void {
    this.lastReport = now;
    const queries = this.limitedSinceReport;
    this.limitedSinceReport = 0;
    this.onLimited?.({ client, queries, action: this.action });
  }

  /** The answer for a query `check` limited (REFUSED or TC), or null to drop it; counts what was done. */
  reply(msg: Uint8Array, limit: Limit): Buffer | null {
    if (limit !== Limit.Drop && parseQuery(msg, this.q) === ParseResult.Ok) {
      if (limit === Limit.Refused) {
        this.counts.refused++;
        return errorAnswer(msg, this.q, Rcode.REFUSED);
      }
      this.counts.slip++;
      return truncatedAnswer(msg, this.q);
    }
    // Dropped, or not a query we could answer: what is not a question gets no answer from a limited client.
    this.counts.drop++;
    return null;
  }

  /**
   * Brings `now` up to date. Reading a clock per query costs more than the
   * rest of `check` and allocates, so while queries arrive a timer refreshes
   * it every TICK_MS; after a tick with no query the timer stops, and the
   * next query reads the clock itself (an idle daemon has no timer running).
   */
  private advance(): void {
    if (this.clock !== null) {
      this.now[0] = this.clock();
    } else if (this.ticker === null) {
      this.now[0] = performance.now();
      this.ticker = setInterval(this.tick, TICK_MS).unref();
    }
    this.checked = true;
  }

  private readonly tick = (): void => {
    if (this.checked) {
      this.checked = false;
      this.now[0] = performance.now();
    } else {
      clearInterval(this.ticker!);
      this.ticker = null;
    }
  };

  /** Stops the clock's timer (it also stops by itself once queries stop). */
  close(): void {
    clearInterval(this.ticker ?? undefined);
    this.ticker = null;
  }

  /** The slot holding the client in `key`, claimed (with a full bucket) if it had none. */
  private slotFor(): number {
    const k0 = this.key[0];
    const k1 = this.key[1];
    const now = this.now[0];
    const set = setOf(k0, k1, this.seed, this.mask);
    const key0 = this.key0;
    const key1 = this.key1;
    let free = -1;
    for (let s = set; s < set + WAYS; s++) {
      if (key1[s] === k1 && key0[s] === k0) return s;
      if (free < 0 && key1[s] === 0) free = s;
    }
    if (free < 0) {
      free = this.fullest(set);
      this.counts.evictions++;
    } else {
      this.used++;
    }
    key0[free] = k0;
    key1[free] = k1;
    this.tokens[free] = this.burst;
    this.last[free] = now;
    this.slipCount[free] = 0;
    return free;
  }

  /** The slot in the set whose bucket, refilled to now, holds the most tokens. */
  private fullest(set: number): number {
    const now = this.now[0];
    let best = set;
    let most = -1;
    for (let s = set; s < set + WAYS; s++) {
      const tokens = this.tokens[s] + (now - this.last[s]) * this.qpsPerMs;
      if (tokens > most) {
        most = tokens;
        best = s;
        if (tokens >= this.burst) break;
      }
    }
    return best;
  }
}

/** The first slot of the key's set. */
const setOf = (k0: number, k1: number, seed: number, mask: number): number => mixKey(k0, k1, seed) & mask;
