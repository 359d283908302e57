// Forwarding to upstream resolvers. aifence writes its own query (the
// client's question, RD and CD, its own OPT with DO as the client asked and
// none of the client's EDNS options: a ministry's ECS subnets and cookies
// stay inside). Each attempt goes out with a fresh random ID and a random
// 0x20 case on the question, over UDP from a random one of a pool of
// sockets on random ports that keep moving (upstream/udp.ts), or over a
// reused, pipelined TCP connection. A reply counts only when it comes from
// the server asked, with that ID and that question byte for byte, and its
// records parse (see upstream/judge.ts); anything else is dropped and counted.
//
// Failing over: a timeout, a malformed reply or a failure rcode (SERVFAIL,
// REFUSED, FORMERR, NOTIMP) moves the query to the next server; TC asks the
// same server over TCP, and so does a malformed UDP reply from the last
// server left (once: a malformed reply is never used); when every server
// failed, or the time is up, the resolver gets null. A server that timed out or refused is skipped until its
// back-off ends.

import { performance } from 'node:perf_hooks';
import type { UpstreamStats } from '../../shared/plane-stats.js';
import type { UpstreamAddress, UpstreamTls } from '../../shared/serving-config.js';
import { Rcode } from '../../wire/message.js';
import type { ReplyShape } from '../../wire/records.js';
import { Verdict, judgeReply } from './upstream/judge.js';
import { type QuestionFlags, RandomBytes, type UpstreamQuestion, attemptQuery, upstreamQuery, upstreamQueryFor, withoutEdns } from './upstream/query.js';
import { UpstreamServer, pickServer } from './upstream/servers.js';
import { type Connection, TcpConnections, type TcpWaiter } from './upstream/tcp.js';
import { type PooledSocket, type UdpPoolOptions, UdpPorts, type UdpWaiter } from './upstream/udp.js';
import { DohSessions } from './upstream/doh.js';
import { padQuery } from './upstream/padding.js';
import { TlsDialer } from './upstream/tls.js';

export { UPSTREAM_UDP_SIZE, type UpstreamQuestion, upstreamQuery } from './upstream/query.js';

/**
 * What a finished exchange hands back: the reply and its shape, or null when
 * every server failed in time; and the `key` it was started with, so that
 * one function bound once can serve every exchange (no closure per miss).
 */
export type ExchangeDone = (reply: Buffer | null, shape: ReplyShape | null, server: string, key: string) => void;

interface Exchange {
  /** The query as written for this question (ID 0 until the first attempt takes it as its own); later attempts copy it. */
  query: Buffer;
  /** The first attempt sent `query` itself (saving a copy): later ones must copy it. */
  queryTaken: boolean;
  key: string;
  questionEnd: number;
  tcp: boolean;
  deadline: number;
  /** Bits of the servers tried in this round, and of those that failed it outright (not to be asked again). */
  tried: number;
  failed: number;
  done: ExchangeDone;
  finished: boolean;
  timer: NodeJS.Timeout | null;
  /** Attempts still listening, so that a late reply from an earlier server still counts. */
  attempts: Attempt[];
  /** The newest attempt, the one the timer runs for: only its failure moves the exchange on at once. */
  current: Attempt | null;
  /** A query lost with a reused TCP connection is sent once more on a fresh one before the server counts as failed. */
  tcpResent: boolean;
  /** A malformed reply from the last server left was answered by asking it once more (over TCP when it came over UDP). */
  malformedRetried: boolean;
  /** The pool's list of exchanges in flight (for close()): links instead of a Set, no hashing per miss. */
  newer: Exchange | null;
  older: Exchange | null;
}

/** One query sent to one server for an exchange. A class, so that the TCP callback is a method and not a closure per attempt. */
class Attempt implements TcpWaiter, UdpWaiter {
  /** The pooled UDP socket it waits on. */
  udp: PooledSocket | null = null;
  /** A TCP or DoT connection, or a DoH session, that holds this attempt. */
  conn: Pick<Connection, 'forget'> | null = null;

