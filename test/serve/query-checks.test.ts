// What a client may send, and what it may get back: malformed or abusive
// queries get FORMERR from aifence (never passed upstream), ANY gets RFC
// 8482's minimal answer, no UDP answer exceeds the 1232-byte cap however
// much the client advertises, work in flight is bounded, and the health
// probe is answered by aifence itself.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TYPES, decode, encodeQuery, exchange, query } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { RawUpstream, aRecord, optRecord, reply, txtRecord } from '../support/raw-upstream.js';

let upstream: RawUpstream;
let d: TestDaemon;

beforeAll(async () => {
  upstream = await RawUpstream.start();
  d = await startDaemon('upstream: { servers: [UP], timeout: 1s, maxConcurrent: 3 }\ncache: { serveStale: off }\n'.replace('UP', upstream.address), []);
});
afterAll(async () => {
  await d.stop();
  await upstream.close();
});

/** A valid query with one thing changed by `edit`. */
function oddQuery(edit: (msg: Buffer) => Buffer): Buffer {
  return edit(encodeQuery('odd.example', TYPES.A, { id: 0x0dd0, edns: 1232 }));
}

describe('client queries checked before anything is forwarded', () => {
  const cases: [string, Buffer][] = [
    ['two OPT records', oddQuery((m) => {
      const two = Buffer.concat([m, optRecord()]);
      two.writeUInt16BE(2, 10);
      return two;
    })],
    ['an OPT owned by a name other than the root', oddQuery((m) => {
      const opt = Buffer.concat([Buffer.from([1, 0x61, 0]), optRecord().subarray(1)]);
      return Buffer.concat([m.subarray(0, m.length - 11), opt]);
    })],
    ['an option whose length runs past the OPT', oddQuery((m) => {
      const opt = optRecord([[10, Buffer.alloc(8)]]);
      opt.writeUInt16BE(200, 13); // option length 200 in a 12-byte rdata
      return Buffer.concat([m.subarray(0, m.length - 11), opt]);
    })],
    ['an answer record in the query', oddQuery((m) => {
      const q = Buffer.concat([m.subarray(0, m.length - 11), aRecord('192.0.2.66'), m.subarray(m.length - 11)]);
      q.writeUInt16BE(1, 6);
      return q;
    })],
    ['an authority record in the query', oddQuery((m) => {
      const q = Buffer.concat([m.subarray(0, m.length - 11), aRecord('192.0.2.66'), m.subarray(m.length - 11)]);
      q.writeUInt16BE(1, 8);
      return q;
    })],
    ['rcode bits set in the query', oddQuery((m) => ((m[3] |= 0x03), m))],
  ];
  for (const [what, msg] of cases) {
    it(`FORMERR at once for ${what}, and nothing goes upstream`, async () => {
      const before = upstream.queries.length;
      const out = await exchange(d.port, msg, { timeoutMs: 800 });
      expect(out.readUInt16BE(0)).toBe(0x0dd0);
      expect(out[3] & 0x0f).toBe(1);
      expect(upstream.queries.length).toBe(before);
    });
  }

  it('zone transfers are refused and the OPT type is no question', async () => {
    expect((await query(d.port, 'zone.example', 252, { tcp: true })).rcode).toBe(5);
    expect((await query(d.port, 'zone.example', 41)).rcode).toBe(1);
  });
});

describe('answer sizes', () => {
  it('ANY gets one synthesised HINFO (RFC 8482), not the name’s data, and is not forwarded', async () => {
    const before = upstream.queries.length;
    const a = await query(d.port, 'any.example', TYPES.ANY, { edns: 65535 });
    expect(a.rcode).toBe(0);
    expect(a.raw.length).toBeLessThan(100);
    expect(a.raw.readUInt16BE(6)).toBe(1);
    expect(a.packet.answers[0].type).toBe(13);
    expect(upstream.queries.length).toBe(before);
  });

  it('no UDP answer exceeds 1232 bytes whatever the client advertises: TC from upstream and from the cache; TCP gets it whole', async () => {
    upstream.respond = (q) => reply(q, { answers: [txtRecord(5000)] });
    const viaUdp = await exchange(d.port, encodeQuery('huge.example', TYPES.TXT, { edns: 65535 }));
    expect(viaUdp.length).toBeLessThanOrEqual(1232);
    expect(viaUdp[2] & 0x02).toBe(2);
    const viaTcp = await query(d.port, 'huge.example', TYPES.TXT, { edns: 65535, tcp: true });
    expect(viaTcp.raw.length).toBeGreaterThan(5000);
    const fromCache = await exchange(d.port, encodeQuery('huge.example', TYPES.TXT, { edns: 65535 }));
    expect(fromCache.length).toBeLessThanOrEqual(1232);
    expect(fromCache[2] & 0x02).toBe(2);
    // Within the cap it is answered whole.
    upstream.respond = (q) => reply(q, { answers: [txtRecord(1000)] });
    const fits = await exchange(d.port, encodeQuery('fits.example', TYPES.TXT, { edns: 65535 }));
    expect(fits[2] & 0x02).toBe(0);
    expect(fits.length).toBeGreaterThan(1000);
    upstream.respond = (q) => reply(q, { answers: [aRecord('192.0.2.1')] });
  });
});

describe('bounded work in flight', () => {
  it('beyond upstream.maxConcurrent distinct questions, new ones get SERVFAIL at once, counted', async () => {
    upstream.respond = () => null; // a silent upstream: everything waits for the 1 s timeout
    const overloadedBefore = d.daemon.resolver.stats.overloaded;
    const waiting = [1, 2, 3].map((i) => query(d.port, `wait${i}.example`, TYPES.A, { timeoutMs: 3000 }));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    const over = await query(d.port, 'one-too-many.example', TYPES.A, { timeoutMs: 3000 });
    expect(over.rcode).toBe(2);
    expect(performance.now() - t0).toBeLessThan(500); // answered at once, not after the upstream timeout
    expect(d.daemon.resolver.stats.overloaded).toBe(overloadedBefore + 1);
    expect((await d.daemon.scrape()).body).toMatch(new RegExp(`aifence_upstream_overloaded_total ${overloadedBefore + 1}\\b`));
    expect((await Promise.all(waiting)).map((a) => a.rcode)).toEqual([2, 2, 2]);
    upstream.respond = (q) => reply(q, { answers: [aRecord('192.0.2.1')] });
  });
});

describe('health probe', () => {
  it('health.aifence.invalid is answered NOERROR by aifence itself, in any case, even with the upstream silent', async () => {
    upstream.respond = () => null;
    const before = upstream.queries.length;
    const a = await query(d.port, 'Health.AIFENCE.invalid', TYPES.A, { timeoutMs: 500 });
    expect(a.rcode).toBe(0);
    expect(decode(a.raw).packet.questions[0].name).toBe('Health.AIFENCE.invalid');
    expect(upstream.queries.length).toBe(before);
    upstream.respond = (q) => reply(q, { answers: [aRecord('192.0.2.1')] });
  });
});
