// The query path, in order: parse, access, policy, cache, in-flight
// sharing, upstream. Block answers and cache hits are answered
// synchronously from bytes; only misses wait for the network.

import { performance } from 'node:perf_hooks'; // the global is a getter, read on every use
import type { Logger } from 'pino';
import { Observers, QueryEvent, type Verdict } from '../../shared/events.js';
import { Guard } from '../../shared/guard.js';
import type { ResolverStats } from '../../shared/plane-stats.js';
import { REFUSED } from '../../shared/clients.js';
import { type FilterState, type Lift, PASS, liftIndex } from '../../shared/filter.js';
import {
  HEALTH_PROBE_NAME,
  anyAnswer,
  badVersAnswer,
  emptyAnswer,
  errorAnswer,
  headerOnlyAnswer,
  truncatedAnswer,
} from '../../wire/answers.js';
import { DEFAULT_MAX_UDP, ParseResult, Query, Rcode, Type, equalsIgnoreCase, parseQuery } from '../../wire/message.js';
import { relayAnswer, withoutOpt } from '../../wire/relay.js';
import { reuseReplies } from '../../wire/reply-memory.js';
import { nameText } from '../../wire/presentation.js';
import type { ReplyShape } from '../../wire/records.js';
import { type AnswerCache, type CachedReply, cacheKey } from './cache.js';
import { Limit, type RateLimiter } from './ratelimit.js';
import { NO_TARGETS, blockedTarget, targetMasks } from './targets.js';
import type { ZoneTable } from './zones.js';
import { type DdrAnswers, isDdrQuestion } from '../../wire/ddr.js';
import type { ExchangeDone, UpstreamPool } from './upstream.js';

/** How a query came: plain UDP or TCP, DNS over TLS (RFC 7858) or over HTTPS (RFC 8484). */
export type TransportKind = 'udp' | 'tcp' | 'dot' | 'doh';

/** Where an answer goes: a UDP socket (to address:port), one TCP or TLS connection, or one HTTP request. */
export interface Transport {
  /** Datagrams: rate limits and the TC bit apply. Every other transport is connection-based and bounded per connection. */
  readonly udp: boolean;
  readonly kind: TransportKind;
  /** The device id this query names (DoH path, DoT SNI), '' for none: a group listing it wins over the address. */
  readonly device: string;
  /** The query's bytes are a view the listener reuses once handle() returns: a query that waits keeps a copy. */
  readonly transient?: boolean;
  /** send() has copied the answer when it returns: answers for it may be written into reused memory (wire/reply-memory.ts). */
  readonly copiesReply?: boolean;
  send(reply: Buffer, address: string, port: number): void;
}

export interface ResolverOptions {
  /** The largest UDP answer; the client's EDNS size is capped to it. */
  maxUdpSize: number;
  /** Distinct questions waiting on upstream at once; beyond it new ones get SERVFAIL at once. */
  maxConcurrent: number;
  /** Seconds without news from upstream before a stale answer is given (RFC 8767 client response timer); null: no serve-stale. */
  staleAfter: number | null;
}

/** Clients waiting on one question; beyond it the next get SERVFAIL (a flood of one name must not grow memory). */
const MAX_WAITERS = 1024;

/** A client waiting for an upstream answer. */
interface Waiter {
  msg: Buffer;
  q: Query;
  transport: Transport;
  address: string;
  port: number;
  group: number;
  /** The block its group lifted for its name (an exception, an allow rule), for the query log. */
  lift: Lift | null;
  arrived: number;
  started: number;
}

/** One question in flight upstream, and who waits for it. */
interface Flight {
  waiters: Waiter[];
  /** An expired cache entry to fall back on (serve-stale), if any. */
  stale: CachedReply | undefined;
  /** Fires when the client timer runs out before upstream answers. */
  timer: NodeJS.Timeout | null;
  /** The timer fired: waiters from now on get the stale answer at once while the refresh goes on. */
  servingStale: boolean;
  /** Match the answer's CNAME/SVCB targets (off for a forwarded zone that does not ask for it). */
  inspect: boolean;
}

const HEALTH_PROBE = Buffer.from(HEALTH_PROBE_NAME.split('.').flatMap((l) => [l.length, ...Buffer.from(l, 'latin1')]).concat(0));

