// The slab cache on its own: records survive the ring wrapping around, the
// bounds (entries, bytes, oversize answers) hold, keys that share a hash are
// told apart and deleted without breaking anyone's probe chain, and the
// rules of the old cache (TTL countdown, clamps, serve-stale, no failures)
// still apply.

import { describe, expect, it } from 'vitest';
import { TYPES, encodeQuery } from '../../../test/support/client.js';
import { aRecord, questionLength, reply, txtRecord } from '../../../test/support/raw-upstream.js';
import type { Matcher } from '../../match/types.js';
import { Query, parseQuery, ParseResult } from '../../wire/message.js';
import { readReplyShape } from '../../wire/records.js';
import { AnswerCache, type CacheOptions, cacheKey } from './cache.js';

let clock = 0;
const options = (o: Partial<CacheOptions> = {}): CacheOptions => ({
  maxEntries: 1000,
  maxSize: 1024 * 1024,
  minTtl: 0,
  maxTtl: 86400,
  serveStale: null,
  now: () => clock,
  ...o,
});
const matcherOf = (mask: number) => ({ matchWire: () => mask }) as unknown as Matcher;
const M = matcherOf(0);

interface Asked {
  query: Buffer;
  q: Query;
  key: string;
}

function ask(name: string, type: number = TYPES.A): Asked {
  const query = encodeQuery(name, type);
  const q = new Query();
  expect(parseQuery(query, q)).toBe(ParseResult.Ok);
  return { query, q: Object.assign(new Query(), q), key: cacheKey(query, q) };
}

/** Stores the upstream reply `answers` for `name`; returns what the client asked. */
function put(cache: AnswerCache, name: string, answers: Buffer[], rcode = 0, matcher = M, type: number = TYPES.A): Asked {
  const a = ask(name, type);
  const msg = reply(a.query, { answers, rcode });
  const shape = readReplyShape(msg, 12 + questionLength(a.query))!;
  cache.store(a.key, msg, shape, new Int32Array(0), matcher);
  return a;
}

const addressIn = (out: Buffer) => out.subarray(out.length - 4).join('.');
const ttlIn = (out: Buffer) => out.readUInt32BE(out.length - 10);

function hit(cache: AnswerCache, a: Asked, matcher = M): Buffer | undefined {
  const entry = cache.lookup(a.key, matcher);
  return entry === undefined ? undefined : cache.answer(entry, a.query, a.q);
}

