// TCP clients that misbehave (pipeline without end, never read, trickle
// bytes, hoard connections, half-close) cost bounded resources and are cut
// off by their deadlines, while other clients keep being answered.

import { type Socket, connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TYPES, encodeQuery, query } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

let upstream: TestUpstream;
let d: TestDaemon | null = null;
const clients: Socket[] = [];

beforeAll(async () => {
  upstream = await TestUpstream.start();
});
afterAll(() => upstream.close());
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  upstream.behave = () => ({ kind: 'answer' });
  await d?.stop();
  d = null;
});

async function daemon(tcp: string, lists = ''): Promise<TestDaemon> {
  d = await startDaemon(`upstream: { servers: [${upstream.address}], timeout: 2s }\ntcp: ${tcp}\n${lists}`, [], {
    files: { 'blocked.txt': 'blocked.test\n' },
  });
  return d;
}

function frame(msg: Buffer): Buffer {
  const out = Buffer.alloc(msg.length + 2);
  out.writeUInt16BE(msg.length, 0);
  msg.copy(out, 2);
  return out;
}

interface Client {
  sock: Socket;
  /** Replies read so far, by ID. */
  ids: number[];
  /** Resolves when the connection is gone, with how it went. */
  closed: Promise<{ at: number; error?: string }>;
  isClosed(): boolean;
}

/** A raw TCP client that collects reply IDs; `read: false` reads nothing until resumed (its receive buffer fills). */
function open(port: number, options: { from?: string; read?: boolean; halfOpen?: boolean } = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port, localAddress: options.from, allowHalfOpen: options.halfOpen ?? false });
    clients.push(sock);
    const ids: number[] = [];
    let buf = Buffer.alloc(0);
    let gone = false;
    let error: string | undefined;
    const closed = new Promise<{ at: number; error?: string }>((r) => sock.on('close', () => ((gone = true), r({ at: performance.now(), error }))));
    sock.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        ids.push(buf.readUInt16BE(2));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
    });
    if (options.read === false) sock.pause();
    sock.once('connect', () => resolve({ sock, ids, closed, isClosed: () => gone }));
    sock.once('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!what()) {
    if (performance.now() > end) return false;
    await sleep(20);
  }
  return true;
}

