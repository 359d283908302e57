// A/B of aifence variants: what one factor costs per query. Every variant
// is up at once (same list, same nsd upstream), and each round runs each
// scenario against every variant in turn, the order rotating, so a machine
// whose load drifts weighs on all alike; medians are reported, with each
// variant's difference to the first in µs/q.
//
//   npx tsx bench/ab.ts [--rounds 5] [--seconds 4] [--names N] [--scenarios blocked,hits,misses,mix] [--clients 4] [--gc]
//       --variant NAME[,KEY=VALUE…][,node=PATH][,repo=DIR][,workers=N][,cores=0-1] …
//   --variant '{"name":…,"env":{…},"node":…,"nodeArgs":[…],"repo":…,"workers":N,"config":["yaml line",…]}'
//
// KEY=VALUE goes into the daemon's environment (AIFENCE_IO=dgram, or a
// switch a branch reads while bisecting); node= runs another Node binary
// (e.g. /usr/bin/node for Node 20); repo= serves another checkout's dist/
// (built first); cores= pins the server elsewhere than core 0 (cores=0-1:
// both, sharing core 1 with dnsperf); config= lines (JSON form) are appended
// to the bench config.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generate } from './lib/data.js';
import { runDnsperf } from './lib/dnsperf.js';
import { cleanUpOnExit, cpuSplit, pinning } from './lib/proc.js';
import { type AifenceVariant, type Scenario, aifenceTarget } from './lib/targets.js';
import { findTools } from './lib/tools.js';
import { startNodeUpstream, startNsd } from './lib/upstream.js';

const repoDir = dirname(dirname(fileURLToPath(import.meta.url)));
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '4' },
    names: { type: 'string', default: '1000000' },
    scenarios: { type: 'string', default: 'blocked,hits,misses,mix' },
    clients: { type: 'string', default: '4' },
    variant: { type: 'string', multiple: true, default: [] },
    gc: { type: 'boolean', default: false },
  },
});
interface Variant extends AifenceVariant {
  repo: string;
  workers: number;
  /** taskset -c for the server (default: core 0, as bench:serve). */
  cores?: string;
}

function parseVariant(text: string): Variant {
  if (text.startsWith('{')) {
    const v = JSON.parse(text) as Partial<Variant> & { name: string };
    return { repo: repoDir, workers: 1, ...v };
  }
  const [name, ...parts] = text.split(',');
  const v: Variant = { name, repo: repoDir, workers: 1, env: {} };
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new Error(`--variant ${text}: "${part}" is not KEY=VALUE`);
    const [key, value] = [part.slice(0, eq), part.slice(eq + 1)];
    if (key === 'node') v.node = value;
    else if (key === 'repo') v.repo = value;
    else if (key === 'workers') v.workers = Number(value);
    else if (key === 'cores') v.cores = value;
    else v.env![key] = value;
  }
  return v;
}

