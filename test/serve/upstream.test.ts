// Upstream behaviour across the wire: caching with TTLs counted down,
// shared in-flight queries, TC fallback to TCP, timeouts and failover, and
// replies that do not come from where the query went.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TYPES, query } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

let upstream: TestUpstream;
let d: TestDaemon | undefined;

beforeEach(async () => {
  upstream = await TestUpstream.start();
});
afterEach(async () => {
  await d?.stop();
  d = undefined;
  await upstream.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('cache', () => {
  it('answers a repeated query from cache: upstream asked once, TTL counted down', async () => {
    d = await startDaemon('', [upstream.address]);
    upstream.behave = () => ({ kind: 'answer', ttl: 300 });
    const first = await query(d.port, 'cached.example');
    expect(first.packet.answers[0].ttl).toBe(300);
    await sleep(1100);
    const second = await query(d.port, 'CACHED.example', TYPES.A, { id: 777 });
    expect(upstream.count('cached.example')).toBe(1);
    expect(second.packet.answers[0].ttl).toBeLessThan(300);
    expect(second.packet.answers[0].ttl).toBeGreaterThanOrEqual(298);
    expect(second.raw.readUInt16BE(0)).toBe(777);
    expect(second.packet.questions[0].name).toBe('CACHED.example');
  });

  it('caches NXDOMAIN for the SOA minimum (RFC 2308); EDNS and plain clients share it, each with its own OPT or none', async () => {
    d = await startDaemon('', [upstream.address]);
    upstream.behave = () => ({ kind: 'nxdomain', soaTtl: 300, minimum: 30 });
    expect((await query(d.port, 'gone.example')).rcode).toBe(3);
    const plain = await query(d.port, 'gone.example');
    expect(plain.rcode).toBe(3);
    expect(plain.raw.readUInt16BE(10)).toBe(0); // no OPT for a client without EDNS, though aifence asked upstream with one
    expect(upstream.count('gone.example')).toBe(1);
    const withEdns = await query(d.port, 'gone.example', TYPES.A, { edns: 1232 });
    expect(withEdns.rcode).toBe(3);
    expect(withEdns.packet.additionals.filter((r: { type: number }) => r.type === 41)).toHaveLength(1);
    expect(upstream.count('gone.example')).toBe(1);
  });

  it('clamps TTLs to cache.maxTtl', async () => {
    d = await startDaemon('cache: { maxTtl: 60s }\n', [upstream.address]);
    upstream.behave = () => ({ kind: 'answer', ttl: 86400 });
    await query(d.port, 'long.example');
    const hit = await query(d.port, 'long.example');
    expect(hit.packet.answers[0].ttl).toBeLessThanOrEqual(60);
    expect(upstream.count('long.example')).toBe(1);
  });

  it('identical queries in flight share one upstream query', async () => {
    d = await startDaemon('', [upstream.address]);
    upstream.behave = () => ({ kind: 'delay', ms: 200 });
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => query(d!.port, 'slow.example', TYPES.A, { id: 100 + i })));
    expect(upstream.count('slow.example')).toBe(1);
    answers.forEach((a, i) => {
      expect(a.raw.readUInt16BE(0)).toBe(100 + i);
      expect(a.packet.answers[0].address).toBe('192.0.2.1');
    });
  });
});

describe('upstream failures', () => {
  it('retries a truncated UDP reply over TCP and answers in full over TCP', async () => {
    d = await startDaemon('', [upstream.address]);
    upstream.behave = () => ({ kind: 'truncate', count: 60 });
    const viaTcp = await query(d.port, 'big.example', TYPES.A, { tcp: true });
    expect(viaTcp.packet.answers).toHaveLength(60);
    expect(upstream.received.some((r) => r.name === 'big.example' && r.tcp)).toBe(true);
    // A plain UDP client cannot take 60 records: it gets TC and no records.
    const viaUdp = await query(d.port, 'big.example');
    expect(viaUdp.raw[2] & 0x02).toBe(0x02);
    expect(viaUdp.packet.answers).toHaveLength(0);
  });

  it('answers SERVFAIL when no upstream answers within the timeout', async () => {
    d = await startDaemon('upstream: { servers: [UP], timeout: 300ms }\n'.replace('UP', upstream.address), []);
    upstream.behave = () => ({ kind: 'silent' });
    const started = performance.now();
    const r = await query(d.port, 'dead.example');
    expect(r.rcode).toBe(2);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('fails over to the second upstream when the first is silent, then skips the first', async () => {
    const second = await TestUpstream.start();
    try {
      d = await startDaemon(`upstream: { servers: ["${upstream.address}", "${second.address}"], timeout: 1s }\n`, []);
      upstream.behave = () => ({ kind: 'silent' });
      second.behave = () => ({ kind: 'answer', address: '192.0.2.2' });
      const r = await query(d.port, 'failover.example');
      expect(r.packet.answers[0].address).toBe('192.0.2.2');
      expect(upstream.count('failover.example')).toBe(1);
      await query(d.port, 'after-failover.example');
      expect(upstream.count('after-failover.example')).toBe(0);
      expect(second.count('after-failover.example')).toBe(1);
    } finally {
      await second.close();
    }
  });

  it.each(['wrong-id', 'wrong-port'] as const)('ignores a spoofed reply (%s) and takes the real one', async (spoof) => {
    d = await startDaemon('', [upstream.address]);
    upstream.spoof = spoof;
    const r = await query(d.port, `spoof-${spoof}.example`);
    expect(r.packet.answers[0].address).toBe('192.0.2.1');
    // A wrong ID reaches the daemon and is counted; a wrong source port never does: the kernel drops it at the connected socket.
    expect(d.daemon.upstream.stats.spoofed).toBe(spoof === 'wrong-id' ? 1 : 0);
  });
});
