// Cache hit rates with worker threads: one cache shared by every worker, or
// one per worker. With `reusePort` the kernel hands each client socket to one
// worker, so a per-worker cache only ever sees its own clients' names.
// Simulated here with the real AnswerCache and a synthetic workload: clients
// asking names drawn from one Zipf popularity law (as DNS traffic roughly
// is), no TTL expiry, clients spread over the workers by hash.
//
//   npx tsx bench/cache-share.ts [--json] [--queries N] [--names N] [--alpha A]

import { parseArgs } from 'node:util';
import { AnswerCache } from '../src/data/resolve/cache.js';
import type { Matcher } from '../src/match/types.js';
import { readReplyShape } from '../src/wire/records.js';
import { prng } from './lib/data.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    queries: { type: 'string', default: '2000000' },
    names: { type: 'string', default: '1000000' },
    alpha: { type: 'string', default: '0.9' },
    clients: { type: 'string', default: '500' },
  },
});
const QUERIES = Number(values.queries);
const NAMES = Number(values.names);
const ALPHA = Number(values.alpha);
const CLIENTS = Number(values.clients);

// One upstream reply shape, reused: what is measured is which keys hit, not the bytes.
const msg = Buffer.from([0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 1]);
const shape = readReplyShape(msg, 19)!;
const matcher = { matchWire: () => 0 } as unknown as Matcher;
const NO_MASKS = new Int32Array(0);

// Zipf: rank r asked with weight 1 / r^alpha.
const cdf = new Float64Array(NAMES);
let total = 0;
for (let r = 0; r < NAMES; r++) cdf[r] = total += 1 / Math.pow(r + 1, ALPHA);
function draw(u: number): number {
  const x = u * total;
  let lo = 0;
  let hi = NAMES - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function run(workers: number, entriesEach: number, shared: boolean): number {
  const make = () => new AnswerCache({ maxEntries: entriesEach, maxSize: 256 * 1024 ** 2, minTtl: 0, maxTtl: 86400, serveStale: null, now: () => 0 });
  const one = make();
  const caches = Array.from({ length: workers }, () => (shared ? one : make()));
  const rand = prng(7);
  let hits = 0;
  for (let i = 0; i < QUERIES; i++) {
    const client = Math.floor(rand() * CLIENTS);
    const cache = caches[(Math.imul(client, 0x9e3779b1) >>> 0) % workers];
    const key = `n${draw(rand())}`;
    if (cache.lookup(key, matcher) !== undefined) hits++;
    else cache.store(key, msg, shape, NO_MASKS, matcher);
  }
  return hits / QUERIES;
}

const rows = [
  { setup: '1 worker, 100k cache', rate: run(1, 100_000, true) },
  { setup: '2 workers, one shared 100k cache', rate: run(2, 100_000, true) },
  { setup: '2 workers, 100k cache each (twice the memory)', rate: run(2, 100_000, false) },
  { setup: '2 workers, 50k cache each (the same memory)', rate: run(2, 50_000, false) },
  { setup: '4 workers, 25k cache each (the same memory)', rate: run(4, 25_000, false) },
];
if (values.json) for (const r of rows) console.log(JSON.stringify({ ...r, rate: Number(r.rate.toFixed(4)) }));
else {
  console.log(`${QUERIES.toLocaleString('en-US')} queries, ${CLIENTS} clients, ${NAMES.toLocaleString('en-US')} names, Zipf alpha ${ALPHA}`);
  for (const r of rows) console.log(`${r.setup.padEnd(48)} hit rate ${(r.rate * 100).toFixed(1)}%`);
}
