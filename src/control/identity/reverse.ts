// PTR names for the addresses no lease or static name covers, asked of one
// DNS server (`identity.reverse`, the one holding the office's reverse
// zones) and cached with a bound. Never on a query's path: a name not yet
// known is '' for the entry being written, and the question goes out in the
// background for the next one. Bounded everywhere: entries cached, questions
// in flight, how long each may wait; replies must come from the server, to
// our id and question, and are read with the wire reader's bounds.

import { type Socket, createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import type { HostPort } from '../../net/address.js';
import type { Logger } from '../../shared/logger.js';
import { ptrQuery, readPtrAnswer } from '../../wire/ptr.js';

export interface ReverseOptions {
  /** Addresses whose answer (a name, or none) is kept. */
  maxEntries?: number;
  /** Questions waiting for the server at once; beyond it a miss asks later. */
  maxInFlight?: number;
  timeoutMs?: number;
  /** Bounds on how long an answer is kept, whatever its TTL says (seconds). */
  minTtl?: number;
  maxTtl?: number;
  /** How long "no name" (NXDOMAIN, no PTR, no answer in time) is kept (seconds). */
  negativeTtl?: number;
}

interface Entry {
  name: string;
  /** Epoch ms after which it is asked again. */
  expires: number;
}

interface Question {
  address: string;
  query: Buffer;
  timer: NodeJS.Timeout;
}

export class ReverseNames {
  private readonly cache = new Map<string, Entry>();
  private readonly inFlight = new Map<number, Question>();
  /** Addresses being asked, so one address is one question. */
  private readonly asking = new Set<string>();
  private socket: Socket | null = null;
  private readonly maxEntries: number;
  private readonly maxInFlight: number;
  private readonly timeoutMs: number;
  private readonly minTtl: number;
  private readonly maxTtl: number;
  private readonly negativeTtl: number;
  private lastWarn = 0;
  /** Questions sent, answers read, timeouts, replies ignored (tests and logs). */
  readonly counts = { asked: 0, answered: 0, timeouts: 0, ignored: 0 };

  constructor(
    private readonly server: HostPort,
    private readonly log: Logger,
    options: ReverseOptions = {},
    private readonly clock: () => number = Date.now,
  ) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.maxInFlight = options.maxInFlight ?? 32;
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.minTtl = options.minTtl ?? 60;
    this.maxTtl = options.maxTtl ?? 3600;
    this.negativeTtl = options.negativeTtl ?? 300;
  }

  /** Entries cached now. */
  get size(): number {
    return this.cache.size;
  }

  /** The name known for `address` ('' when none is, yet); asks the server in the background when unknown or stale. */
  nameOf(address: string): string {
    const hit = this.cache.get(address);
    if (hit !== undefined && hit.expires > this.clock()) return hit.name;
    this.ask(address);
    return hit?.name ?? '';
  }

  close(): void {
    for (const q of this.inFlight.values()) clearTimeout(q.timer);
    this.inFlight.clear();
    this.asking.clear();
    this.socket?.close();
    this.socket = null;
  }

  private ask(address: string): void {
    if (this.asking.has(address) || this.inFlight.size >= this.maxInFlight) return;
    let id = randomInt(65536);
    for (let tries = 0; this.inFlight.has(id) && tries < 8; tries++) id = randomInt(65536);
    if (this.inFlight.has(id)) return;
    const query = ptrQuery(id, address);
    if (query === null) return;
    const socket = this.open();
    const timer = setTimeout(() => {
      if (this.inFlight.get(id)?.query !== query) return;
      this.inFlight.delete(id);
      this.asking.delete(address);
      this.counts.timeouts++;
      this.store(address, '', this.negativeTtl);
      this.warn(`no answer from ${this.server.host}:${this.server.port} within ${this.timeoutMs} ms`);
    }, this.timeoutMs);
    timer.unref();
    this.inFlight.set(id, { address, query, timer });
    this.asking.add(address);
    this.counts.asked++;
    socket.send(query, this.server.port, this.server.host, (err) => {
      if (err) this.warn(err.message);
    });
  }

  private open(): Socket {
    if (this.socket !== null) return this.socket;
    const socket = createSocket(this.server.family === 6 ? 'udp6' : 'udp4');
    socket.on('message', (reply, from) => this.reply(reply, from.address, from.port));
    socket.on('error', (err) => this.warn(err.message));
    socket.unref();
    this.socket = socket;
    return socket;
  }

  private reply(reply: Buffer, address: string, port: number): void {
    if (address !== this.server.host || port !== this.server.port || reply.length < 12) {
      this.counts.ignored++;
      return;
    }
    const question = this.inFlight.get(reply.readUInt16BE(0));
    const answer = question === undefined ? null : readPtrAnswer(reply, question.query);
    if (question === undefined || answer === null) {
      this.counts.ignored++;
      return;
    }
    clearTimeout(question.timer);
    this.inFlight.delete(reply.readUInt16BE(0));
    this.asking.delete(question.address);
    this.counts.answered++;
    const ttl = answer.name === '' ? Math.min(Math.max(answer.ttl, this.minTtl), this.negativeTtl) : Math.min(Math.max(answer.ttl, this.minTtl), this.maxTtl);
    this.store(question.address, answer.name, ttl);
  }

  /** Keeps the answer; at the bound the oldest entry makes room (a Map keeps insertion order). */
  private store(address: string, name: string, ttl: number): void {
    this.cache.delete(address);
    if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(address, { name, expires: this.clock() + ttl * 1000 });
  }

  private warn(why: string): void {
    const now = Date.now();
    if (now - this.lastWarn < 60_000) return;
    this.lastWarn = now;
    this.log.warn({ server: `${this.server.host}:${this.server.port}`, err: why }, 'identity.reverse: PTR lookups failing; clients stay unnamed meanwhile (at most one line a minute)');
  }
}
