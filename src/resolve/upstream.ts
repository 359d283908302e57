// Forwarding to upstream resolvers. aifence writes its own query (the
// client's question, RD and CD, its own OPT with DO as the client asked and
// none of the client's EDNS options: a ministry's ECS subnets and cookies
// stay inside) with a fresh random ID, from a pool of UDP sockets on
// kernel-chosen random ports. A reply is accepted only from the server it was sent to, with the
// ID and question sent (spoofing defence); everything else is dropped and
// counted. TC replies are retried over TCP; timeouts fail over to the next
// server; a server that timed out is skipped until its back-off ends.

import { randomFillSync } from 'node:crypto';
import { type RemoteInfo, type Socket, createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { type HostPort, formatHostPort } from '../net/address.js';
import { equalsIgnoreCase, isResponse, isTruncated, readU16, writeU16 } from '../wire/message.js';
import { type ReplyShape, readReplyShape } from '../wire/records.js';

export interface UpstreamStats {
  /** Replies dropped: wrong source, unknown ID or a question that differs from the one sent. */
  spoofed: number;
  /** Replies dropped because their records do not parse. */
  malformed: number;
  timeouts: number;
  tcpRetries: number;
}

/** What the resolver asks upstream: the client's question and the flags that change the answer. */
export interface UpstreamQuestion {
  /** qname, qtype and qclass as wire bytes. */
  question: Uint8Array;
  rd: boolean;
  cd: boolean;
  dnssecOk: boolean;
}

/** The UDP size aifence advertises upstream (DNS Flag Day 2020: no fragmentation). */
export const UPSTREAM_UDP_SIZE = 1232;

/** Header + question + a bare OPT record: the query aifence sends for `q` (ID left 0). */
export function upstreamQuery(q: UpstreamQuestion): Buffer {
  const msg = Buffer.alloc(12 + q.question.length + 11);
  msg[2] = q.rd ? 0x01 : 0;
  msg[3] = q.cd ? 0x10 : 0;
  writeU16(msg, 4, 1);
  writeU16(msg, 10, 1);
  msg.set(q.question, 12);
  const opt = 12 + q.question.length;
  writeU16(msg, opt + 1, 41); // OPT, owned by the root
  writeU16(msg, opt + 3, UPSTREAM_UDP_SIZE);
  if (q.dnssecOk) msg[opt + 7] = 0x80;
  return msg;
}

/** What a finished exchange hands back: the reply and its shape, or null when every server failed in time. */
export type ExchangeDone = (reply: Buffer | null, shape: ReplyShape | null, server: string) => void;

interface Server {
  address: HostPort;
  index: number;
  bit: number;
  label: string;
  /** performance.now() until which the server is skipped after a timeout; 0 when healthy. */
  skipUntil: number;
  backoff: number;
  timeouts: number;
}

interface Exchange {
  /** The query with our ID; the question is compared against replies. */
  msg: Buffer;
  questionEnd: number;
  tcp: boolean;
  deadline: number;
  /** Bits of the servers tried in this round. */
  tried: number;
  done: ExchangeDone;
  finished: boolean;
  timer: NodeJS.Timeout | null;
  /** Every (socket, id) this exchange is waiting on, so that a late reply from an earlier server still counts. */
  keys: number[];
}

/** Sockets per upstream server, each on its own kernel-chosen random port. */
const SOCKETS_PER_SERVER = 4;
const MIN_ATTEMPT_MS = 200;
const BACKOFF_START_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
const MAX_TCP_REPLY = 65535;

/** Secure random 16-bit IDs, drawn from a refilled block so that each costs no syscall. */
class RandomIds {
  private readonly block = new Uint16Array(4096);
  private next = this.block.length;
  take(): number {
    if (this.next === this.block.length) {
      randomFillSync(this.block);
      this.next = 0;
    }
    return this.block[this.next++];
  }
}

export class UpstreamPool {
  readonly stats: UpstreamStats = { spoofed: 0, malformed: 0, timeouts: 0, tcpRetries: 0 };
  private readonly servers: Server[];
  private readonly sockets: Socket[] = [];
  /** Indices into `sockets`, per server index. */
  private readonly socketsByServer: number[][] = [];
  /** (socket index << 16 | id) -> the exchange and the server it was sent to. */
  private readonly waiting = new Map<number, { exchange: Exchange; server: Server }>();
  private readonly ids = new RandomIds();
  private readonly timeoutMs: number;

  constructor(servers: HostPort[], timeoutSeconds: number) {
    this.servers = servers.map((address, i) => ({ address, index: i, bit: 1 << i, label: formatHostPort(address), skipUntil: 0, backoff: BACKOFF_START_MS, timeouts: 0 }));
    this.timeoutMs = timeoutSeconds * 1000;
  }

  async start(): Promise<void> {
    // Connected sockets: the kernel drops datagrams from any other source,
    // and a send needs neither an address lookup nor a route lookup.
    for (const server of this.servers) {
      const pool: number[] = [];
      for (let i = 0; i < SOCKETS_PER_SERVER; i++) {
        const socket = createSocket(server.address.family === 6 ? 'udp6' : 'udp4');
        const index = this.sockets.length;
        socket.on('message', (msg, rinfo) => this.onReply(index, msg, rinfo));
        socket.on('error', () => undefined); // ICMP errors (port unreachable) surface here; the timeout handles them
        await new Promise<void>((resolve) => socket.bind(0, resolve));
        await new Promise<void>((resolve) => socket.connect(server.address.port, server.address.host, resolve));
        socket.unref();
        pool.push(index);
        this.sockets.push(socket);
      }
      this.socketsByServer.push(pool);
    }
  }

  close(): void {
    for (const socket of this.sockets) socket.close();
    this.sockets.length = 0;
    this.socketsByServer.length = 0;
    for (const { exchange } of this.waiting.values()) this.finish(exchange, null, null, '');
  }

  /** Timeouts per server, for metrics. */
  serverTimeouts(): { upstream: string; timeouts: number }[] {
    return this.servers.map((s) => ({ upstream: s.label, timeouts: s.timeouts }));
  }

  /** Is any server currently considered healthy? */
  get healthy(): boolean {
    const now = performance.now();
    return this.servers.some((s) => s.skipUntil <= now);
  }

  /**
   * Asks upstream for `q` and calls `done` once: with a validated reply, or
   * with null when no server answered usefully in time.
   */
  exchange(q: UpstreamQuestion, viaTcp: boolean, done: ExchangeDone): void {
    const msg = upstreamQuery(q);
    const exchange: Exchange = {
      msg,
      questionEnd: 12 + q.question.length,
      tcp: viaTcp,
      deadline: performance.now() + this.timeoutMs,
      tried: 0,
      done,
      finished: false,
      timer: null,
      keys: [],
    };
    this.attempt(exchange);
  }

  /** The first healthy server in config order that this exchange has not tried; skipped ones when nothing else is left. */
  private pickServer(exchange: Exchange): Server {
    const now = performance.now();
    let fallback: Server | undefined;
    for (const s of this.servers) {
      if (exchange.tried & s.bit) continue;
      if (s.skipUntil <= now) return s;
      fallback ??= s;
    }
    if (fallback) return fallback;
    exchange.tried = 0; // every server had its turn: go round again while time is left
    return this.pickServer(exchange);
  }

  private attempt(exchange: Exchange): void {
    const now = performance.now();
    const left = exchange.deadline - now;
    if (left <= 0) return this.finish(exchange, null, null, '');
    const server = this.pickServer(exchange);
    exchange.tried |= server.bit;
    // Split the budget so that every server gets a turn before the deadline.
    let turns = 1;
    for (const s of this.servers) if (!(exchange.tried & s.bit)) turns++;
    const slice = Math.min(left, Math.max(MIN_ATTEMPT_MS, left / turns));
    exchange.timer = setTimeout(() => this.onTimeout(exchange, server), slice);
    if (exchange.tcp) {
      this.viaTcp(exchange, server);
      return;
    }
    const pool = this.socketsByServer[server.index];
    const index = pool[(Math.random() * pool.length) | 0];
    let id = this.ids.take();
    while (this.waiting.has((index << 16) | id)) id = this.ids.take();
    const key = (index << 16) | id;
    writeU16(exchange.msg, 0, id);
    exchange.keys.push(key);
    this.waiting.set(key, { exchange, server });
    const socket = this.sockets[index];
    socket.send(exchange.msg);
  }

  private onTimeout(exchange: Exchange, server: Server): void {
    if (exchange.finished) return;
    this.stats.timeouts++;
    server.timeouts++;
    const now = performance.now();
    server.skipUntil = now + server.backoff;
    server.backoff = Math.min(server.backoff * 2, BACKOFF_MAX_MS);
    this.attempt(exchange);
  }

  private onReply(index: number, msg: Buffer, rinfo: RemoteInfo): void {
    if (msg.length < 12) {
      this.stats.malformed++;
      return;
    }
    const key = (index << 16) | readU16(msg, 0);
    const hit = this.waiting.get(key);
    if (
      hit === undefined ||
      rinfo.port !== hit.server.address.port ||
      rinfo.address !== hit.server.address.host ||
      !this.sameQuestion(hit.exchange, msg)
    ) {
      this.stats.spoofed++;
      return;
    }
    this.accept(hit.exchange, hit.server, msg);
  }

  private sameQuestion(exchange: Exchange, reply: Uint8Array): boolean {
    return (
      isResponse(reply) &&
      reply.length >= exchange.questionEnd &&
      readU16(reply, 4) === 1 &&
      equalsIgnoreCase(reply, 12, exchange.msg, 12, exchange.questionEnd - 12)
    );
  }

  private accept(exchange: Exchange, server: Server, reply: Buffer): void {
    if (exchange.finished) return;
    const shape = readReplyShape(reply, exchange.questionEnd);
    if (shape === null) {
      this.stats.malformed++;
      return;
    }
    server.skipUntil = 0;
    server.backoff = BACKOFF_START_MS;
    if (isTruncated(reply) && !exchange.tcp) {
      // The answer does not fit UDP: ask the same server over TCP within what is left of the budget.
      this.stats.tcpRetries++;
      exchange.tcp = true;
      this.viaTcp(exchange, server);
      return;
    }
    this.finish(exchange, reply, shape, server.label);
  }

  private viaTcp(exchange: Exchange, server: Server): void {
    const id = this.ids.take();
    const msg = Buffer.allocUnsafe(exchange.msg.length + 2);
    writeU16(msg, 0, exchange.msg.length);
    msg.set(exchange.msg, 2);
    writeU16(msg, 2, id);
    const socket = connect({ host: server.address.host, port: server.address.port });
    const chunks: Buffer[] = [];
    let received = 0;
    const stop = setTimeout(() => socket.destroy(), Math.max(0, exchange.deadline - performance.now()));
    socket.on('connect', () => socket.write(msg));
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received > MAX_TCP_REPLY + 2) return socket.destroy();
      if (received < 2) return;
      const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      const length = readU16(all, 0);
      if (received < length + 2) return;
      clearTimeout(stop);
      socket.destroy();
      const reply = all.subarray(2, 2 + length);
      if (reply.length < 12 || readU16(reply, 0) !== id || !this.sameQuestion(exchange, reply)) {
        this.stats.spoofed++;
        return;
      }
      this.accept(exchange, server, reply);
    });
    socket.on('error', () => undefined); // refused or reset: the attempt's timeout moves on
    socket.on('close', () => clearTimeout(stop));
  }

  private finish(exchange: Exchange, reply: Buffer | null, shape: ReplyShape | null, server: string): void {
    if (exchange.finished) return;
    exchange.finished = true;
    if (exchange.timer) clearTimeout(exchange.timer);
    for (const key of exchange.keys) this.waiting.delete(key);
    exchange.done(reply, shape, server);
  }
}
