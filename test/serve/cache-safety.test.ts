// The cache must never hand one client an answer made for another kind of
// question: a CD=1 answer (DNSSEC validation skipped) or an RD=0 answer is
// kept apart from the rest. It is bounded by bytes, not only entries; it
// never keeps failures; and it serves an expired answer (RFC 8767) when the
// upstream falls silent, marked stale.

import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { TYPES, encodeQuery, exchange, query } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { RawUpstream, aRecord, findOpt, reply, txtRecord } from '../support/raw-upstream.js';

let upstream: RawUpstream;
let d: TestDaemon | undefined;

beforeAll(async () => {
  upstream = await RawUpstream.start();
});
afterEach(async () => {
  await d?.stop();
  d = undefined;
  upstream.respond = (q) => reply(q, { answers: [aRecord('192.0.2.1')] });
});
afterAll(async () => {
  await upstream.close();
});

const start = async (yaml = '') => (d = await startDaemon(yaml, [upstream.address]));
// Case-blind: aifence sends names upstream in a random 0x20 case.
const sentFor = (name: string) => upstream.queries.filter((q) => q.toString('latin1').toLowerCase().includes(name));
const addressOf = (raw: Buffer) => raw.subarray(raw.length - 4).join('.');

describe('cache key', () => {
  it('a CD=1 answer is never served to a CD=0 client, and each is asked upstream with its own CD bit', async () => {
    await start();
    // A validating upstream: SERVFAIL-free answers differ by CD (the "bogus" data only with CD=1).
    upstream.respond = (q) => reply(q, { answers: [aRecord(q[3] & 0x10 ? '192.0.2.66' : '192.0.2.1')] });
    const cd = encodeQuery('bogus.example', TYPES.A);
    cd[3] |= 0x10;
    expect(addressOf(await exchange(d!.port, cd))).toBe('192.0.2.66');
    const normal = await exchange(d!.port, encodeQuery('bogus.example', TYPES.A));
    expect(addressOf(normal)).toBe('192.0.2.1');
    expect(sentFor('bogus').map((q) => q[3] & 0x10)).toEqual([0x10, 0]);
  });

  it('an RD=0 answer is never served to an RD=1 client', async () => {
    await start();
    upstream.respond = (q) => reply(q, { answers: [aRecord(q[2] & 0x01 ? '192.0.2.1' : '192.0.2.99')] });
    const norec = encodeQuery('rdtest.example', TYPES.A);
    norec[2] &= ~0x01;
    expect(addressOf(await exchange(d!.port, norec))).toBe('192.0.2.99');
    expect(addressOf(await exchange(d!.port, encodeQuery('rdtest.example', TYPES.A)))).toBe('192.0.2.1');
    expect(sentFor('rdtest').map((q) => q[2] & 0x01)).toEqual([0, 1]);
  });
});

describe('cache bounds', () => {
  it('is bounded by bytes: 4 KB answers into a 256 KB cache keep it under 256 KB whatever maxEntries allows', async () => {
    await start('cache: { maxEntries: 100000, maxSize: 256KB }\n');
    upstream.respond = (q) => reply(q, { answers: [txtRecord(4000)] });
    for (let i = 0; i < 200; i++) await query(d!.port, `big${i}.example`, TYPES.TXT, { tcp: true });
    const cache = d!.daemon.resolver.cache;
    expect(cache.size).toBeGreaterThan(20);
    expect(cache.size).toBeLessThan(70);
    expect(cache.bytes).toBeLessThanOrEqual(256 * 1024);
    expect((await d!.daemon.scrape()).body).toMatch(new RegExp(`aifence_cache_bytes ${cache.bytes}\\b`));
  });

  it('never caches a SERVFAIL: the next query asks again', async () => {
    await start('cache: { serveStale: off }\n');
    let fail = true;
    upstream.respond = (q) => reply(q, fail ? { rcode: 2 } : { answers: [aRecord('192.0.2.5')] });
    expect((await query(d!.port, 'flaky.example')).rcode).toBe(2);
    fail = false;
    expect((await query(d!.port, 'flaky.example')).rcode).toBe(0);
  });
});

describe('serve-stale (RFC 8767)', () => {
  it('answers an expired entry with TTL 30 and EDE 3 when the upstream is silent past the client timer, and refreshes later', async () => {
    await start('upstream: { servers: [UP], timeout: 2s }\ncache: { serveStale: { clientTimeout: 300ms } }\n'.replace('UP', upstream.address));
    upstream.respond = (q) => reply(q, { answers: [aRecord('192.0.2.10', 1)] });
    expect((await query(d!.port, 'stale.example')).packet.answers[0].ttl).toBe(1);
    await new Promise((r) => setTimeout(r, 1200));
    upstream.respond = () => null;
    const t0 = performance.now();
    const stale = await query(d!.port, 'stale.example', TYPES.A, { edns: 1232, timeoutMs: 1500 });
    expect(performance.now() - t0).toBeLessThan(1200);
    expect(stale.rcode).toBe(0);
    expect(stale.packet.answers[0]).toMatchObject({ address: '192.0.2.10', ttl: 30 });
    const opt = findOpt(stale.raw);
    expect(stale.raw.subarray(opt).includes(Buffer.from([0, 15]))).toBe(true); // option 15: Extended DNS Error
    expect(stale.raw.readUInt16BE(opt + 15)).toBe(3); // INFO-CODE 3: Stale Answer
    expect(d!.daemon.resolver.stats.stale).toBeGreaterThanOrEqual(1);
    expect((await d!.daemon.scrape()).body).toMatch(/aifence_cache_stale_answers_total [1-9]/);
  });

  it('is off with serveStale: off: a silent upstream means SERVFAIL', async () => {
    await start('upstream: { servers: [UP], timeout: 500ms }\ncache: { serveStale: off }\n'.replace('UP', upstream.address));
    upstream.respond = (q) => reply(q, { answers: [aRecord('192.0.2.10', 1)] });
    expect((await query(d!.port, 'nostale.example')).packet.answers[0].ttl).toBe(1);
    await new Promise((r) => setTimeout(r, 1600)); // well past the 1 s TTL, even on a busy machine
    upstream.respond = () => null;
    expect((await query(d!.port, 'nostale.example', TYPES.A, { timeoutMs: 2000 })).rcode).toBe(2);
  });
});
