// Worker-thread scaling: what a query costs with `workers: N` against
// `workers: 1`, measured in alternating rounds so that a machine whose load
// drifts (other processes) weighs on both alike; medians are reported.
//
//   npx tsx bench/workers.ts [--workers 2] [--rounds 5] [--seconds 4] [--names N] [--server-cores 0 | 0,1]
//
// Both servers are up at once (same list, same nsd upstream); each round
// runs each scenario against one, then the other. dnsperf uses 16 sockets so
// that SO_REUSEPORT has flows to spread over the workers (it hashes the
// client's address and port: 4 sockets can all land on one worker). Server
// CPU is read per thread from /proc, so the table also says how the work
// split between the workers and the control thread.
//
// The targets: on this 2-core machine, N workers must not cost more
// µs/q than one; and (with --floor, the bare node:dgram server alternated
// in too) one worker's blocked ≤ 1.15× and hits ≤ 1.2× the floor's µs/q.

import { readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generate } from './lib/data.js';
import { runDnsperf } from './lib/dnsperf.js';
import { cleanUpOnExit, pinning } from './lib/proc.js';
import { type Scenario, aifenceTarget, floorTarget } from './lib/targets.js';
import { findTools } from './lib/tools.js';
import { startNodeUpstream, startNsd } from './lib/upstream.js';

const repoDir = dirname(dirname(fileURLToPath(import.meta.url)));
const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '4' },
    names: { type: 'string', default: '1000000' },
    scenarios: { type: 'string', default: 'blocked,hits,misses' },
    'server-cores': { type: 'string' },
    floor: { type: 'boolean', default: false },
  },
});
const workers = Number(values.workers);
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const names = Number(values.names);
const scenarios = values.scenarios.split(',') as Scenario[];
const log = (line: string) => console.error(`[workers] ${line}`);
// By default the server has core 0 and dnsperf and nsd core 1 (bench:serve's pinning): N workers then share one core.
// --server-cores 0,1 lets the workers spread (they then share core 1 with the load generator).
const taskset = pinning.server[0];
const pin = values['server-cores'] === undefined || taskset === undefined ? pinning.server : [taskset, '-c', values['server-cores']];
const pinNote = values['server-cores'] === undefined ? pinning.note : `server on cores ${values['server-cores']}, dnsperf and upstream on core 1 (taskset)`;
const work = mkdtempSync(join(tmpdir(), 'aifence-workers-'));
cleanUpOnExit(() => rmSync(work, { recursive: true, force: true }));

