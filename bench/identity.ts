// What naming clients costs, each figure beside its baseline in the same run:
//  - the query log writing lines with clientName looked up in an identity
//    table of 10,000 leases (a dnsmasq file), against the same log with no
//    names: lines per second and the ratio;
//  - the resolver answering a blocked query that names a device a group
//    lists, against the same query without a device: ns per query.
// Rounds alternate so that a busy machine hurts both sides alike.
// Run: npm run bench:identity [-- lines (200000)]

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFromText } from '../src/control/config/load.js';
import { Daemon } from '../src/control/daemon.js';
import { Identity } from '../src/control/identity/identity.js';
import type { ClientNames } from '../src/control/identity/who.js';
import { QueryLog } from '../src/control/observe/querylog.js';
import { QueryEvent } from '../src/shared/events.js';
import { createLogger } from '../src/shared/logger.js';
import type { Transport } from '../src/data/resolve/resolver.js';
import { encodeQuery } from '../test/support/client.js';
import { EMPTY_CATALOGUE } from '../test/support/daemon.js';

const LINES = Number(process.argv[2] ?? 200_000);
const LEASES = 10_000;
const ROUNDS = 3;
const log = createLogger({ level: 'silent', destination: { write: () => undefined } });
const dir = mkdtempSync(join(tmpdir(), 'aifence-bench-identity-'));
const client = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

// 10,000 leases, as dnsmasq writes them.
const expiry = Math.floor(Date.now() / 1000) + 3600;
writeFileSync(join(dir, 'dnsmasq.leases'), Array.from({ length: LEASES }, (_, i) => `${expiry} 52:54:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')} ${client(i)} host-${i} *`).join('\n') + '\n');
const identity = await Identity.start({ leases: [{ path: join(dir, 'dnsmasq.leases'), format: 'dnsmasq' }], hosts: [], reverse: null }, log, { watch: false, reverse: false });
const named: ClientNames = (address, time) => identity.nameAt(address, time);

/** Lines per second for the query log writing LINES lines, with or without names. */
async function logRate(names: ClientNames | undefined, round: number): Promise<number> {
  // Room for every line: the ring holds them all, and close() serialises and writes them in batches.
  const qlog = new QueryLog({ mode: 'all', path: join(dir, `q-${names ? 'named' : 'plain'}-${round}.jsonl`), maxSize: 1 << 30, keep: 0, anonymize: false }, log, { capacity: LINES, flushMs: 60_000, names });
  const msg = encodeQuery('chat.deepseek.com', 1);
  const e = new QueryEvent();
  Object.assign(e, { group: 'default', verdict: 'blocked', list: 'service:deepseek', rcode: 3, msg, questionEnd: msg.length, qtype: 1 });
  const start = performance.now();
  for (let i = 0; i < LINES; i++) {
    e.time = Date.now();
    e.client = client(i % (LEASES * 2)); // half of them leased, half not
    qlog.observe(e);
  }
  await qlog.close();
  const ms = performance.now() - start;
  return (qlog.written / ms) * 1000;
}

/** ns per blocked query answered through the resolver, with the device given or not. */
async function resolverCost(daemon: Daemon, device: string): Promise<number> {
  const msg = encodeQuery('chat.ai.example', 1);
  const transport: Transport = { udp: true, kind: 'udp', device, send: () => undefined };
  const r = daemon.resolver;
  const n = 300_000;
  for (let i = 0; i < 20_000; i++) r.handle(msg, client(i & 255), 5353, transport);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) r.handle(msg, client(i & 255), 5353, transport);
  return Number(process.hrtime.bigint() - start) / n;
}

writeFileSync(join(dir, 'ai.txt'), 'chat.ai.example\n');
const config = configFromText(
  'listen: ["127.0.0.1:0"]\nadmin: { listen: off }\nupstream: { servers: ["127.0.0.1:9"] }\nlists:\n  ai: { source: ai.txt }\ngroups:\n  default: { block: [list:ai] }\n  phones: { devices: [alice-phone], block: [list:ai] }\n',
  join(dir, 'aifence.yaml'),
);
const daemon = await Daemon.start(config, { log, catalogue: EMPTY_CATALOGUE, watch: false });

/** A full collection between phases when the run allows it (--expose-gc), so one phase's garbage is not the next one's cost. */
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const rows: { round: number; plain: number; named: number; noDevice: number; device: number }[] = [];
for (let round = 0; round < ROUNDS; round++) {
  // A B B A within each round: drift over the round hurts both sides alike.
  const cost = async (device: string) => (gc(), resolverCost(daemon, device));
  // The first run after a phase change is slow whatever it measures (seen in every round): one run is thrown away first.
  await cost('');
  const [d1, d2, d3, d4] = [await cost(''), await cost('alice-phone'), await cost('alice-phone'), await cost('')];
  const rate = async (names: ClientNames | undefined, k: number) => (gc(), logRate(names, round * 5 + k));
  await rate(undefined, 4);
  const [l1, l2, l3, l4] = [await rate(undefined, 0), await rate(named, 1), await rate(named, 2), await rate(undefined, 3)];
  if (process.env.BENCH_RAW) console.log(JSON.stringify({ d1, d2, d3, d4, l1, l2, l3, l4 }));
  rows.push({ round, plain: (l1 + l4) / 2, named: (l2 + l3) / 2, noDevice: (d1 + d4) / 2, device: (d2 + d3) / 2 });
}
await daemon.stop();
identity.close();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const plain = median(rows.map((r) => r.plain));
const withNames = median(rows.map((r) => r.named));
const noDevice = median(rows.map((r) => r.noDevice));
const device = median(rows.map((r) => r.device));
for (const r of rows) console.log(JSON.stringify(r, (_, v) => (typeof v === 'number' ? Math.round(v) : v)));
console.log(`query log, ${LINES} lines, half the clients among ${LEASES} leases: ${Math.round(plain)} lines/s without names, ${Math.round(withNames)} with (x${(withNames / plain).toFixed(2)})`);
console.log(`resolver, blocked answer: ${Math.round(noDevice)} ns/q without a device, ${Math.round(device)} ns/q with a listed one (x${(device / noDevice).toFixed(2)})`);
