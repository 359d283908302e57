// The rotating UDP socket pool, with real sockets against a real loopback
// server: sockets are shared and reused, their ports keep moving (by use and
// by age), a socket holds a bounded number of queries, and a reply that
// reaches the right socket with another query's ID or a question that is
// not the one sent is still dropped.

import { type RemoteInfo, type Socket, createSocket } from 'node:dgram';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UpstreamPool } from '../upstream.js';
import { MAX_IN_FLIGHT } from './udp.js';

interface Held {
  msg: Buffer;
  rinfo: RemoteInfo;
}

/** A loopback DNS server that answers each query with itself turned into a reply (QR set), or holds it when `hold` is set. */
class EchoServer {
  readonly received: Held[] = [];
  hold = false;
  private constructor(readonly socket: Socket) {}

  static async start(): Promise<EchoServer> {
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    const server = new EchoServer(socket);
    socket.on('message', (msg, rinfo) => {
      server.received.push({ msg, rinfo });
      if (!server.hold) server.reply(msg, rinfo.port);
    });
    return server;
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Sends `query` back as its own (empty) answer, from the server's address and port, to local port `port`. */
  reply(query: Buffer, port: number, edit: (reply: Buffer) => void = () => undefined): Promise<void> {
    const reply = Buffer.from(query);
    reply[2] |= 0x80;
    edit(reply);
    return new Promise((r) => this.socket.send(reply, port, '127.0.0.1', () => r()));
  }

  close(): void {
    this.socket.close();
  }
}

/** A question's wire bytes for `name`, type A, class IN. */
const question = (name: string) => Buffer.from([...name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]), 0, 0, 1, 0, 1]);

function ask(pool: UpstreamPool, name: string): Promise<Buffer | null> {
  return new Promise((resolve) => pool.exchange({ question: question(name), rd: true, cd: false, dnssecOk: false }, false, (reply) => resolve(reply)));
}

const until = async (what: () => boolean, ms = 5000) => {
  const end = performance.now() + ms;
  while (!what() && performance.now() < end) await new Promise((r) => setTimeout(r, 5));
};

let server: EchoServer;
let pool: UpstreamPool | undefined;
beforeEach(async () => {
  server = await EchoServer.start();
});
afterEach(() => {
  pool?.close();
  if (pool) expect(pool.openSockets.udp).toBe(0); // close() closes every socket of the pool
  pool = undefined;
  server.close();
});

const newPool = (options: { slots?: number; maxUses?: number; maxAgeMs?: number }, timeoutSeconds = 2) =>
  new UpstreamPool([{ host: '127.0.0.1', port: server.port, family: 4 }], timeoutSeconds, undefined, undefined, options);