const variants = values.variant.map(parseVariant);
if (variants.length === 0) variants.push({ name: 'aifence', repo: repoDir, workers: 1 });
// --gc: V8 prints a line per collection; young-generation ones (Scavenge) per million answers say what a query allocates.
if (values.gc) for (const v of variants) v.nodeArgs = [...(v.nodeArgs ?? []), '--trace-gc'];
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const names = Number(values.names);
const clients = Number(values.clients);
const scenarios = values.scenarios.split(',') as Scenario[];
const log = (line: string) => console.error(`[ab] ${line}`);
const work = mkdtempSync(join(tmpdir(), 'aifence-ab-'));
cleanUpOnExit(() => rmSync(work, { recursive: true, force: true }));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const tools = findTools(log);
  const upstream = tools.nsd ? await startNsd(tools.nsd, work, pinning.client) : await startNodeUpstream();
  const perFile = Math.ceil(130_000 * seconds);
  const runId = Date.now().toString(36);
  const data = await generate(work, names, perFile, 20_260_101, runId);
  // Misses must stay misses: each round asks names of its own (the list's first names are the same for the same seed).
  const roundFiles = [data.queries];
  for (let r = 1; r < rounds; r++) roundFiles.push((await generate(mkdtempSync(join(work, 'r-')), 1000, perFile, 20_260_101, `${runId}r${r}`)).queries);
  log(`${names.toLocaleString('en-US')} names; upstream ${upstream.description}; ${pinning.note}`);
  const servers: { v: Variant; pid: number; port: number; stop: () => Promise<void>; scavenges: number }[] = [];
  for (const v of variants) {
    const pin = v.cores === undefined || pinning.server.length === 0 ? pinning.server : [pinning.server[0], '-c', v.cores];
    const s = await aifenceTarget(v.repo, mkdtempSync(join(work, 'v-')), v.workers, pin, v).start(data.list, upstream.port);
    log(`${v.name} ready in ${Math.round(s.startMs)} ms`);
    const server = { v, ...s, scavenges: 0 };
    s.stdout?.on('data', (d: Buffer) => (server.scavenges += d.toString('latin1').split('Scavenge').length - 1));
    servers.push(server);
  }
  const gcPerMillion = new Map<string, number[]>();
  const outDir = mkdtempSync(join(tmpdir(), 'aifence-ab-out-'));
  cleanUpOnExit(() => rmSync(outDir, { recursive: true, force: true }));
  const load = (pid: number, port: number, file: string, once = false) =>
    runDnsperf(pid, { dnsperf: tools.dnsperf, pin: pinning.client, port, file, seconds, once, clients, threads: 2, outstanding: 200, verboseFile: join(outDir, 'dnsperf.out') });
  const us = new Map<string, number[]>();
  /** The part of the server's CPU time spent in the kernel (system calls, UDP stack), per run. */
  const kernelShare = new Map<string, number[]>();
  try {
    for (const s of servers) if (scenarios.includes('hits') || scenarios.includes('mix')) await load(s.pid, s.port, data.queries.hits, true);
    for (let round = 0; round < rounds; round++) {
      for (const scenario of scenarios) {
        const order = servers.map((_, i) => servers[(i + round) % servers.length]);
        for (const s of order) {
          const scavenges = s.scavenges;
          const cpu = cpuSplit(s.pid);
          const m = await load(s.pid, s.port, roundFiles[round][scenario]);
          const after = cpuSplit(s.pid);
          const key = `${s.v.name} ${scenario}`;
          us.set(key, [...(us.get(key) ?? []), m.usPerQuery]);
          kernelShare.set(key, [...(kernelShare.get(key) ?? []), (after.system - cpu.system) / (after.system - cpu.system + after.user - cpu.user)]);
          gcPerMillion.set(key, [...(gcPerMillion.get(key) ?? []), ((s.scavenges - scavenges) / m.completed) * 1e6]);
          log(`round ${round + 1} ${scenario} ${s.v.name}: ${m.usPerQuery.toFixed(1)} µs/q, ${Math.round(m.qps)} q/s${m.lost > 0 ? `, ${m.lost} lost` : ''}`);
          await new Promise((r) => setTimeout(r, 300));
        }
      }
    }
  } finally {
    for (const s of servers) await s.stop();
    await upstream.stop();
  }
  console.log(`\nA/B: ${rounds} rotating rounds of ${seconds} s, dnsperf -c ${clients} -T 2 -q 200, ${names.toLocaleString('en-US')}-name list; ${pinning.note}\n`);
  const width = Math.max(8, ...variants.map((v) => v.name.length));
  console.log(`${'variant'.padEnd(width)}  ${scenarios.map((s) => `${s} µs/q (Δ)`.padStart(18)).join('')}`);
  for (const v of variants) {
    const cells = scenarios.map((sc) => {
      const m = median(us.get(`${v.name} ${sc}`)!);
      const base = median(us.get(`${variants[0].name} ${sc}`)!);
      return `${m.toFixed(1)} (${v === variants[0] ? '—' : `${m - base >= 0 ? '+' : ''}${(m - base).toFixed(1)}`})`.padStart(18);
    });
    console.log(`${v.name.padEnd(width)}  ${cells.join('')}`);
  }
  console.log('\nof which in the kernel (system time: system calls and the UDP stack), median µs/q:');
  for (const v of variants) {
    const cells = scenarios.map((sc) => {
      const key = `${v.name} ${sc}`;
      return `${sc} ${(median(us.get(key)!) * median(kernelShare.get(key)!)).toFixed(1)}`.padStart(18);
    });
    console.log(`${v.name.padEnd(width)}  ${cells.join('')}`);
  }
  if (values.gc) {
    console.log('\nscavenges per million answers (median; --trace-gc slows every variant alike):');
    for (const v of variants) console.log(`${v.name.padEnd(width)}  ${scenarios.map((sc) => `${sc} ${median(gcPerMillion.get(`${v.name} ${sc}`)!).toFixed(0)}`.padStart(18)).join('')}`);
  }
  console.log('\nall rounds:');
  for (const [k, xs] of us) console.log(`  ${k}: ${xs.map((x) => x.toFixed(1)).join(' ')}`);
}

main().then(
  () => rmSync(work, { recursive: true, force: true }),
  (err: unknown) => {
    console.error(`[ab] ${(err as Error).stack ?? String(err)}`);
    rmSync(work, { recursive: true, force: true });
    process.exitCode = 1;
  },
);
