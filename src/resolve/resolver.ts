// The query path, in order: parse, access, policy, cache, in-flight
// sharing, upstream. Block answers and cache hits are answered
// synchronously from bytes; only misses wait for the network.

import type { Logger } from 'pino';
import type { Matcher } from '../match/types.js';
import { type ClientClassifier, REFUSED } from '../policy/clients.js';
import { PASS, type Policy } from '../policy/policy.js';
import { type BlockAnswers, errorAnswer, headerOnlyAnswer, truncatedAnswer } from '../wire/answers.js';
import { ParseResult, Query, Rcode, parseQuery, writeU16 } from '../wire/message.js';
import type { ReplyShape } from '../wire/records.js';
import { type AnswerCache, cacheKey } from './cache.js';
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
}

export class Resolver {
  readonly stats: ResolverStats = { queries: 0, blocked: 0, cacheHits: 0, forwarded: 0, shared: 0, servfail: 0, refused: 0, formerr: 0, dropped: 0, errors: 0 };
  private readonly q = new Query();
  private readonly inflight = new Map<string, Waiter[]>();

  constructor(
    public state: FilterState,
    private readonly cache: AnswerCache,
    private readonly upstream: UpstreamPool,
    private readonly log: Logger,
  ) {}

  /** Queries waiting on upstream now (graceful shutdown waits for this to reach 0). */
  get pending(): number {
    return this.inflight.size;
  }

  /** Answers `msg` now or later through `transport`; returns false when it is dropped unanswered. */
  handle(msg: Buffer, address: string, port: number, transport: Transport): boolean {
    this.stats.queries++;
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
      if (parsed === ParseResult.Ok) transport.send(errorAnswer(msg, q, Rcode.SERVFAIL), address, port);
    }
    return parsed !== ParseResult.Drop;
  }

  private reject(parsed: ParseResult, msg: Buffer, address: string, port: number, transport: Transport): void {
    if (parsed === ParseResult.Drop) {
      this.stats.dropped++;
    } else if (parsed === ParseResult.FormErr) {
      this.stats.formerr++;
      transport.send(headerOnlyAnswer(msg, Rcode.FORMERR), address, port);
    } else {
      transport.send(headerOnlyAnswer(msg, Rcode.NOTIMP), address, port);
    }
  }

  private resolve(msg: Buffer, q: Query, address: string, port: number, transport: Transport): void {
    const state = this.state;
    const group = state.clients.classify(address);
    if (group === REFUSED) {
      this.stats.refused++;
      return transport.send(errorAnswer(msg, q, Rcode.REFUSED), address, port);
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
      return transport.send(reply, address, port);
    }
    const waiter: Waiter = { msg, q: Object.assign(new Query(), q), transport, address, port, group };
    const waiting = this.inflight.get(key);
    if (waiting !== undefined) {
      this.stats.shared++;
      waiting.push(waiter);
      return;
    }
    this.inflight.set(key, [waiter]);
    this.stats.forwarded++;
    this.upstream.exchange(msg, q.questionEnd, !transport.udp, (reply, shape) => this.answered(key, reply, shape));
  }

  private block(msg: Buffer, q: Query, group: number, list: number, transport: Transport, address: string, port: number): void {
    this.stats.blocked++;
    const state = this.state;
    const answers = state.listAnswers[list] ?? state.policy.groups[group].answers;
    transport.send(answers.answer(msg, q, list), address, port);
  }

  private answered(key: string, reply: Buffer | null, shape: ReplyShape | null): void {
    const waiters = this.inflight.get(key) ?? [];
    this.inflight.delete(key);
    const state = this.state;
    const masks = reply !== null && shape !== null ? targetMasks(reply, shape.targets, state.matcher) : null;
    if (reply !== null && shape !== null) this.cache.store(key, reply, shape, masks!, state.matcher);
    for (const w of waiters) {
      try {
        if (reply === null) {
          this.stats.servfail++;
          w.transport.send(errorAnswer(w.msg, w.q, Rcode.SERVFAIL), w.address, w.port);
          continue;
        }
        // A reload may have dropped the waiter's group while it waited: default decides then.
        const group = state.policy.groups[w.group] ?? state.policy.groups[0];
        const cloaked = blockedTarget(masks!, group.verdicts);
        if (cloaked !== PASS) this.block(w.msg, w.q, state.policy.groups.indexOf(group), cloaked, w.transport, w.address, w.port);
        else w.transport.send(this.forClient(reply, w), w.address, w.port);
      } catch (err) {
        this.stats.errors++;
        this.log.error({ err, client: w.address }, 'answering a waiting client failed');
      }
    }
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