describe('answer cache slab', () => {
  it('gives back the bytes stored, with the ID and question case of the query, TTLs counted down and clamped', () => {
    clock = 0;
    const cache = new AnswerCache(options({ minTtl: 60, maxTtl: 3600 }));
    const a = put(cache, 'one.example', [aRecord('192.0.2.7', 300)]);
    put(cache, 'short.example', [aRecord('192.0.2.8', 5)]);
    put(cache, 'long.example', [aRecord('192.0.2.9', 99999)]);
    clock = 10_500;
    const mixed = ask('ONE.Example');
    const out = cache.answer(cache.lookup(mixed.key, M)!, mixed.query, mixed.q);
    expect(out.readUInt16BE(0)).toBe(mixed.q.id);
    expect(out.subarray(12, 12 + questionLength(mixed.query))).toEqual(mixed.query.subarray(12, 12 + questionLength(mixed.query)));
    expect(addressIn(out)).toBe('192.0.2.7');
    expect(ttlIn(out)).toBe(290);
    expect(ttlIn(hit(cache, ask('short.example'))!)).toBe(50); // raised to minTtl 60
    expect(ttlIn(hit(cache, ask('long.example'))!)).toBe(3590); // cut to maxTtl 3600
    expect(hit(cache, a)).toBeDefined();
    expect(cache.hits).toBe(4);
  });

  it('never keeps a failure, nor a negative answer without a TTL', () => {
    const cache = new AnswerCache(options());
    const failed = put(cache, 'fail.example', [], 2);
    const nx = put(cache, 'nx.example', [], 3);
    expect(cache.lookup(failed.key, M)).toBeUndefined();
    expect(cache.lookup(nx.key, M)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('keeps an expired answer through the stale window only, then forgets it', () => {
    clock = 0;
    const cache = new AnswerCache(options({ serveStale: { maxStale: 60 } }));
    const a = put(cache, 'stale.example', [aRecord('192.0.2.1', 10)]);
    clock = 30_000;
    const entry = cache.lookup(a.key, M)!;
    expect(cache.isFresh(entry)).toBe(false);
    expect(ttlIn(cache.answerStale(entry, a.query, a.q))).toBe(30);
    clock = 71_000;
    expect(cache.lookup(a.key, M)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('keeps every record intact while the ring wraps around many times, within maxSize', () => {
    const cache = new AnswerCache(options({ maxSize: 64 * 1024, maxEntries: 100_000 }));
    const stored: Asked[] = [];
    for (let i = 0; i < 5000; i++) {
      // Sizes vary so that records end at every alignment and the wrap point moves.
      stored.push(put(cache, `w${i}.example`, [aRecord(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`), txtRecord(i % 300)], 0, M, TYPES.TXT));
      expect(cache.bytes).toBeLessThanOrEqual(64 * 1024);
    }
    expect(cache.size).toBeGreaterThan(50);
    let found = 0;
    for (let i = 0; i < stored.length; i++) {
      const entry = cache.lookup(stored[i].key, M);
      if (entry === undefined) continue;
      found++;
      const out = cache.answer(entry, stored[i].query, stored[i].q);
      expect(out.subarray(out.indexOf(Buffer.from([0, 1, 0, 1, 0, 0, 1, 44, 0, 4])) + 10).subarray(0, 4).join('.')).toBe(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    }
    expect(found).toBe(cache.size);
    // The newest answers are the ones kept.
    expect(cache.lookup(stored[4999].key, M)).toBeDefined();
    expect(cache.lookup(stored[0].key, M)).toBeUndefined();
  });

  it('touches no more of the slab than the entries it holds need: a full cache that keeps evicting reuses the room it freed', () => {
    // 100k answers are ~20 MB; the ring used to grow on through all of a 64 MB slab under unique misses (RSS +40 MB).
    for (const maxEntries of [1000, 20_000]) {
      const cache = new AnswerCache(options({ maxEntries, maxSize: 16 * 1024 * 1024 }));
      const stored: Asked[] = [];
      for (let i = 0; i < 100_000; i++) stored.push(put(cache, `t${i}.example`, [aRecord('192.0.2.1')]));
      expect(cache.size).toBe(maxEntries);
      expect(cache.touched).toBeLessThanOrEqual(cache.bytes + 2 * 1024 * 1024);
      for (let i = 100_000 - maxEntries; i < 100_000; i += 97) expect(hit(cache, stored[i])).toBeDefined();
    }
  });

  it('holds maxEntries at most, evicting the oldest, but gives an answer hit since it was stored a second chance', () => {
    const cache = new AnswerCache(options({ maxEntries: 10 }));
    const stored = Array.from({ length: 10 }, (_, i) => put(cache, `e${i}.example`, [aRecord('192.0.2.1')]));
    expect(hit(cache, stored[0])).toBeDefined();
    put(cache, 'e10.example', [aRecord('192.0.2.1')]);
    expect(cache.size).toBe(10);
    expect(hit(cache, stored[0])).toBeDefined(); // hit: moved to the head
    expect(hit(cache, stored[1])).toBeUndefined(); // the oldest not hit
    for (let i = 11; i < 40; i++) put(cache, `e${i}.example`, [aRecord('192.0.2.1')]);
    expect(cache.size).toBe(10);
    for (let i = 30; i < 40; i++) expect(hit(cache, ask(`e${i}.example`))).toBeDefined();
  });

  it('does not keep an answer bigger than an eighth of the cache, and drops the older answer it replaces', () => {
    const cache = new AnswerCache(options({ maxSize: 64 * 1024 }));
    const small = put(cache, 'big.example', [txtRecord(100)], 0, M, TYPES.TXT);
    expect(cache.lookup(small.key, M)).toBeDefined();
    const big = put(cache, 'big.example', [txtRecord(9000)], 0, M, TYPES.TXT);
    expect(cache.lookup(big.key, M)).toBeUndefined();
    expect(cache.size).toBe(0);
    expect(put(cache, 'fits.example', [txtRecord(7000)], 0, M, TYPES.TXT)).toBeDefined();
    expect(cache.size).toBe(1);
  });

  it('tells apart keys with the same hash, and removing one keeps the others found', () => {
    clock = 0;
    const cache = new AnswerCache(options({ maxEntries: 64 }));
    (cache as unknown as { hash: () => number }).hash = () => 12345;
    const stored = Array.from({ length: 30 }, (_, i) => put(cache, `c${i}.example`, [aRecord(`192.0.2.${i}`, i % 2 === 0 ? 10 : 300)]));
    for (let i = 0; i < 30; i++) expect(addressIn(hit(cache, stored[i])!)).toBe(`192.0.2.${i}`);
    clock = 20_000; // the even ones expire and are removed on their next lookup
    for (let i = 0; i < 30; i += 2) expect(cache.lookup(stored[i].key, M)).toBeUndefined();
    expect(cache.size).toBe(15);
    for (let i = 1; i < 30; i += 2) expect(addressIn(hit(cache, stored[i])!)).toBe(`192.0.2.${i}`);
  });

  it('recomputes the CNAME-target masks when a lookup brings a new matcher', () => {
    const cache = new AnswerCache(options());
    const a = ask('alias.example');
    const target = Buffer.from([4, 99, 104, 97, 116, 7, 101, 120, 97, 109, 112, 108, 101, 0]); // chat.example
    const cname = Buffer.concat([Buffer.from([0xc0, 12, 0, 5, 0, 1, 0, 0, 1, 44, 0, target.length]), target]);
    const msg = reply(a.query, { answers: [cname] });
    const shape = readReplyShape(msg, 12 + questionLength(a.query))!;
    expect(shape.targets.length).toBe(1);
    cache.store(a.key, msg, shape, Int32Array.of(5), M);
    expect([...cache.lookup(a.key, M)!.targetMasks]).toEqual([5]);
    expect([...cache.lookup(a.key, matcherOf(9))!.targetMasks]).toEqual([9]);
    expect([...cache.lookup(a.key, matcherOf(0))!.targetMasks]).toEqual([]);
  });

  it('clear forgets every answer, and the cache fills again', () => {
    const cache = new AnswerCache(options({ maxSize: 64 * 1024 }));
    const stored = Array.from({ length: 600 }, (_, i) => put(cache, `k${i}.example`, [aRecord('192.0.2.1')]));
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
    for (const a of stored) expect(cache.lookup(a.key, M)).toBeUndefined();
    put(cache, 'k1.example', [aRecord('192.0.2.2')]);
    expect(addressIn(hit(cache, stored[1])!)).toBe('192.0.2.2');
  });

  it('never gives a wrong or expired answer through random stores, replacements, hits and expiries', () => {
    clock = 0;
    const rand = (() => {
      let a = 12345;
      return () => ((a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 4294967296);
    })();
    const cache = new AnswerCache(options({ maxSize: 64 * 1024, maxEntries: 300 }));
    const model = new Map<number, { address: string; expires: number }>();
    for (let step = 0; step < 20_000; step++) {
      const k = Math.floor(rand() * 800);
      const a = ask(`r${k}.example`, TYPES.TXT);
      clock += Math.floor(rand() * 50);
      if (rand() < 0.4) {
        const address = `10.0.${k >> 8}.${k & 255}`;
        const ttl = 1 + Math.floor(rand() * 60);
        const msg = reply(a.query, { answers: [aRecord(address, ttl), txtRecord(Math.floor(rand() * 1500))] });
        cache.store(a.key, msg, readReplyShape(msg, 12 + questionLength(a.query))!, new Int32Array(0), M);
        model.set(k, { address, expires: clock + ttl * 1000 });
      } else {
        const entry = cache.lookup(a.key, M);
        if (entry !== undefined) {
          const want = model.get(k)!;
          expect(clock).toBeLessThan(want.expires);
          const out = cache.answer(entry, a.query, a.q);
          expect(out.subarray(12 + questionLength(a.query) + 12, 12 + questionLength(a.query) + 16).join('.')).toBe(want.address);
        }
      }
      expect(cache.size).toBeLessThanOrEqual(300);
      expect(cache.bytes).toBeLessThanOrEqual(64 * 1024);
    }
  });

  it('a detached entry outlives its record', () => {
    const cache = new AnswerCache(options({ maxEntries: 4 }));
    const a = put(cache, 'keep.example', [aRecord('192.0.2.77')]);
    const kept = cache.detach(cache.lookup(a.key, M)!);
    cache.clear();
    for (let i = 0; i < 10; i++) put(cache, `x${i}.example`, [aRecord('192.0.2.1')]);
    expect(addressIn(cache.answerStale(kept, a.query, a.q))).toBe('192.0.2.77');
  });
});

describe('answer cache shared by threads', () => {
  it('gives every thread the answer stored for its name while threads store and evict at once (no torn or mixed records)', async () => {
    const { Worker } = await import('node:worker_threads');
    // Small enough that the ring wraps and evicts many times over.
    const cache = new AnswerCache({ maxEntries: 2000, maxSize: 256 * 1024, minTtl: 0, maxTtl: 86400, serveStale: null });
    const hammer = new URL('../../../test/support/cache-hammer.ts', import.meta.url).href;
    const run = (owner: number) =>
      new Promise<{ hits: number; wrong: number }>((resolve, reject) => {
        const w = new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(hammer)}); })`, {
          eval: true,
          workerData: { memory: cache.memory, owner, names: 5000, rounds: 200_000 },
        });
        w.once('message', resolve);
        w.once('error', reject);
      });
    const results = await Promise.all([run(1), run(2), run(3)]);
    for (const r of results) {
      expect(r.wrong).toBe(0);
      expect(r.hits).toBeGreaterThan(10_000);
    }
    // The counters are shared: this thread sees what the others did.
    expect(cache.hits).toBe(results.reduce((n, r) => n + r.hits, 0));
    expect(cache.size).toBeLessThanOrEqual(2000);
    expect(cache.bytes).toBeLessThanOrEqual(256 * 1024);
  }, 60_000);
});