  constructor(
    readonly pool: UpstreamPool,
    readonly exchange: Exchange,
    readonly server: UpstreamServer,
    public sent: Buffer,
  ) {}

  settle(reply: Buffer | null, reused: boolean): void {
    this.pool.onTcpReply(this, reply, reused);
  }
}

const NO_TLS: UpstreamTls = { ca: null, caFile: null, pins: [] };

const MIN_ATTEMPT_MS = 200;

export class UpstreamPool {
  readonly stats: UpstreamStats = { spoofed: 0, malformed: 0, timeouts: 0, tcpRetries: 0, failed: 0, overloaded: 0, tcpConnections: 0, dohConnections: 0 };
  private readonly servers: UpstreamServer[];
  private readonly random = new RandomBytes();
  private readonly udp: UdpPorts;
  private readonly tcp = new TcpConnections(this.random, () => this.stats.spoofed++);
  private readonly doh = new DohSessions();
  /** Exchanges in flight, newest first. */
  private exchanges: Exchange | null = null;
  private readonly timeoutMs: number;

  /**
   * `tls` verifies DoT and DoH servers; `onError` hears why a connection to
   * one failed (certificate, refused, reset), for the log. `udp` changes the
   * UDP socket pool's defaults (tests).
   */
  constructor(
    servers: UpstreamAddress[],
    timeoutSeconds: number,
    tls: UpstreamTls = NO_TLS,
    onError: (message: string) => void = () => undefined,
    udp: UdpPoolOptions = {},
  ) {
    this.udp = new UdpPorts(this.random, (attempt, reply) => this.onReply(attempt as Attempt, reply), () => this.stats.spoofed++, udp);
    this.servers = servers.map((address, i) => {
      const server = new UpstreamServer(address, i);
      if (address.encrypted) server.dialer = new TlsDialer(address, tls, server.label, onError);
      return server;
    });
    this.timeoutMs = timeoutSeconds * 1000;
  }

  /** TLS handshakes with encrypted servers, full and resumed (RFC 5077 / 8446 tickets). */
  get tlsHandshakes(): { full: number; resumed: number } {
    let full = 0;
    let resumed = 0;
    for (const s of this.servers) {
      full += s.dialer?.handshakes ?? 0;
      resumed += s.dialer?.resumed ?? 0;
    }
    return { full, resumed };
  }

  /** Nothing to set up: sockets are opened when queries need them. Kept so that callers need not know. */
  async start(): Promise<void> {}

  close(): void {
    while (this.exchanges !== null) this.finish(this.exchanges, null, null, '');
    this.udp.close();
    this.tcp.close();
    this.doh.close();
  }

  /** Timeouts per server, for metrics. */
  serverTimeouts(): { upstream: string; timeouts: number }[] {
    return this.servers.map((s) => ({ upstream: s.label, timeouts: s.timeouts }));
  }

  /** Is any server currently considered healthy? */
  get healthy(): boolean {
    return this.servers.some((s) => s.healthy);
  }

  /**
   * UDP sockets and TCP connections open now, UDP queries waiting on a
   * socket, and UDP sockets opened so far (tests watch these for leaks and reuse).
   */
  get openSockets(): { udp: number; tcp: number; udpWaiting: number; udpOpened: number } {
    return { udp: this.udp.open, tcp: this.tcp.openConnections + this.doh.openConnections, udpWaiting: this.udp.waiting, udpOpened: this.udp.opened };
  }

  /** The source ports `server` (an index into the servers) may get a query from now: the pool's open sockets. */
  udpPorts(server: number): number[] {
    return this.udp.ports(this.servers[server]);
  }

  /**
   * Asks upstream for `q` and calls `done` once: with a validated reply, or
   * with null when no server answered usefully in time; `key` is handed back.
   */
  exchange(q: UpstreamQuestion, viaTcp: boolean, done: ExchangeDone, key = ''): void {
    this.begin(upstreamQuery(q), 12 + q.question.length, viaTcp, done, key);
  }

