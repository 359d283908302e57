// Rate limiter micro-benchmark: what `RateLimiter.check` adds to each UDP
// query, and whether it allocates, for the client mixes that matter.
//
//   npx tsx bench/ratelimit.ts            a table
//   npx tsx bench/ratelimit.ts --json     one JSON line per scenario
//
// Each scenario runs over a preallocated array of address strings (Node
// makes that string for every datagram anyway). The baseline walks the same
// array doing nothing but reading each string's length. ns/check is CPU
// time (not wall time: the machine is shared), the best of a few rounds,
// minus the baseline; "minor GCs" counts scavenges during the timed rounds
// (0: nothing was allocated per check).

import { PerformanceObserver, constants } from 'node:perf_hooks';
import { rateLimitSection } from '../src/control/config/ratelimit.js';
import { RateLimiter } from '../src/data/resolve/ratelimit.js';

const CHECKS = 2_000_000;
const ROUNDS = 5;
const json = process.argv.includes('--json');

let scavenges = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
}).observe({ entryTypes: ['gc'] });

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(7);
const byte = () => Math.floor(random() * 256);
const hex = () => Math.floor(random() * 65536).toString(16);

const repeat = (pool: string[]): string[] => Array.from({ length: CHECKS }, (_, i) => pool[i % pool.length]);

const SCENARIOS: { name: string; what: string; addresses: string[]; config: unknown }[] = [
  { name: 'off', what: 'rateLimit: off', addresses: repeat(['10.0.0.1']), config: 'off' },
  { name: 'exempt', what: 'loopback client, exempt by default', addresses: repeat(['127.0.0.1']), config: {} },
  { name: 'office-v4', what: '500 IPv4 clients in turn, under their rate', addresses: repeat(Array.from({ length: 500 }, (_, i) => `10.1.${i >> 8}.${i & 255}`)), config: { qps: 1_000_000, burst: 1_000_000 } },
  { name: 'office-v6', what: '500 IPv6 clients in turn, under their rate', addresses: repeat(Array.from({ length: 500 }, () => `2001:db8:${hex()}:${hex()}:${hex()}:${hex()}:${hex()}:${hex()}`)), config: { qps: 1_000_000, burst: 1_000_000 } },
  { name: 'flooder', what: 'one IPv4 client far over its rate (limited)', addresses: repeat(['10.9.9.9']), config: {} },
  { name: 'forged', what: 'a new forged IPv4 source every query (table full, evicting)', addresses: Array.from({ length: CHECKS }, () => `${byte()}.${byte()}.${byte()}.${byte()}`), config: { exempt: [] } },
];

/** CPU nanoseconds per address (CPU time, not wall time: the machine is shared). */
function cpuNs(addresses: string[], run: (addresses: string[]) => number): number {
  const before = process.cpuUsage();
  const sink = run(addresses);
  const used = process.cpuUsage(before);
  if (sink === -1) console.log(sink); // keep the loop from being optimised away
  return ((used.user + used.system) * 1000) / addresses.length;
}

function baseline(addresses: string[]): number {
  let sink = 0;
  for (let i = 0; i < addresses.length; i++) sink += addresses[i].length;
  return sink;
}

function checks(limiter: RateLimiter, addresses: string[]): number {
  let sink = 0;
  for (let i = 0; i < addresses.length; i++) sink += limiter.check(addresses[i]);
  return sink;
}

const results: { scenario: string; what: string; nsPerCheck: number; minorGcs: number; clients: number; evictions: number }[] = [];
for (const s of SCENARIOS) {
  const limiter = new RateLimiter(rateLimitSection(s.config));
  const baselineNs = Math.min(...Array.from({ length: ROUNDS }, () => cpuNs(s.addresses, baseline)));
  cpuNs(s.addresses, (a) => checks(limiter, a)); // warm up: JIT, and the table filled as it would be in service
  await new Promise((r) => setTimeout(r, 50)); // let the warm-up's GC entries arrive before counting
  scavenges = 0;
  const ns = Math.min(...Array.from({ length: ROUNDS }, () => cpuNs(s.addresses, (a) => checks(limiter, a))));
  await new Promise((r) => setTimeout(r, 50));
  limiter.close();
  results.push({ scenario: s.name, what: s.what, nsPerCheck: Math.max(0, ns - baselineNs), minorGcs: scavenges, clients: limiter.clients, evictions: limiter.counts.evictions });
}

if (json) {
  for (const r of results) console.log(JSON.stringify({ ...r, nsPerCheck: Math.round(r.nsPerCheck * 10) / 10 }));
} else {
  console.log(`RateLimiter.check, ${CHECKS.toLocaleString('en-US')} checks a round, best of ${ROUNDS}, Node ${process.versions.node}\n`);
  console.log('scenario    ns/check  minor GCs  clients  evictions  what');
  for (const r of results) {
    console.log(
      `${r.scenario.padEnd(11)} ${r.nsPerCheck.toFixed(1).padStart(8)}  ${String(r.minorGcs).padStart(9)}  ${String(r.clients).padStart(7)}  ${String(r.evictions).padStart(9)}  ${r.what}`,
    );
  }
}