describe('the rotating UDP socket pool', () => {
  it('reuses its sockets: 40 queries one after another leave from at most its 4 slots’ ports', async () => {
    pool = newPool({ slots: 4, maxUses: 1000, maxAgeMs: 60_000 });
    for (let i = 0; i < 40; i++) expect(await ask(pool, `reuse-${i}.example`)).not.toBeNull();
    const ports = new Set(server.received.map((r) => r.rinfo.port));
    expect(server.received).toHaveLength(40);
    expect(ports.size).toBeLessThanOrEqual(4); // a fresh socket per query would show ~40
    expect(pool.openSockets.udpOpened).toBeLessThanOrEqual(4);
    expect(pool.openSockets.udpWaiting).toBe(0);
  });

  it('retires a socket after maxUses queries: its slot gets a new socket on a new port', async () => {
    pool = newPool({ slots: 2, maxUses: 5, maxAgeMs: 60_000 });
    for (let i = 0; i < 60; i++) expect(await ask(pool, `uses-${i}.example`)).not.toBeNull();
    expect(pool.openSockets.udpOpened).toBeGreaterThanOrEqual(12); // 60 queries, at most 5 per socket
    expect(new Set(server.received.map((r) => r.rinfo.port)).size).toBeGreaterThanOrEqual(10);
    expect(pool.openSockets.udp).toBeLessThanOrEqual(2); // retired sockets closed once their query was done
  });

  it('retires sockets by age, with or without traffic: the ports in use now are not those of a while ago', async () => {
    pool = newPool({ slots: 8, maxUses: 1000, maxAgeMs: 150 });
    await Promise.all(Array.from({ length: 16 }, (_, i) => ask(pool!, `age-a-${i}.example`)));
    const before = new Set(pool.udpPorts(0));
    expect(before.size).toBeGreaterThan(0);
    // Idle sockets past their age are closed by the sweep: no descriptors held for nothing.
    await until(() => pool!.openSockets.udp === 0);
    expect(pool.openSockets.udp).toBe(0);
    await Promise.all(Array.from({ length: 16 }, (_, i) => ask(pool!, `age-b-${i}.example`)));
    const after = pool.udpPorts(0);
    expect(after.length).toBeGreaterThan(0);
    // Kernel-chosen from ~28k ports: the same number twice is possible, but not for most of them.
    expect(after.filter((p) => before.has(p)).length).toBeLessThanOrEqual(1);
  });

  it('keeps at most MAX_IN_FLIGHT queries on one socket; beyond it (one slot) a query is given up at once', async () => {
    server.hold = true;
    pool = newPool({ slots: 1 }, 1);
    const answers = Array.from({ length: MAX_IN_FLIGHT + 8 }, (_, i) => ask(pool!, `bound-${i}.example`));
    expect(pool.openSockets.udpWaiting).toBe(MAX_IN_FLIGHT);
    expect(pool.openSockets.udp).toBe(1);
    expect(pool.stats.overloaded).toBe(8);
    await until(() => server.received.length === MAX_IN_FLIGHT);
    // Distinct IDs on the one socket: a reply finds its query by ID.
    expect(new Set(server.received.map((r) => r.msg.readUInt16BE(0))).size).toBe(MAX_IN_FLIGHT);
    for (const r of server.received) await server.reply(r.msg, r.rinfo.port);
    const replies = await Promise.all(answers);
    expect(replies.filter((r) => r !== null)).toHaveLength(MAX_IN_FLIGHT);
    expect(pool.openSockets.udpWaiting).toBe(0);
  });

  it('drops a reply on the right socket with another query’s ID, an unknown ID or the question in another case, and takes the real ones', async () => {
    server.hold = true;
    pool = newPool({ slots: 1 }, 3);
    const first = ask(pool, 'first-query.example');
    const second = ask(pool, 'second-query.example');
    await until(() => server.received.length === 2);
    const [a, b] = server.received;
    expect(a.rinfo.port).toBe(b.rinfo.port); // both wait on the one socket: each one's ID is known there
    const idA = a.msg.readUInt16BE(0);
    const idB = b.msg.readUInt16BE(0);
    // A's question with B's ID: the ID finds B, whose question it is not.
    await server.reply(a.msg, a.rinfo.port, (r) => r.writeUInt16BE(idB, 0));
    // An ID no query on that socket holds.
    let stray = (idA + 1) & 0xffff;
    while (stray === idA || stray === idB) stray = (stray + 1) & 0xffff;
    await server.reply(a.msg, a.rinfo.port, (r) => r.writeUInt16BE(stray, 0));
    // A's ID and name, but not A's 0x20 case: what a forger who cannot see the query writes.
    await server.reply(a.msg, a.rinfo.port, (r) => {
      for (let i = 13; i < 13 + 'first'.length; i++) r[i] ^= 0x20; // letters only: a case flip
    });
    await until(() => pool!.stats.spoofed === 3);
    expect(pool.stats.spoofed).toBe(3);
    expect(pool.openSockets.udpWaiting).toBe(2); // both still waiting
    await server.reply(b.msg, b.rinfo.port);
    await server.reply(a.msg, a.rinfo.port);
    const [ra, rb] = await Promise.all([first, second]);
    expect(ra?.readUInt16BE(0)).toBe(idA);
    expect(rb?.readUInt16BE(0)).toBe(idB);
    expect(pool.stats.spoofed).toBe(3);
  });
});
