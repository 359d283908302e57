// The query path, in order: parse, access, policy, cache, in-flight
// sharing, upstream. Block answers and cache hits are answered
// synchronously from bytes; only misses wait for the network.

import type { Logger } from 'pino';
import { QueryEvent, type QueryObserver, type Verdict } from '../observe/events.js';
import type { Matcher } from '../match/types.js';
import { type ClientClassifier, REFUSED } from '../policy/clients.js';
import { PASS, type Policy } from '../policy/policy.js';
import { type BlockAnswers, errorAnswer, headerOnlyAnswer, truncatedAnswer } from '../wire/answers.js';
import { ParseResult, Query, Rcode, parseQuery, writeU16 } from '../wire/message.js';
import type { ReplyShape } from '../wire/records.js';
import { type AnswerCache, cacheKey } from './cache.js';
import { Limit, type RateLimiter } from './ratelimit.js';
import { blockedTarget, targetMasks } from './targets.js';
import type { UpstreamPool } from './upstream.js';

/** Where an answer goes: a UDP socket (to address:port) or one TCP connection. */
export interface Transport {
  readonly udp: boolean;
  send(reply: Buffer, address: string, port: number): void;
}

/** Everything a reload rebuilds, swapped as one reference so a query sees either the old state or the new. */
export interface FilterState {
  matcher: Matcher;
  clients: ClientClassifier;
  policy: Policy;
  /** Answers that a list imposes whatever the group's mode (the DoH canaries need NXDOMAIN / NODATA), by list id. */
  listAnswers: readonly (BlockAnswers | undefined)[];
}

export interface ResolverStats {
  queries: number;
  blocked: number;
  cacheHits: number;
  forwarded: number;
  shared: number;
  servfail: number;
  refused: number;
  formerr: number;
  dropped: number;
  errors: number;
}

/** A client waiting for an upstream answer. */
interface Waiter {
  msg: Buffer;
  q: Query;
  transport: Transport;
  address: string;
  port: number;
  group: number;
  arrived: number;
  started: number;
}

export class Resolver {
  readonly stats: ResolverStats = { queries: 0, blocked: 0, cacheHits: 0, forwarded: 0, shared: 0, servfail: 0, refused: 0, formerr: 0, dropped: 0, errors: 0 };
  private readonly q = new Query();
  private readonly inflight = new Map<string, Waiter[]>();
  private readonly event = new QueryEvent();
  /** Query log and metrics; each sees every answered query. */
  readonly observers: QueryObserver[] = [];
  /** Per-client UDP rate limiting; set by the daemon. */
  rateLimit: RateLimiter | null = null;
  // When the query being handled arrived (wall clock for logs, monotonic for latency).
  private arrived = 0;
  private started = 0;