export class Resolver {
  readonly stats: ResolverStats = {
    queries: 0, blocked: 0, cacheHits: 0, forwarded: 0, shared: 0, servfail: 0, refused: 0, formerr: 0, dropped: 0, errors: 0, overloaded: 0, stale: 0,
  };
  private readonly q = new Query();
  private readonly inflight = new Map<string, Flight>();
  private readonly event = new QueryEvent();
  /** Query log and metrics (or, in a worker, the event ring), behind one guard; the daemon may hand its own. */
  observers: Observers;
  /** Per-client UDP rate limiting; set by the daemon. */
  rateLimit: RateLimiter | null = null;
  /** RFC 9462 answers naming aifence's own DoT/DoH listeners; null when it has none (then the name goes through the filter as any other). */
  ddr: DdrAnswers | null = null;
  // When the query being handled arrived (wall clock for logs, monotonic for latency).
  private arrived = 0;
  private started = 0;
  /** An answer went out for the query being handled: a failure after it must not send a second one. */
  private replied = false;
  /** What lifted a block of the name being answered (see GroupTable), or null: an allowed answer's event names it. */
  private lift: Lift | null = null;
  /** Bound once: the upstream hands each exchange's key back, so a miss costs no closure. */
  private readonly onAnswered: ExchangeDone = (reply, shape, server, key) => this.answered(key, reply, shape, server);

  constructor(
    public state: FilterState,
    /** Swapped on reload when cache limits change. */
    public cache: AnswerCache,
    /** Swapped on reload when upstream servers change; exchanges in flight finish on the old pool. */
    public upstream: UpstreamPool,
    /** Conditional forwarding (upstream.zones), swapped with `upstream`; null without zones. */
    public zones: ZoneTable | null,
    private readonly log: Logger,
    /** Swapped on reload. */
    public options: ResolverOptions = { maxUdpSize: DEFAULT_MAX_UDP, maxConcurrent: 4096, staleAfter: 1.8 },
  ) {
    this.observers = new Observers(new Guard(log));
  }

  /** Queries waiting on upstream now (graceful shutdown waits for this to reach 0). */
  get pending(): number {
    return this.inflight.size;
  }

  /** Answers `msg` now or later through `transport`; returns false when it is dropped unanswered. */
  handle(msg: Buffer, address: string, port: number, transport: Transport): boolean {
    this.stats.queries++;
    // First, before any other work: a client over its rate gets a drop, REFUSED or TC, nothing more.
    const limit = transport.udp && this.rateLimit !== null ? this.rateLimit.check(address) : Limit.Pass;
    if (limit !== Limit.Pass) {
      const reply = this.rateLimit!.reply(msg, limit);
      if (reply !== null) transport.send(reply, address, port);
      return reply !== null;
    }
    if (this.observers.length > 0) {
      this.arrived = Date.now();
      this.started = performance.now();
    }
    const q = this.q;
    this.replied = false;
    this.lift = null;
    let parsed = ParseResult.Drop;
    reuseReplies(transport.copiesReply === true);
    try {
      parsed = parseQuery(msg, q, this.options.maxUdpSize);
      if (parsed === ParseResult.Ok) this.resolve(msg, q, address, port, transport);
      else this.reject(parsed, msg, q, address, port, transport);
    } catch (err) {
      // One bad query must not take the office's DNS down: answer it SERVFAIL and carry on.
      this.stats.errors++;
      this.log.error({ err, client: address, name: parsed === ParseResult.Ok ? nameText(msg, 12, q.questionEnd - 4) : undefined }, 'query handling failed');
      if (parsed === ParseResult.Ok && !this.replied) this.send(errorAnswer(msg, q, Rcode.SERVFAIL), transport, address, port, msg, q, -1, 'allowed', -1, false, '');
    } finally {
      reuseReplies(false);
    }
    return parsed !== ParseResult.Drop;
  }

  private reject(parsed: ParseResult, msg: Buffer, q: Query, address: string, port: number, transport: Transport): void {
    switch (parsed) {
      case ParseResult.Drop:
        this.stats.dropped++;
        return;
      case ParseResult.FormErr:
        this.stats.formerr++;
        return this.send(headerOnlyAnswer(msg, Rcode.FORMERR), transport, address, port, msg, null, -1, 'invalid', -1, false, '');
      case ParseResult.BadVers:
        return this.send(badVersAnswer(msg, q), transport, address, port, msg, q, -1, 'invalid', -1, false, '');
      case ParseResult.Refused:
        this.stats.refused++;
        return this.send(errorAnswer(msg, q, Rcode.REFUSED), transport, address, port, msg, q, -1, 'invalid', -1, false, '');
      default:
        return this.send(headerOnlyAnswer(msg, Rcode.NOTIMP), transport, address, port, msg, null, -1, 'invalid', -1, false, '');
    }
  }

