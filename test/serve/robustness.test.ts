// Bad input never takes the daemon down: random and mutated datagrams,
// malformed TCP frames, and the daemon keeps answering afterwards.

import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TYPES, encodeQuery, exchange, query } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

let upstream: TestUpstream;
let d: TestDaemon;

beforeAll(async () => {
  upstream = await TestUpstream.start();
  d = await startDaemon('upstream: { servers: [UP], timeout: 300ms }\nlists:\n  local: { source: blocked.txt }\n'.replace('UP', upstream.address), [], {
    files: { 'blocked.txt': 'blocked.test\n' },
  });
});
afterAll(async () => {
  await d.stop();
  await upstream.close();
});

/** Valid queries with bytes flipped, cut short or extended: the inputs most likely to reach deep into the parser. */
function mutants(count: number): Buffer[] {
  const seeds = [
    encodeQuery('chat.blocked.test', TYPES.A),
    encodeQuery('www.example.com', TYPES.AAAA, { edns: 1232, dnssecOk: true }),
    encodeQuery('x.example', TYPES.HTTPS, { edns: 4096 }),
  ];
  const arb = fc.tuple(fc.nat(seeds.length - 1), fc.array(fc.tuple(fc.nat(80), fc.nat(255)), { maxLength: 6 }), fc.integer({ min: -20, max: 20 }));
  return fc.sample(arb, { numRuns: count, seed: 42 }).map(([seed, flips, resize]) => {
    const msg = Buffer.from(seeds[seed]);
    for (const [at, value] of flips) if (at < msg.length) msg[at] = value;
    return resize < 0 ? msg.subarray(0, Math.max(0, msg.length + resize)) : Buffer.concat([msg, Buffer.alloc(resize, 0xc0)]);
  });
}

describe('robustness', () => {
  it('survives thousands of random and mutated datagrams and answers normally afterwards', async () => {
    const randoms = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 600 }), { numRuns: 2000, seed: 7 }).map((b) => Buffer.from(b));
    const packets = [...randoms, ...mutants(3000)];
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    for (let i = 0; i < packets.length; i++) {
      sock.send(packets[i], d.port, '127.0.0.1');
      if (i % 200 === 0) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 500));
    sock.close();
    const stats = d.daemon.resolver.stats;
    expect(stats.errors).toBe(0);
    expect(stats.formerr + stats.dropped).toBeGreaterThan(1000);
    expect((await query(d.port, 'after-fuzz.example')).rcode).toBe(0);
    expect((await query(d.port, 'blocked.test')).rcode).toBe(3);
  });

  it('a malformed TCP frame closes only its connection, after answering the good query before it', async () => {
    upstream.behave = () => ({ kind: 'delay', ms: 100 });
    const good = encodeQuery('before-bad-frame.example', TYPES.A, { id: 99 });
    const frames = Buffer.concat([Buffer.from([0, good.length]), good, Buffer.from([0, 3, 1, 2, 3])]);
    const { replies, closed } = await new Promise<{ replies: Buffer[]; closed: boolean }>((resolve) => {
      const sock = connect({ host: '127.0.0.1', port: d.port });
      let buf = Buffer.alloc(0);
      sock.on('connect', () => sock.write(frames));
      sock.on('data', (c) => (buf = Buffer.concat([buf, c])));
      sock.on('close', () => {
        const replies: Buffer[] = [];
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          replies.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
          buf = buf.subarray(2 + buf.readUInt16BE(0));
        }
        resolve({ replies, closed: true });
      });
    });
    upstream.behave = () => ({ kind: 'answer' });
    expect(closed).toBe(true);
    expect(replies).toHaveLength(1);
    expect(replies[0].readUInt16BE(0)).toBe(99);
    // Other clients are unaffected.
    expect((await query(d.port, 'other-client.example', TYPES.A, { tcp: true })).rcode).toBe(0);
  });

  it('answers FORMERR when the header is readable but the question is not', async () => {
    const msg = encodeQuery('example.com', TYPES.A, { id: 0x4d4d });
    const broken = msg.subarray(0, msg.length - 3);
    const reply = await exchange(d.port, broken);
    expect(reply.readUInt16BE(0)).toBe(0x4d4d);
    expect(reply[3] & 0x0f).toBe(1);
  });

  it('answers SERVFAIL when handling a query throws, and keeps serving', async () => {
    const state = d.daemon.resolver.state;
    // Fault injection: a matcher that throws on one name stands in for any bug on the query path.
    const matcher = Object.create(state.matcher) as typeof state.matcher;
    matcher.matchWire = (buf, offset) => {
      if (Buffer.from(buf).includes(Buffer.from('boom'))) throw new Error('injected');
      return state.matcher.matchWire(buf, offset);
    };
    d.daemon.resolver.state = { ...state, matcher };
    try {
      const errorsBefore = d.daemon.resolver.stats.errors;
      expect((await query(d.port, 'boom.example')).rcode).toBe(2);
      expect(d.daemon.resolver.stats.errors).toBe(errorsBefore + 1);
      expect((await query(d.port, 'fine.example')).rcode).toBe(0);
    } finally {
      d.daemon.resolver.state = state;
    }
  });
});