  /** The same for the question of client query `msg`, parsed into `q` (a Query): read in place, nothing built to pass it. */
  exchangeFor(msg: Uint8Array, q: QuestionFlags, viaTcp: boolean, done: ExchangeDone, key: string): void {
    this.begin(upstreamQueryFor(msg, q), q.questionEnd, viaTcp, done, key);
  }

  private begin(query: Buffer, questionEnd: number, viaTcp: boolean, done: ExchangeDone, key: string): void {
    const now = performance.now();
    const exchange: Exchange = {
      query,
      queryTaken: false,
      key,
      questionEnd,
      tcp: viaTcp,
      deadline: now + this.timeoutMs,
      tried: 0,
      failed: 0,
      done,
      finished: false,
      timer: null,
      attempts: [],
      current: null,
      tcpResent: false,
      malformedRetried: false,
      newer: null,
      older: this.exchanges,
    };
    if (this.exchanges !== null) this.exchanges.newer = exchange;
    this.exchanges = exchange;
    this.next(exchange, now);
  }

  /** Sends the exchange to the next server, or ends it when no time or no server is left. */
  private next(exchange: Exchange, now = performance.now()): void {
    if (exchange.finished) return;
    if (exchange.timer) clearTimeout(exchange.timer);
    const left = exchange.deadline - now;
    const server = left > 0 ? pickServer(this.servers, exchange) : null;
    if (server === null) return this.finish(exchange, null, null, '');
    exchange.tried |= server.bit;
    // Split the budget so that every server gets a turn before the deadline.
    let turns = 1;
    for (const s of this.servers) if (!((exchange.tried | exchange.failed) & s.bit)) turns++;
    const slice = Math.min(left, Math.max(MIN_ATTEMPT_MS, left / turns));
    exchange.timer = setTimeout(() => this.onTimeout(exchange, server), slice);
    this.send(exchange, server, false);
  }

  private send(exchange: Exchange, server: UpstreamServer, freshTcp: boolean): void {
    const attempt = new Attempt(this, exchange, server, attemptQuery(exchange.query, this.random.u16(), this.random, !exchange.queryTaken));
    exchange.queryTaken = true;
    const encrypted = server.address.encrypted?.protocol;
    // Encrypted servers get padded queries (RFC 8467) and are only ever reached over their own protocol.
    if (encrypted) attempt.sent = padQuery(attempt.sent);
    if (encrypted === 'doh') {
      const opened = this.doh.opened;
      attempt.conn = this.doh.send(server, server.dialer!, attempt, freshTcp);
      this.stats.dohConnections += this.doh.opened - opened;
    } else if (exchange.tcp || encrypted === 'dot') {
      const opened = this.tcp.opened;
      attempt.conn = this.tcp.send(server, attempt, freshTcp);
      this.stats.tcpConnections += this.tcp.opened - opened;
    } else if (!this.udp.send(server, attempt)) {
      attempt.udp = null;
    }
    if (attempt.udp === null && attempt.conn === null) {
      // No socket with room or TCP slot free: this process is overloaded; waiting would only add to it.
      this.stats.overloaded++;
      return this.finish(exchange, null, null, '');
    }
    exchange.attempts.push(attempt);
    exchange.current = attempt;
  }

  private onTimeout(exchange: Exchange, server: UpstreamServer): void {
    if (exchange.finished) return;
    exchange.timer = null;
    this.stats.timeouts++;
    server.timeouts++;
    server.setBack();
    this.next(exchange);
  }

  /** A TCP, DoT or DoH attempt's reply, or null when its connection went first. */
  onTcpReply(attempt: Attempt, reply: Buffer | null, reused: boolean): void {
    const { exchange } = attempt;
    if (exchange.finished) return;
    if (reply !== null) return this.onReply(attempt, reply);
    // The connection went before the answer came. A reused one may just have been closed
    // as idle by the server (RFC 7766 §6.2.3 allows it): send once more on a fresh one.
    if (reused && !exchange.tcpResent && attempt === exchange.current) {
      this.drop(attempt);
      exchange.tcpResent = true;
      this.send(exchange, attempt.server, true);
    } else {
      this.failed(attempt);
    }
  }