  private resolve(msg: Buffer, q: Query, address: string, port: number, transport: Transport): void {
    const state = this.state;
    let group = state.clients.classify(address);
    if (group === REFUSED) {
      this.stats.refused++;
      return this.send(errorAnswer(msg, q, Rcode.REFUSED), transport, address, port, msg, q, -1, 'refused', -1, false, '');
    }
    // The address decided access; a device a group lists decides the group (an unknown id keeps the address's).
    if (transport.device !== '') {
      const byDevice = state.clients.device(transport.device);
      if (byDevice !== REFUSED) group = byDevice;
    }
    if (isHealthProbe(msg, q)) return this.send(emptyAnswer(msg, q), transport, address, port, msg, q, group, 'allowed', -1, false, '');
    // Before the lists: designating ourselves keeps the client on a filtered resolver, which is what blocking DDR was for.
    if (this.ddr !== null && isDdrQuestion(msg, q)) return this.send(this.ddr.answer(msg, q), transport, address, port, msg, q, group, 'allowed', -1, false, '');
    const mask = state.matcher.matchWire(msg, 12);
    if (mask > 0) {
      const verdict = state.groups[group].verdicts[mask];
      if (verdict >= 0) return this.block(msg, q, group, verdict, transport, address, port);
      if (verdict < PASS) this.lift = state.groups[group].lifts[liftIndex(verdict)] ?? null;
    }
    if (q.qtype === Type.ANY) return this.send(anyAnswer(msg, q), transport, address, port, msg, q, group, 'allowed', -1, false, '');
    // Conditional forwarding: the zone decides the pool, and its tag keeps its answers apart in the cache.
    const zones = this.zones;
    const route = zones === null ? -1 : zones.find(msg, 12);
    const key = cacheKey(msg, q, route < 0 ? null : zones!.routes[route].tag);
    const hit = this.cache.lookup(key, state.matcher, state.generation);
    if (hit !== undefined && this.cache.isFresh(hit)) return this.fromCache(hit, false, msg, q, group, transport, address, port);
    const flight = this.inflight.get(key);
    if (flight !== undefined) {
      if (flight.servingStale && hit !== undefined) return this.fromCache(hit, true, msg, q, group, transport, address, port);
      if (flight.waiters.length >= MAX_WAITERS) return this.overloaded(msg, q, group, transport, address, port);
      this.stats.shared++;
      flight.waiters.push(this.waiter(msg, q, group, transport, address, port));
      return;
    }
    if (this.inflight.size >= this.options.maxConcurrent) {
      if (hit !== undefined) return this.fromCache(hit, true, msg, q, group, transport, address, port);
      return this.overloaded(msg, q, group, transport, address, port);
    }
    // The lookup's entry is a view the next lookup reuses: the flight keeps its own copy.
    const stale = hit === undefined ? undefined : this.cache.detach(hit);
    const inspect = route < 0 || zones!.routes[route].zone.cnameInspection;
    const started: Flight = { waiters: [this.waiter(msg, q, group, transport, address, port)], stale, timer: null, servingStale: false, inspect };
    const staleAfter = this.options.staleAfter;
    if (hit !== undefined && staleAfter !== null) started.timer = setTimeout(() => this.serveStale(key, started), staleAfter * 1000);
    this.inflight.set(key, started);
    this.stats.forwarded++;
    (route < 0 ? this.upstream : zones!.routes[route].pool).exchangeFor(msg, q, !transport.udp, this.onAnswered, key);
  }

  private waiter(msg: Buffer, q: Query, group: number, transport: Transport, address: string, port: number): Waiter {
    return { msg: transport.transient === true ? Buffer.from(msg) : msg, q: Object.assign(new Query(), q), transport, address, port, group, lift: this.lift, arrived: this.arrived, started: this.started };
  }

  /** A cached answer (fresh, or stale when upstream failed us), unless one of its targets is blocked for this client's group. */
  private fromCache(hit: CachedReply, stale: boolean, msg: Buffer, q: Query, group: number, transport: Transport, address: string, port: number): void {
    const cloaked = blockedTarget(hit.targetMasks, this.state.groups[group].verdicts);
    if (cloaked !== PASS) return this.block(msg, q, group, cloaked, transport, address, port);
    if (stale) this.stats.stale++;
    else this.stats.cacheHits++;
    const reply = stale ? this.cache.answerStale(hit, msg, q) : this.cache.answer(hit, msg, q);
    this.send(reply, transport, address, port, msg, q, group, 'allowed', -1, true, '');
  }

  private overloaded(msg: Buffer, q: Query, group: number, transport: Transport, address: string, port: number): void {
    this.stats.overloaded++;
    this.stats.servfail++;
    this.send(errorAnswer(msg, q, Rcode.SERVFAIL), transport, address, port, msg, q, group, 'allowed', -1, false, '');
  }

  private block(msg: Buffer, q: Query, group: number, list: number, transport: Transport, address: string, port: number): void {
    this.stats.blocked++;
    const state = this.state;
    const answers = state.listAnswers[list] ?? state.groups[group].answers;
    this.send(answers.answer(msg, q, list), transport, address, port, msg, q, group, 'blocked', list, false, '');
  }