/** CPU ticks (user + system) per thread name of a process: the control thread is MainThread, workers WorkerThread. */
function threadTicks(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
      const key = name === 'MainThread' ? 'control' : name === 'WorkerThread' ? `worker ${tid}` : 'other (GC, libuv)';
      out.set(key, (out.get(key) ?? 0) + Number(f[11]) + Number(f[12]));
    } catch {
      // a thread that ended meanwhile
    }
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const tools = findTools(log);
  const upstream = tools.nsd ? await startNsd(tools.nsd, work, pinning.client) : await startNodeUpstream();
  const data = await generate(work, names, Math.ceil(130_000 * seconds), 20_260_101, Date.now().toString(36));
  log(`${names.toLocaleString('en-US')} names; upstream ${upstream.description}; ${pinNote}`);
  const configs = [1, workers];
  const servers = [];
  for (const n of configs) {
    const target = aifenceTarget(repoDir, mkdtempSync(join(work, `w${n}-`)), n, pin);
    const server = await target.start(data.list, upstream.port);
    log(`${target.name} ready in ${Math.round(server.startMs)} ms`);
    servers.push({ n, server });
  }
  // The floor answers every name NXDOMAIN at once: it runs in the blocked rounds, as the yardstick.
  const floor = values.floor ? await floorTarget(dirname(fileURLToPath(import.meta.url))).start(data.list, upstream.port) : null;
  const load = (pid: number, port: number, file: string, once = false) =>
    runDnsperf(pid, { dnsperf: tools.dnsperf, pin: pinning.client, port, file, seconds, once, clients: 16, threads: 2, outstanding: 200, verboseFile: join(outDir, 'dnsperf.out') });
  // Not beside the list: the daemon watches that folder, and every line dnsperf writes would wake it.
  const outDir = mkdtempSync(join(tmpdir(), 'aifence-workers-out-'));
  cleanUpOnExit(() => rmSync(outDir, { recursive: true, force: true }));
  const us = new Map<string, number[]>();
  const split = new Map<string, Map<string, number>>();
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const scenario of scenarios) {
        const order: { n: number; server: { pid: number; port: number } }[] = round % 2 ? [...servers] : [...servers].reverse();
        if (floor && scenario === 'blocked') order.splice(round % 3, 0, { n: 0, server: floor });
        for (const { n, server } of order) {
          if (scenario === 'hits') await load(server.pid, server.port, data.queries.hits, true);
          const before = threadTicks(server.pid);
          const m = await load(server.pid, server.port, data.queries[scenario]);
          const after = threadTicks(server.pid);
          const key = `${n} ${scenario}`;
          us.set(key, [...(us.get(key) ?? []), m.usPerQuery]);
          const s = split.get(key) ?? new Map<string, number>();
          for (const [k, v] of after) s.set(k, (s.get(k) ?? 0) + v - (before.get(k) ?? 0));
          split.set(key, s);
          log(`round ${round} ${scenario} workers ${n}: ${m.usPerQuery.toFixed(1)} µs/q, ${Math.round(m.qps)} q/s`);
          await new Promise((r) => setTimeout(r, 300));
        }
      }
    }
  } finally {
    for (const { server } of servers) await server.stop();
    await floor?.stop();
    await upstream.stop();
  }
  console.log(`\nworker threads: ${rounds} alternating rounds of ${seconds} s, dnsperf -c 16 -T 2 -q 200, ${names.toLocaleString('en-US')}-name list; ${pinNote}\n`);
  if (floor) {
    const f = median(us.get('0 blocked')!);
    console.log(`floor (bare node:dgram, blocked): median ${f.toFixed(1)} µs/q (${us.get('0 blocked')!.map((x) => x.toFixed(1)).join(' ')})`);
    for (const [scenario, goal] of [['blocked', 1.15], ['hits', 1.2]] as const) {
      if (!scenarios.includes(scenario)) continue;
      const ratio = median(us.get(`1 ${scenario}`)!) / f;
      console.log(`  workers: 1 ${scenario} ≤ ${goal}× the floor: ${ratio.toFixed(2)}× ${ratio <= goal ? 'met' : 'MISSED'}`);
    }
    console.log('');
  }
  console.log('scenario  workers  median µs/q  (all rounds)                     × 1 worker  CPU split');
  for (const scenario of scenarios) {
    const one = median(us.get(`1 ${scenario}`)!);
    for (const n of configs) {
      const key = `${n} ${scenario}`;
      const all = us.get(key)!;
      const m = median(all);
      const s = split.get(key)!;
      const total = [...s.values()].reduce((a, b) => a + b, 0);
      const parts = [...s].filter(([, v]) => v > 0).map(([k, v]) => `${k.startsWith('worker') ? 'worker' : k} ${Math.round((100 * v) / total)}%`);
      const verdict = n === 1 ? '' : `${(m / one).toFixed(2)}× ${m <= one ? 'met' : 'MISSED'}`;
      console.log(`${scenario.padEnd(9)} ${String(n).padStart(7)}  ${m.toFixed(1).padStart(11)}  ${all.map((x) => x.toFixed(1)).join(' ').padEnd(32)} ${verdict.padEnd(11)} ${parts.join(', ')}`);
    }
  }
}

main().then(
  () => rmSync(work, { recursive: true, force: true }),
  (err: unknown) => {
    console.error(`[workers] ${(err as Error).stack ?? String(err)}`);
    rmSync(work, { recursive: true, force: true });
    process.exitCode = 1;
  },
);