describe('TCP pipelining', () => {
  it('answers 100 pipelined queries (blocked, cached and forwarded) on one connection, each once', async () => {
    const { port } = await daemon('{}', 'lists:\n  local: { source: blocked.txt }\n');
    upstream.behave = () => ({ kind: 'delay', ms: 50 });
    await query(port, 'cached.example', TYPES.A, { tcp: true });
    const c = await open(port);
    const names = Array.from({ length: 100 }, (_, i) => (i % 3 === 0 ? `x${i}.blocked.test` : i % 3 === 1 ? 'cached.example' : `miss${i}.pipelined.example`));
    c.sock.write(Buffer.concat(names.map((n, i) => frame(encodeQuery(n, TYPES.A, { id: i + 1 })))));
    expect(await until(() => c.ids.length >= 100, 5000)).toBe(true);
    expect([...c.ids].sort((a, b) => a - b)).toEqual(names.map((_, i) => i + 1));
    expect(c.isClosed()).toBe(false);
  });

  it('reassembles queries that arrive in pieces, length prefixes split included', async () => {
    const { port } = await daemon('{}', 'lists:\n  local: { source: blocked.txt }\n');
    const c = await open(port);
    c.sock.setNoDelay(true);
    const frames = [1, 2, 3].map((id) => frame(encodeQuery(`b${id}.blocked.test`, TYPES.A, { id })));
    const bytes = Buffer.concat(frames);
    const [a, b] = [frames[0].length, frames[0].length + frames[1].length];
    // Cuts inside a prefix (1, a + 1), right after one (a + 2), inside a message (10) and at a frame's end (b).
    const cuts = [0, 1, 10, a + 1, a + 2, b, b + 1, bytes.length];
    for (let i = 1; i < cuts.length; i++) {
      c.sock.write(bytes.subarray(cuts[i - 1], cuts[i]));
      await sleep(30);
    }
    expect(await until(() => c.ids.length === 3, 3000)).toBe(true);
    expect(c.ids).toEqual([1, 2, 3]);
  });

  it('reads at most maxPipelined queries ahead of its answers, and answers them all', async () => {
    const { port } = await daemon('{ maxPipelined: 100 }');
    // The first 100 names are held back long enough to look; the rest are quick.
    upstream.behave = (name) => ({ kind: 'delay', ms: /^p\d\d?\./.test(name) ? 1500 : 20 });
    const before = upstream.received.length;
    const c = await open(port);
    c.sock.write(Buffer.concat(Array.from({ length: 250 }, (_, i) => frame(encodeQuery(`p${i}.cap.example`, TYPES.A, { id: i + 1 })))));
    // While those 100 wait, nothing more may be read, so nothing more is forwarded.
    expect(await until(() => upstream.received.length - before >= 100, 1000)).toBe(true);
    await sleep(300);
    expect(upstream.received.length - before).toBe(100);
    expect(await until(() => c.ids.length >= 250, 8000)).toBe(true);
    expect(new Set(c.ids).size).toBe(250);
  });

  it('pauses for a client that reads slowly and gives it every answer once it reads, without resetting it', async () => {
    const { port, daemon: dd } = await daemon('{}', 'lists:\n  local: { source: blocked.txt }\n');
    const c = await open(port, { read: false });
    // 100,000 answers (about 10 MB) are more than the kernel buffers hold and far over maxUnsent.
    c.sock.write(Buffer.concat(Array.from({ length: 100_000 }, (_, i) => frame(encodeQuery(`n${i}.blocked.test`, TYPES.A, { id: i & 0xffff })))));
    await sleep(1000);
    c.sock.resume();
    expect(await until(() => c.ids.length === 100_000, 15_000)).toBe(true);
    expect(c.isClosed()).toBe(false);
    expect(dd.tcpStats.unread).toBe(0);
  });

  it('answers a query sent before a half-close (FIN), on a cache miss, then closes', async () => {
    const { port } = await daemon('{}');
    upstream.behave = () => ({ kind: 'delay', ms: 300 });
    const c = await open(port, { halfOpen: true });
    c.sock.end(frame(encodeQuery('half-close.example', TYPES.A, { id: 0x4843 })));
    const closed = await Promise.race([c.closed, sleep(4000).then(() => null)]);
    expect(c.ids).toEqual([0x4843]);
    expect(closed).not.toBeNull();
  });

  it('drops answers quietly when their connection has gone', async () => {
    const { port, daemon: dd } = await daemon('{}');
    upstream.behave = () => ({ kind: 'delay', ms: 200 });
    const c = await open(port);
    c.sock.write(Buffer.concat(Array.from({ length: 20 }, (_, i) => frame(encodeQuery(`gone${i}.example`, TYPES.A)))));
    await sleep(50);
    c.sock.resetAndDestroy();
    await sleep(400);
    expect(dd.resolver.stats.errors).toBe(0);
    upstream.behave = () => ({ kind: 'answer' });
    expect((await query(port, 'after-gone.example', TYPES.A, { tcp: true })).rcode).toBe(0);
  });
});