  /** The client timer ran out with an expired answer at hand: give it now; the refresh goes on and refills the cache. */
  private serveStale(key: string, flight: Flight): void {
    flight.timer = null;
    if (this.inflight.get(key) !== flight || flight.stale === undefined) return;
    flight.servingStale = true;
    const waiters = flight.waiters;
    flight.waiters = [];
    for (const w of waiters) this.answerWaiter(w, null, null, '', flight.stale);
  }

  private answered(key: string, reply: Buffer | null, shape: ReplyShape | null, server: string): void {
    const flight = this.inflight.get(key);
    this.inflight.delete(key);
    if (flight === undefined) return;
    if (flight.timer !== null) clearTimeout(flight.timer);
    let masks: Int32Array | null = null;
    const relayed = reply !== null && shape !== null ? withoutOpt(reply, shape) : null;
    if (relayed !== null) {
      reply = relayed.bare;
      // A zone's answers are not turned into a block by their targets unless it asks (cnameInspection): stored without them, they stay so after a reload.
      const shape = flight.inspect ? relayed.shape : { ...relayed.shape, targets: [] };
      masks = flight.inspect ? targetMasks(reply, shape.targets, this.state.matcher) : NO_TARGETS;
      this.cache.store(key, reply, shape, masks, this.state.matcher, this.state.generation);
    }
    for (const w of flight.waiters) this.answerWaiter(w, reply, masks, server, flight.stale);
  }

  /** SERVFAIL (or the stale answer) when no upstream answered; else the reply, unless one of its targets is blocked for this client's group. */
  private answerWaiter(w: Waiter, reply: Buffer | null, masks: Int32Array | null, server: string, stale: CachedReply | undefined): void {
    this.arrived = w.arrived;
    this.started = w.started;
    this.lift = w.lift;
    reuseReplies(w.transport.copiesReply === true);
    try {
      const groups = this.state.groups;
      // A reload may have dropped the waiter's group while it waited: default decides then.
      const group = w.group < groups.length ? w.group : 0;
      if (reply === null || masks === null) {
        if (stale !== undefined) return this.fromCache(stale, true, w.msg, w.q, group, w.transport, w.address, w.port);
        this.stats.servfail++;
        return this.send(errorAnswer(w.msg, w.q, Rcode.SERVFAIL), w.transport, w.address, w.port, w.msg, w.q, group, 'allowed', -1, false, '');
      }
      const cloaked = blockedTarget(masks, groups[group].verdicts);
      if (cloaked !== PASS) this.block(w.msg, w.q, group, cloaked, w.transport, w.address, w.port);
      else this.send(relayAnswer(reply, w.msg, w.q), w.transport, w.address, w.port, w.msg, w.q, group, 'allowed', -1, false, server);
    } catch (err) {
      // A failure here concerns this client only.
      this.stats.errors++;
      this.log.error({ err, client: w.address, name: nameText(w.msg, 12, w.q.questionEnd - 4) }, 'answering a waiting client failed');
    } finally {
      reuseReplies(false);
    }
  }

  /** Sends one answer and tells the observers about it, filling the one scratch event (nothing allocated here). */
  private send(
    reply: Buffer,
    transport: Transport,
    address: string,
    port: number,
    msg: Uint8Array,
    q: Query | null,
    group: number,
    verdict: Verdict,
    list: number,
    cached: boolean,
    upstream: string,
  ): void {
    // Every path alike: an answer bigger than the client's (capped) UDP size becomes TC, so it asks again over TCP.
    if (transport.udp && q !== null && reply.length > q.udpSize) reply = truncatedAnswer(msg, q);
    transport.send(reply, address, port);
    this.replied = true;
    if (this.observers.length === 0) return;
    const e = this.event;
    const state = this.state;
    e.time = this.arrived;
    e.client = address;
    e.device = transport.device;
    e.group = group >= 0 ? (state.groups[group]?.name ?? '') : '';
    e.msg = msg;
    e.questionEnd = q ? q.questionEnd : 0;
    e.qtype = q ? q.qtype : 0;
    e.verdict = verdict;
    e.cached = cached;
    // An allowed answer whose block was lifted names the list it would have been blocked by, and what lifted it.
    const lift = verdict === 'allowed' ? this.lift : null;
    e.list = list >= 0 ? (state.matcher.lists[list]?.name ?? '') : lift !== null ? lift.list : '';
    e.exception = lift !== null ? lift.by : '';
    e.rcode = reply[3] & 0x0f;
    e.upstream = upstream;
    e.transport = transport.kind;
    e.latencyMs = performance.now() - this.started;
    this.observers.observe(e);
  }
}

/** Is this the question `aifence health` asks (any case, any type)? */
function isHealthProbe(msg: Uint8Array, q: Query): boolean {
  return q.questionEnd - 16 === HEALTH_PROBE.length && equalsIgnoreCase(msg, 12, HEALTH_PROBE, 0, HEALTH_PROBE.length);
}
