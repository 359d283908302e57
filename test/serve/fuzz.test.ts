// Fuzzing both sides of the daemon on the wire. A fuzzing upstream answers
// with replies broken in known ways (pointer loops, pointers past the end,
// wrong IDs, bogus rdlength, 100-deep CNAME chains, TC without TCP, random
// bytes): the daemon never fails, never relays or caches a broken reply, and
// the client gets the next server's answer or SERVFAIL. Then 50,000 fuzzed
// client datagrams, after which it still answers. (`npm run fuzz` does the
// same at 1M and 100k against the daemon run as a process.)

import { createSocket } from 'node:dgram';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TYPES, encodeQuery, exchange, query } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { KIND_NAMES, REPLY_KINDS, type ReplyKind, fuzzReply, seeded, wellFormed } from '../support/fuzz.js';
import { TestUpstream } from '../support/upstream.js';

let fuzzer: TestUpstream;
let good: TestUpstream;
let d: TestDaemon;
const random = seeded(9);

/** The kind of broken reply each name gets: `fz-<kind>-<n>.example`. */
const kindOf = (name: string): ReplyKind => KIND_NAMES.find((k) => name.startsWith(`fz-${k}-`)) ?? 'good';

beforeAll(async () => {
  fuzzer = await TestUpstream.start();
  good = await TestUpstream.start();
  fuzzer.tcpMode = 'refuse';
  fuzzer.behave = (name) => ({ kind: 'raw', reply: (q) => fuzzReply(kindOf(name), q, random) });
  good.behave = () => ({ kind: 'answer', address: '192.0.2.2' });
  d = await startDaemon(`upstream: { servers: ["${fuzzer.address}", "${good.address}"], timeout: 1s }\n`, []);
});
afterAll(async () => {
  await d.stop();
  await fuzzer.close();
  await good.close();
});

describe('a fuzzing upstream', () => {
  it('never gets a broken reply to a client or into the cache; the next server answers instead', async () => {
    const names = KIND_NAMES.flatMap((kind) => Array.from({ length: 30 }, (_, i) => `fz-${kind}-${i}.example`));
    const ask = async (name: string) => {
      // Over TCP, so that big valid answers (the CNAME chain) arrive whole.
      const raw = await exchange(d.port, encodeQuery(name, TYPES.A, { edns: 1232 }), { tcp: kindOf(name) === 'cname-chain-100', timeoutMs: 4000 });
      return { name, raw };
    };
    for (const round of ['first', 'cached']) {
      const answers: { name: string; raw: Buffer }[] = [];
      for (let i = 0; i < names.length; i += 40) answers.push(...(await Promise.all(names.slice(i, i + 40).map(ask))));
      for (const { name, raw } of answers) {
        const kind = kindOf(name);
        expect(wellFormed(raw), `${round} ${name}`).toBe(true);
        const rcode = raw[3] & 0x0f;
        if (REPLY_KINDS[kind]) {
          // Broken for sure: the second server's answer, never the fuzzer's 10.0.0.1.
          expect(rcode, `${round} ${name}`).toBe(0);
          expect(raw.includes(Buffer.from([192, 0, 2, 2])), `${round} ${name}`).toBe(true);
          expect(raw.includes(Buffer.from([10, 0, 0, 1])), `${round} ${name}`).toBe(false);
        } else if (kind === 'good' || kind === 'cname-chain-100') {
          // The fuzzer's answer, or the second server's while the fuzzer sits out a back-off after forged-looking replies.
          expect(rcode, `${round} ${name}`).toBe(0);
          expect(raw.includes(Buffer.from([10, 0, 0, 1])) || raw.includes(Buffer.from([192, 0, 2, 2])), `${round} ${name}`).toBe(true);
        } else {
          expect([0, 2, 3], `${round} ${name}`).toContain(rcode);
        }
      }
    }
    const stats = d.daemon.upstream.stats;
    expect(stats.malformed).toBeGreaterThanOrEqual(30 * 10); // the ten kinds broken for sure that come before any back-off
    expect(d.daemon.resolver.stats.errors).toBe(0);
    expect(d.daemon.upstream.openSockets.udpWaiting).toBe(0);
  });
});

describe('fuzzed client queries', () => {
  it('50,000 random, mutated and valid datagrams: no failure, and it answers normally afterwards', async () => {
    const seeds = [
      encodeQuery('www.example.com', TYPES.AAAA, { edns: 1232, dnssecOk: true }),
      encodeQuery('fz-good-x.example', TYPES.A),
      encodeQuery('x.example', TYPES.HTTPS, { edns: 4096 }),
    ];
    const arb = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 600 }).map((b) => Buffer.from(b)),
      fc.tuple(fc.nat(seeds.length - 1), fc.array(fc.tuple(fc.nat(80), fc.nat(255)), { maxLength: 6 }), fc.integer({ min: -20, max: 20 })).map(([seed, flips, resize]) => {
        const msg = Buffer.from(seeds[seed]);
        for (const [at, value] of flips) if (at < msg.length) msg[at] = value;
        return resize < 0 ? msg.subarray(0, Math.max(0, msg.length + resize)) : Buffer.concat([msg, Buffer.alloc(resize, 0xc0)]);
      }),
      fc.tuple(fc.constantFrom(...KIND_NAMES), fc.nat(5000)).map(([kind, n]) => encodeQuery(`fz-${kind}-q${n}.example`, TYPES.A, { edns: 1232 })),
    );
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    let sent = 0;
    for (let batch = 0; batch < 50; batch++) {
      const packets = fc.sample(arb, { numRuns: 1000, seed: 1000 + batch });
      for (let i = 0; i < packets.length; i++) {
        sock.send(packets[i], d.port, '127.0.0.1');
        sent++;
        if (i % 250 === 249) await new Promise((r) => setImmediate(r));
      }
    }
    await new Promise((r) => setTimeout(r, 1500));
    sock.close();
    expect(sent).toBe(50_000);
    expect(d.daemon.resolver.stats.errors).toBe(0);
    expect((await query(d.port, 'after-client-fuzz.example')).rcode).toBe(0);
    expect((await query(d.port, 'after-client-fuzz.example', TYPES.A, { tcp: true })).rcode).toBe(0);
  });
});
