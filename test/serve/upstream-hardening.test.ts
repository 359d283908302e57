// The upstream side as an attacker and a broken server would try it: failure
// rcodes fail over, FORMERR without a question is the server's and not a
// forgery, a fresh source port and a random 0x20 case per query, exact
// question compare, canonical IPv6 upstreams, TCP reused and pipelined.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TYPES, query } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { type Behaviour, TestUpstream } from '../support/upstream.js';

let first: TestUpstream;
let second: TestUpstream;
let d: TestDaemon | undefined;

beforeEach(async () => {
  first = await TestUpstream.start();
  second = await TestUpstream.start();
  second.behave = () => ({ kind: 'answer', address: '192.0.2.2' });
});
afterEach(async () => {
  if (d) expect(d.daemon.upstream.openSockets.udpWaiting).toBe(0); // no attempt left waiting on a pooled socket after its exchange
  await d?.stop();
  d = undefined;
  await first.close();
  await second.close();
});

const both = (timeout = '2s') => `upstream: { servers: ["${first.address}", "${second.address}"], timeout: ${timeout} }\n`;
const only = (up: TestUpstream, timeout = '2s') => `upstream: { servers: ["${up.address}"], timeout: ${timeout} }\n`;

/** The question of an upstream query (without its OPT record). */
const questionOf = (q: Buffer) => q.subarray(12, q.length - (q.readUInt16BE(10) ? 11 : 0));
/** The real answer (10.9.9.9) with its record's owner turned into a pointer to itself: does not parse. */
function looped(q: Buffer): Buffer {
  const question = questionOf(q);
  const header = Buffer.from([q[0], q[1], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
  const at = 12 + question.length;
  const answer = Buffer.from([0xc0 | (at >> 8), at & 0xff, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 10, 9, 9, 9]);
  return Buffer.concat([header, question, answer]);
}
/** A well-formed answer: 192.0.2.1. */
function good(q: Buffer): Buffer {
  const question = questionOf(q);
  const header = Buffer.from([q[0], q[1], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
  const answer = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 1]);
  return Buffer.concat([header, question, answer]);
}

describe('failover on failure rcodes', () => {
  it.each<[string, Behaviour]>([
    ['REFUSED', { kind: 'refused' }],
    ['SERVFAIL', { kind: 'servfail' }],
    ['FORMERR', { kind: 'formerr' }],
    ['FORMERR with no question', { kind: 'formerr', empty: true }],
    ['NOTIMP', { kind: 'notimp' }],
  ])('%s from the first server: the second is asked at once and its answer served', async (_, behaviour) => {
    d = await startDaemon(both('3s'), []);
    first.behave = () => behaviour;
    const started = performance.now();
    const r = await query(d.port, 'failover-rcode.example');
    expect(r.rcode).toBe(0);
    expect(r.packet.answers[0].address).toBe('192.0.2.2');
    expect(performance.now() - started).toBeLessThan(1000); // not after the first server's 1.5 s slice
    expect(second.count('failover-rcode.example')).toBe(1);
    expect(d.daemon.upstream.stats.spoofed).toBe(0);
  });

  it('SERVFAIL at once when every server fails, and nothing of it is cached', async () => {
    d = await startDaemon(both('8s'), []);
    first.behave = () => ({ kind: 'refused' });
    second.behave = () => ({ kind: 'formerr', empty: true });
    const started = performance.now();
    expect((await query(d.port, 'all-fail.example', TYPES.A, { timeoutMs: 10_000 })).rcode).toBe(2);
    // Not at the 8 s deadline (with room for a loaded machine: this is not a timing figure).
    expect(performance.now() - started).toBeLessThan(4000);
    second.behave = () => ({ kind: 'answer', address: '192.0.2.2' });
    const again = await query(d.port, 'all-fail.example');
    expect(again.packet.answers[0].address).toBe('192.0.2.2');
    expect(d.daemon.upstream.stats.failed).toBeGreaterThanOrEqual(2);
  });

  it('asks a server that answers FORMERR to EDNS again without OPT', async () => {
    d = await startDaemon(only(first), []);
    first.behave = () => ({ kind: 'no-edns' });
    const r = await query(d.port, 'old-server.example');
    expect(r.rcode).toBe(0);
    expect(r.packet.answers[0].address).toBe('192.0.2.1');
  });

  it('a malformed reply is never relayed: the next server answers', async () => {
    d = await startDaemon(both('3s'), []);
    first.behave = () => ({ kind: 'raw', reply: looped });
    const r = await query(d.port, 'looped.example');
    expect(r.packet.answers[0].address).toBe('192.0.2.2');
    expect(d.daemon.upstream.stats.malformed).toBe(1);
    expect(first.received.filter((q) => q.tcp)).toHaveLength(0); // another server was there: no retry of this one
  });

  it('the first malformed reply from the only server: asked again over TCP, and its answer served', async () => {
    d = await startDaemon(only(first, '3s'), []);
    // Broken over UDP only (a middlebox, a forger who got ID and question right): TCP gets the real answer.
    first.behave = (name) => (name === 'udp-broken.example' ? { kind: 'raw', reply: (q, tcp) => (tcp ? good(q) : looped(q)) } : { kind: 'answer' });
    const started = performance.now();
    const r = await query(d.port, 'udp-broken.example');
    expect(r.rcode).toBe(0);
    expect(r.packet.answers[0].address).toBe('192.0.2.1');
    expect(performance.now() - started).toBeLessThan(1000);
    expect(first.received.map((q) => q.tcp)).toEqual([false, true]);
    expect(d.daemon.upstream.stats.malformed).toBe(1);
  });

  it('malformed over UDP and again over TCP from the only server: SERVFAIL soon, the broken bytes never relayed', async () => {
    d = await startDaemon(only(first, '3s'), []);
    first.behave = () => ({ kind: 'raw', reply: looped });
    const started = performance.now();
    const r = await query(d.port, 'always-broken.example');
    expect(r.rcode).toBe(2);
    expect(r.raw.includes(Buffer.from([10, 9, 9, 9]))).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(first.received.map((q) => q.tcp)).toEqual([false, true]); // one retry, not more
    expect(d.daemon.upstream.stats.malformed).toBe(2);
  });

  it('TC from a server without TCP: SERVFAIL soon, not at the deadline', async () => {
    d = await startDaemon(only(first, '3s'), []);
    first.behave = () => ({ kind: 'truncate' });
    first.tcpMode = 'refuse';
    const started = performance.now();
    expect((await query(d.port, 'tc-no-tcp.example')).rcode).toBe(2);
    expect(performance.now() - started).toBeLessThan(1500);
  });
});

describe('forgery resistance', () => {
  it('sends upstream queries from many random source ports', async () => {
    d = await startDaemon(only(first), []);
    for (let i = 0; i < 200; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => query(d!.port, `port-${i + j}.example`)));
    const ports = new Set(first.received.map((r) => r.port));
    expect(first.received).toHaveLength(200);
    expect(ports.size).toBeGreaterThanOrEqual(150); // a random one of 1,024 pooled sockets on random ports each: ~181 distinct expected
  });

  it('sends the question in a random 0x20 case, different from query to query', async () => {
    d = await startDaemon(only(first), []);
    for (let i = 0; i < 40; i++) await query(d.port, `case-pattern-${i}.example`);
    const mixed = first.received.filter((r) => r.asSent !== r.name && r.asSent !== r.name.toUpperCase());
    expect(mixed.length).toBeGreaterThanOrEqual(38);
    const patterns = new Set(first.received.map((r) => r.asSent.replace(/\d+/, '')));
    expect(patterns.size).toBeGreaterThanOrEqual(38);
  });

  it('takes no reply whose question differs from the one sent, even only in case', async () => {
    d = await startDaemon(both('1s'), []);
    // A forger who knows the port and ID but not the case pattern writes the name as the client did.
    first.behave = (name) => ({
      kind: 'raw',
      reply: (q) => {
        const reply = Buffer.from(q);
        reply[2] |= 0x80;
        Buffer.from(name, 'latin1').forEach((_, i) => (reply[13 + i] = reply[13 + i] | (reply[13 + i] >= 0x41 ? 0x20 : 0)));
        return reply;
      },
    });
    const r = await query(d.port, 'exact-question.example');
    expect(r.packet.answers[0].address).toBe('192.0.2.2');
    expect(d.daemon.upstream.stats.spoofed).toBe(1);
  });

  it('works with an IPv6 upstream written in a non-canonical form', async () => {
    const v6 = await TestUpstream.start('::1');
    try {
      d = await startDaemon(`upstream: { servers: ["[0:0:0:0:0:0:0:1]:${v6.port}"], timeout: 1s }\n`, []);
      const r = await query(d.port, 'via-v6.example');
      expect(r.rcode).toBe(0);
      expect(r.packet.answers[0].address).toBe('192.0.2.1');
      expect(d.daemon.upstream.stats.spoofed).toBe(0);
    } finally {
      await v6.close();
    }
  });
});

describe('upstream TCP', () => {
  it('reuses one connection for many TCP misses', async () => {
    d = await startDaemon(only(first), []);
    for (let i = 0; i < 20; i++) expect((await query(d.port, `tcp-${i}.example`, TYPES.A, { tcp: true })).rcode).toBe(0);
    expect(first.received.filter((r) => r.tcp)).toHaveLength(20);
    expect(first.tcpConnections).toBe(1);
  });

  it('pipelines queries on that connection and takes replies out of order', async () => {
    d = await startDaemon(only(first), []);
    first.behave = (name) => (name.startsWith('slow') ? { kind: 'delay', ms: 400 } : { kind: 'answer', address: '192.0.2.3' });
    await query(d.port, 'warm.example', TYPES.A, { tcp: true });
    const order: string[] = [];
    const slow = query(d.port, 'slow.example', TYPES.A, { tcp: true }).then((a) => (order.push('slow'), a));
    await new Promise((r) => setTimeout(r, 50));
    const fast = query(d.port, 'fast.example', TYPES.A, { tcp: true }).then((a) => (order.push('fast'), a));
    const [s, f] = await Promise.all([slow, fast]);
    expect(s.packet.answers[0].address).toBe('192.0.2.1');
    expect(f.packet.answers[0].address).toBe('192.0.2.3');
    expect(order).toEqual(['fast', 'slow']);
    expect(first.tcpConnections).toBe(1);
  });

  it('keeps to a few connections under many concurrent TCP misses, and answers them all', async () => {
    d = await startDaemon(only(first), []);
    first.behave = () => ({ kind: 'delay', ms: 100 });
    // From ten loopback addresses: tcp.maxPerClient (32) would refuse 150 connections from one.
    const answers = await Promise.all(Array.from({ length: 150 }, (_, i) => query(d!.port, `many-${i}.example`, TYPES.A, { tcp: true, from: `127.0.0.${2 + (i % 10)}` })));
    expect(answers.every((a) => a.rcode === 0)).toBe(true);
    expect(first.tcpConnections).toBeGreaterThanOrEqual(1);
    expect(first.tcpConnections).toBeLessThanOrEqual(8);
  });

  it('sends again on a fresh connection when the server closed the idle one', async () => {
    d = await startDaemon(only(first), []);
    await query(d.port, 'before-close.example', TYPES.A, { tcp: true });
    // The server drops its side (as an idle timeout would), and the next query finds out.
    await first.dropTcpConnections();
    const r = await query(d.port, 'after-close.example', TYPES.A, { tcp: true });
    expect(r.rcode).toBe(0);
  });
});