  private onReply(attempt: Attempt, reply: Buffer): void {
    const { exchange, server } = attempt;
    if (exchange.finished) return;
    const judged = judgeReply(attempt.sent, exchange.questionEnd, reply);
    switch (judged.verdict) {
      case Verdict.Spoofed:
        this.stats.spoofed++;
        return;
      case Verdict.Malformed:
        this.stats.malformed++;
        if (attempt === exchange.current && !exchange.malformedRetried && !this.othersLeft(exchange, server)) {
          // The last server left: a UDP reply can be broken on the way (or by a forger who got ID and question
          // right) where TCP cannot, and a server may fail once. Ask it once more before SERVFAIL.
          exchange.malformedRetried = true;
          this.drop(attempt);
          const overUdp = attempt.conn === null;
          if (overUdp) exchange.tcp = true;
          return this.send(exchange, server, !overUdp);
        }
        return this.failed(attempt);
      case Verdict.Failed:
        this.stats.failed++;
        if (judged.rcode === Rcode.REFUSED || judged.rcode === Rcode.NOTIMP) server.setBack(); // it will not serve us: ask others first for a while
        if (judged.rcode === Rcode.FORMERR && readEdns(exchange.query) && attempt === exchange.current) {
          // Perhaps it does not speak EDNS (RFC 6891 §7): ask it again without OPT before giving up on it.
          exchange.query = withoutEdns(exchange.query);
          exchange.queryTaken = false;
          this.drop(attempt);
          exchange.tried &= ~server.bit;
          return this.next(exchange);
        }
        return this.failed(attempt);
      case Verdict.Truncated:
        server.answered();
        if (attempt.conn !== null) {
          this.stats.malformed++; // TC over TCP means nothing sensible
          return this.failed(attempt);
        }
        // The answer does not fit UDP: ask the same server over TCP within what is left of the budget.
        this.stats.tcpRetries++;
        exchange.tcp = true;
        return this.send(exchange, server, false);
      case Verdict.Answer:
        server.answered();
        return this.finish(exchange, reply, judged.shape, server.label);
    }
  }

  /** Is any server but `server` still able to answer this exchange (it has not failed it outright)? */
  private othersLeft(exchange: Exchange, server: UpstreamServer): boolean {
    for (const s of this.servers) if (s !== server && !(exchange.failed & s.bit)) return true;
    return false;
  }

  /**
   * `attempt`'s server failed this exchange outright: it is not asked again
   * for it. When that was the attempt the exchange waits on, the next server
   * is asked now; a late failure of an earlier one leaves the newer attempt be.
   */
  private failed(attempt: Attempt): void {
    const { exchange, server } = attempt;
    exchange.failed |= server.bit;
    this.drop(attempt);
    if (attempt === exchange.current) this.next(exchange);
  }

  /** Stops listening for one attempt. */
  private drop(attempt: Attempt): void {
    const attempts = attempt.exchange.attempts;
    const i = attempts.indexOf(attempt);
    if (i >= 0) attempts.splice(i, 1);
    this.release(attempt);
  }

  private release(attempt: Attempt): void {
    if (attempt.udp !== null) this.udp.forget(attempt);
    attempt.conn?.forget(attempt);
    attempt.conn = null;
  }

  private finish(exchange: Exchange, reply: Buffer | null, shape: ReplyShape | null, server: string): void {
    if (exchange.finished) return;
    exchange.finished = true;
    if (exchange.timer) clearTimeout(exchange.timer);
    const attempts = exchange.attempts;
    for (let i = 0; i < attempts.length; i++) this.release(attempts[i]);
    exchange.attempts.length = 0;
    exchange.current = null;
    if (exchange.newer !== null) exchange.newer.older = exchange.older;
    else this.exchanges = exchange.older;
    if (exchange.older !== null) exchange.older.newer = exchange.newer;
    exchange.newer = exchange.older = null;
    exchange.done(reply, shape, server, exchange.key);
  }
}

/** Does the query carry an OPT record (ARCOUNT 1)? */
const readEdns = (query: Buffer): boolean => query[11] === 1;