describe('TCP limits', () => {
  it('refuses connections over maxPerClient from one address while another address still connects', async () => {
    const { port, daemon: dd } = await daemon('{ maxPerClient: 3, maxConnections: 100 }');
    const held = await Promise.all([1, 2, 3].map(() => open(port, { from: '127.0.0.2' })));
    const over = await Promise.all([1, 2].map(() => open(port, { from: '127.0.0.2' })));
    // Over the cap: closed at once by the server.
    expect(await until(() => over.every((c) => c.isClosed()), 2000)).toBe(true);
    expect(held.some((c) => c.isClosed())).toBe(false);
    for (const c of held) c.sock.write(frame(encodeQuery('held.example', TYPES.A, { id: 7 })));
    expect(await until(() => held.every((c) => c.ids.length === 1), 3000)).toBe(true);
    expect((await query(port, 'other-address.example', TYPES.A, { tcp: true, from: '127.0.0.3' })).rcode).toBe(0);
    expect(dd.tcpStats.refused).toBe(2);
    // A slot freed is a slot to take again (once the server has seen the close).
    held[0].sock.destroy();
    await held[0].closed;
    let rcode = -1;
    for (let attempt = 0; attempt < 5 && rcode < 0; attempt++) {
      rcode = await query(port, 'freed.example', TYPES.A, { tcp: true, from: '127.0.0.2', timeoutMs: 500 }).then((r) => r.rcode, () => -1);
    }
    expect(rcode).toBe(0);
  });

  it('makes room at maxConnections by closing the connection idle longest, so a client with a query gets in', async () => {
    const { port, daemon: dd } = await daemon('{ maxConnections: 4, maxPerClient: 4, idleTimeout: 30s }');
    const held: Client[] = [];
    for (const n of [2, 3, 4, 5]) {
      held.push(await open(port, { from: `127.0.0.${n}` }));
      await sleep(20);
    }
    // The newest three are busy: each just had a query answered.
    for (const c of held.slice(1)) c.sock.write(frame(encodeQuery('busy.example', TYPES.A, { id: 5 })));
    expect(await until(() => held.slice(1).every((c) => c.ids.length === 1), 3000)).toBe(true);
    expect((await query(port, 'newcomer.example', TYPES.A, { tcp: true, from: '127.0.0.6' })).rcode).toBe(0);
    expect(await until(() => held[0].isClosed(), 2000)).toBe(true);
    expect(held.slice(1).some((c) => c.isClosed())).toBe(false);
    expect(dd.tcpStats.evicted).toBe(1);
  });

  it('refuses a connection over maxConnections when every open one has a query in flight', async () => {
    const { port, daemon: dd } = await daemon('{ maxConnections: 4, maxPerClient: 4 }');
    upstream.behave = () => ({ kind: 'delay', ms: 1000 });
    const held = await Promise.all([2, 3, 4, 5].map((n) => open(port, { from: `127.0.0.${n}` })));
    for (const [i, c] of held.entries()) c.sock.write(frame(encodeQuery(`in-flight${i}.example`, TYPES.A, { id: 9 })));
    await sleep(200);
    const over = await open(port, { from: '127.0.0.6' });
    expect(await until(() => over.isClosed(), 2000)).toBe(true);
    expect(dd.tcpStats.refused).toBe(1);
    // The busy ones get their answers.
    expect(await until(() => held.every((c) => c.ids.length === 1), 4000)).toBe(true);
  });

  it('frees idle and slowloris connections by their deadlines, whatever bytes trickle in, and keeps serving others', async () => {
    const { port, daemon: dd } = await daemon('{ idleTimeout: 2s, messageTimeout: 1s, maxConnections: 200 }');
    const started = performance.now();
    const silent = await Promise.all(Array.from({ length: 10 }, () => open(port)));
    const tricklers = await Promise.all(Array.from({ length: 10 }, () => open(port)));
    // A 60-byte message announced, then one byte every 150 ms: it would take 9 s to arrive.
    const message = frame(Buffer.alloc(60, 1));
    let sent = 0;
    const trickle = setInterval(() => {
      sent++;
      for (const c of tricklers) if (!c.isClosed() && sent < message.length) c.sock.write(message.subarray(sent - 1, sent));
    }, 150);
    // Queries that complete reset nothing for the others; a fresh client is answered meanwhile.
    try {
      await sleep(500);
      expect((await query(port, 'during-slowloris.example', TYPES.A, { tcp: true })).rcode).toBe(0);
      // The message deadline (1 s) cuts the tricklers off long before their message could arrive (9 s).
      expect(await until(() => tricklers.every((c) => c.isClosed()), 5000)).toBe(true);
      expect(await until(() => silent.every((c) => c.isClosed()), 5000)).toBe(true);
    } finally {
      clearInterval(trickle);
    }
    expect(performance.now() - started).toBeGreaterThan(1900);
    expect(dd.tcpStats.slow).toBe(10);
    expect(dd.tcpStats.idle).toBeGreaterThanOrEqual(10);
    expect((await query(port, 'after-slowloris.example', TYPES.A, { tcp: true })).rcode).toBe(0);
  });

  it('closes a connection at maxLifetime even while it keeps querying, after answering what it read', async () => {
    const { port, daemon: dd } = await daemon('{ maxLifetime: 1s, idleTimeout: 10s }');
    const c = await open(port);
    let id = 0;
    const talk = setInterval(() => !c.isClosed() && c.sock.write(frame(encodeQuery('lifetime.example', TYPES.A, { id: ++id }))), 100);
    try {
      const closed = await Promise.race([c.closed, sleep(4000).then(() => null)]);
      expect(closed).not.toBeNull();
    } finally {
      clearInterval(talk);
    }
    expect(c.ids.length).toBeGreaterThanOrEqual(5);
    expect(dd.tcpStats.lifetime).toBe(1);
  });

  it('resets a connection that leaves more than maxUnsent bytes of answers unread, long before its idle timeout', async () => {
    const { port, daemon: dd } = await daemon('{ maxUnsent: 128KB, idleTimeout: 30s }');
    // Answers of about 4 KB: one cached, one that the upstream holds back for 800 ms.
    const txt = (name: string) => Array.from({ length: 15 }, () => ({ name, type: TYPES.TXT, class: 1, ttl: 300, data: 'x'.repeat(250) }));
    upstream.behave = (name) => (name === 'slow.unread.example' ? { kind: 'delay', ms: 800, records: txt(name) } : { kind: 'answer', records: txt(name) });
    expect((await query(port, 'cached.unread.example', TYPES.TXT, { tcp: true })).raw.length).toBeGreaterThan(3500);
    // A client that never reads: 99 queries wait on the upstream together, then cache hits fill every buffer on the way.
    const c = await open(port, { read: false });
    const slow = Array.from({ length: 99 }, () => frame(encodeQuery('slow.unread.example', TYPES.TXT)));
    const hits = Array.from({ length: 5000 }, () => frame(encodeQuery('cached.unread.example', TYPES.TXT)));
    c.sock.write(Buffer.concat([...slow, ...hits]));
    // When the 99 answers land on the full connection, it is over its bound: reset.
    expect(await until(() => dd.tcpStats.unread === 1, 8000)).toBe(true);
    c.sock.resume();
    const closed = await Promise.race([c.closed, sleep(5000).then(() => null)]);
    expect(closed).not.toBeNull();
    upstream.behave = () => ({ kind: 'answer' });
    expect((await query(port, 'after-unread.example', TYPES.A, { tcp: true })).rcode).toBe(0);
  });
  it('counts a connection reset at its idle deadline with answers still unread as stalled, not idle', async () => {
    const { port, daemon: dd } = await daemon('{ maxUnsent: 64MB, maxUnsentTotal: 64MB, idleTimeout: 1s }');
    const txt = (name: string) => Array.from({ length: 15 }, () => ({ name, type: TYPES.TXT, class: 1, ttl: 300, data: 'x'.repeat(250) }));
    upstream.behave = (name) => ({ kind: 'answer', records: txt(name) });
    await query(port, 'cached.stalled.example', TYPES.TXT, { tcp: true });
    // About 20 MB of answers to a client that never reads: more than the kernel buffers hold, under maxUnsent.
    const c = await open(port, { read: false });
    c.sock.write(Buffer.concat(Array.from({ length: 5000 }, () => frame(encodeQuery('cached.stalled.example', TYPES.TXT)))));
    expect(await until(() => dd.tcpStats.stalled === 1, 8000)).toBe(true);
    expect(dd.tcpStats.idle).toBe(0);
    expect(dd.tcpStats.unread).toBe(0);
    // A client that read everything and went quiet is still idle.
    const quiet = await open(port);
    quiet.sock.write(frame(encodeQuery('cached.stalled.example', TYPES.TXT)));
    expect(await until(() => dd.tcpStats.idle === 1, 4000)).toBe(true);
    expect(dd.tcpStats.stalled).toBe(1);
    const metrics = await (await fetch(`http://127.0.0.1:${dd.adminAddress!.port}/metrics`)).text();
    expect(metrics).toMatch(/aifence_tcp_closed_total\{reason="stalled"\} 1/);
  });

  it('resets the connection holding most unread answers when all of them together pass maxUnsentTotal', async () => {
    const { port, daemon: dd } = await daemon('{ maxUnsent: 256KB, maxUnsentTotal: 256KB, idleTimeout: 30s }');
    const txt = (name: string) => Array.from({ length: 15 }, () => ({ name, type: TYPES.TXT, class: 1, ttl: 300, data: 'x'.repeat(250) }));
    upstream.behave = (name) => (name === 'slow.total.example' ? { kind: 'delay', ms: 800, records: txt(name) } : { kind: 'answer', records: txt(name) });
    await query(port, 'cached.total.example', TYPES.TXT, { tcp: true });
    // Two clients that do not read, each to be left with about 160 KB of answers: under maxUnsent alone, over the total together.
    const [a, b] = await Promise.all([open(port, { read: false }), open(port, { read: false })]);
    const load = Buffer.concat([
      ...Array.from({ length: 40 }, (_, i) => frame(encodeQuery('slow.total.example', TYPES.TXT, { id: i + 1 }))),
      ...Array.from({ length: 5000 }, () => frame(encodeQuery('cached.total.example', TYPES.TXT, { id: 9999 }))),
    ]);
    a.sock.write(load);
    b.sock.write(load);
    expect(await until(() => dd.tcpStats.unread === 1, 8000)).toBe(true);
    await sleep(300);
    expect(dd.tcpStats.unread).toBe(1);
    a.sock.resume();
    b.sock.resume();
    // One was reset; the other keeps its connection and reads every answer it was owed.
    const survivor = await Promise.race([a.closed.then(() => b), b.closed.then(() => a)]);
    expect(await until(() => Array.from({ length: 40 }, (_, i) => i + 1).every((id) => survivor.ids.includes(id)), 5000)).toBe(true);
    expect(survivor.isClosed()).toBe(false);
  });
});