  constructor(
    public state: FilterState,
    /** Swapped on reload when cache limits change. */
    public cache: AnswerCache,
    /** Swapped on reload when upstream servers change; exchanges in flight finish on the old pool. */
    public upstream: UpstreamPool,
    private readonly log: Logger,
  ) {}

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
    let parsed = ParseResult.Drop;
    try {
      parsed = parseQuery(msg, q);
      if (parsed === ParseResult.Ok) this.resolve(msg, q, address, port, transport);
      else this.reject(parsed, msg, address, port, transport);
    } catch (err) {
      // One bad query must not take the office's DNS down: answer it SERVFAIL and carry on.
      this.stats.errors++;
      this.log.error({ err, client: address }, 'query handling failed');
      if (parsed === ParseResult.Ok) this.send(errorAnswer(msg, q, Rcode.SERVFAIL), transport, address, port, msg, q, -1, 'allowed', -1, false, '');
    }
    return parsed !== ParseResult.Drop;
  }

  private reject(parsed: ParseResult, msg: Buffer, address: string, port: number, transport: Transport): void {
    if (parsed === ParseResult.Drop) {
      this.stats.dropped++;
    } else if (parsed === ParseResult.FormErr) {
      this.stats.formerr++;
      this.send(headerOnlyAnswer(msg, Rcode.FORMERR), transport, address, port, msg, null, -1, 'invalid', -1, false, '');
    } else {
      this.send(headerOnlyAnswer(msg, Rcode.NOTIMP), transport, address, port, msg, null, -1, 'invalid', -1, false, '');
    }
  }

  private resolve(msg: Buffer, q: Query, address: string, port: number, transport: Transport): void {
    const state = this.state;
    const group = state.clients.classify(address);
    if (group === REFUSED) {
      this.stats.refused++;
      return this.send(errorAnswer(msg, q, Rcode.REFUSED), transport, address, port, msg, q, -1, 'refused', -1, false, '');
    }
    const verdicts = state.policy.groups[group].verdicts;
    const mask = state.matcher.matchWire(msg, 12);
    if (mask > 0 && verdicts[mask] !== PASS) return this.block(msg, q, group, verdicts[mask], transport, address, port);
    const key = cacheKey(msg, q);
    const hit = this.cache.lookup(key, state.matcher);
    if (hit !== undefined) {
      const cloaked = blockedTarget(hit.targetMasks, verdicts);
      if (cloaked !== PASS) return this.block(msg, q, group, cloaked, transport, address, port);
      this.stats.cacheHits++;
      const reply = transport.udp && hit.msg.length > q.udpSize ? truncatedAnswer(msg, q) : this.cache.answer(hit, msg, q);
      return this.send(reply, transport, address, port, msg, q, group, 'allowed', -1, true, '');
    }
    const waiter: Waiter = { msg, q: Object.assign(new Query(), q), transport, address, port, group, arrived: this.arrived, started: this.started };
    const waiting = this.inflight.get(key);
    if (waiting !== undefined) {
      this.stats.shared++;
      waiting.push(waiter);
      return;
    }
    this.inflight.set(key, [waiter]);
    this.stats.forwarded++;
    this.upstream.exchange(msg, q.questionEnd, !transport.udp, (reply, shape, server) => this.answered(key, reply, shape, server));
  }

  private block(msg: Buffer, q: Query, group: number, list: number, transport: Transport, address: string, port: number): void {
    this.stats.blocked++;
    const state = this.state;
    const answers = state.listAnswers[list] ?? state.policy.groups[group].answers;
    this.send(answers.answer(msg, q, list), transport, address, port, msg, q, group, 'blocked', list, false, '');
  }

  private answered(key: string, reply: Buffer | null, shape: ReplyShape | null, server: string): void {
    const waiters = this.inflight.get(key) ?? [];
    this.inflight.delete(key);
    let masks: Int32Array | null = null;
    if (reply !== null && shape !== null) {
      masks = targetMasks(reply, shape.targets, this.state.matcher);
      this.cache.store(key, reply, shape, masks, this.state.matcher);
    }
    for (const w of waiters) {
      this.arrived = w.arrived;
      this.started = w.started;
      try {
        this.answerWaiter(w, reply, masks, server);
      } catch (err) {
        // A failure here concerns this client only.
        this.stats.errors++;
        this.log.error({ err, client: w.address }, 'answering a waiting client failed');
      }
    }
  }

  /** SERVFAIL when no upstream answered; else the reply, unless one of its targets is blocked for this client's group. */
  private answerWaiter(w: Waiter, reply: Buffer | null, masks: Int32Array | null, server: string): void {
    if (reply === null || masks === null) {
      this.stats.servfail++;
      return this.send(errorAnswer(w.msg, w.q, Rcode.SERVFAIL), w.transport, w.address, w.port, w.msg, w.q, w.group, 'allowed', -1, false, '');
    }
    const groups = this.state.policy.groups;
    // A reload may have dropped the waiter's group while it waited: default decides then.
    const group = w.group < groups.length ? w.group : 0;
    const cloaked = blockedTarget(masks, groups[group].verdicts);
    if (cloaked !== PASS) this.block(w.msg, w.q, group, cloaked, w.transport, w.address, w.port);
    else this.send(this.forClient(reply, w), w.transport, w.address, w.port, w.msg, w.q, group, 'allowed', -1, false, server);
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
    transport.send(reply, address, port);
    if (this.observers.length === 0) return;
    const e = this.event;
    const state = this.state;
    e.time = this.arrived;
    e.client = address;
    e.group = group >= 0 ? (state.policy.groups[group]?.name ?? '') : '';
    e.msg = msg;
    e.questionEnd = q ? q.questionEnd : 0;
    e.qtype = q ? q.qtype : 0;
    e.verdict = verdict;
    e.cached = cached;
    e.list = list >= 0 ? (state.matcher.lists[list]?.name ?? '') : '';
    e.rcode = reply[3] & 0x0f;
    e.upstream = upstream;
    e.latencyMs = performance.now() - this.started;
    for (const o of this.observers) o.observe(e);
  }

  /** The upstream reply with this client's ID and question bytes (0x20 case), or TC when it is too big for the client's UDP. */
  private forClient(reply: Buffer, w: Waiter): Buffer {
    if (w.transport.udp && reply.length > w.q.udpSize) return truncatedAnswer(w.msg, w.q);
    const out = Buffer.allocUnsafe(reply.length);
    out.set(reply, 0);
    writeU16(out, 0, w.q.id);
    out.set(w.msg.subarray(12, w.q.questionEnd), 12);
    return out;
  }
}
