// Memory benchmark: issue #10's memory targets, with the daemon as a real
// process started the way a systemd unit without Environment= starts it
// (`node dist/cli.js serve --config FILE`, a clean environment: PATH only),
// and its memory read from /proc.
//
//   npx tsx bench/memory.ts [--json] [--names N (1000000)] [--misses N (300000)] [--only shared,misses] [--settings off] [--repo DIR]
//                           [--env KEY=VALUE ...] [--maps]
//
// shared: the 870k names of ../shared/data/blocklists, every list blocked;
//   RSS once it serves, and again once the compile worker has retired.
//   Target: RSS <= 120 MB.
// misses: a synthetic 1M-name list, cache.maxEntries 100000, then 300k
//   unique misses (dnsperf, each name once) answered by nsd (or a Node
//   upstream). Targets: ready <= 1.5 s from spawn; RSS <= 150 MB after.
// --settings off starts it with AIFENCE_MEMORY_SETTINGS=off (no semi-space
// flag, no trim threshold): what the settings are worth. --repo measures
// another checkout's dist/ with the same data. --env adds a variable to the
// daemon's environment (to try a setting); --maps logs its larger anonymous
// mappings and its RSS while settling.
//
// Where the memory goes is printed beside each RSS: V8 heap (committed and
// used) and external memory from the daemon's own /metrics (prom-client's
// process figures), anonymous and file-backed RSS and malloc's main heap
// ([heap], the brk arena) from /proc/PID/smaps.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SHARED_DATA } from '../test/support/shared-data.js';
import { generate } from './lib/data.js';
import { runDnsperf } from './lib/dnsperf.js';
import { type Started, cleanUpOnExit, rssMB, startServer } from './lib/proc.js';
import { findTools } from './lib/tools.js';
import { type Upstream, startNodeUpstream, startNsd } from './lib/upstream.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoDir = dirname(benchDir);
const SEED = 20_260_101;
const TARGETS = { sharedRssMB: 120, readyMs: 1500, missesRssMB: 150 };

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    names: { type: 'string', default: '1000000' },
    misses: { type: 'string', default: '300000' },
    only: { type: 'string', default: 'shared,misses' },
    settings: { type: 'string', default: 'serve' },
    repo: { type: 'string' },
    maps: { type: 'boolean', default: false },
    env: { type: 'string', multiple: true, default: [] },
    workers: { type: 'string', default: '1' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: npx tsx bench/memory.ts [--json] [--names N (1000000)] [--misses N (300000)] [--only shared,misses] [--settings serve|off] [--repo DIR] [--env KEY=VALUE ...] [--maps] [--workers N (1)]');
  process.exit(0);
}
const names = Number(values.names);
const misses = Number(values.misses);
const only = values.only.split(',').map((s) => s.trim());
const target = resolve(values.repo ?? repoDir);
if (!(names >= 1000) || !(misses >= 1000) || only.some((o) => o !== 'shared' && o !== 'misses') || !['serve', 'off'].includes(values.settings) || values.env.some((e) => !/^[A-Za-z_]\w*=/.test(e))) {
  console.error('--names and --misses must be ≥ 1000, --only takes shared and/or misses, --settings serve or off, --env KEY=VALUE');
  process.exit(2);
}

const log = (line: string) => console.error(`[bench] ${line}`);
const work = mkdtempSync(join(tmpdir(), 'aifence-bench-memory-'));
cleanUpOnExit(() => rmSync(work, { recursive: true, force: true }));

/** A systemd unit's environment: PATH and nothing else (plus the opt-out, when asked). */
const cleanEnv = ['env', '-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`, ...(values.settings === 'off' ? ['AIFENCE_MEMORY_SETTINGS=off'] : []), ...values.env];
const READY = /"listen":\["127\.0\.0\.1:(\d+)"\],"admin":"127\.0\.0\.1:(\d+)"/;

interface Breakdown {
  rssMB: number;
  anonMB: number;
  fileMB: number;
  /** malloc's main arena ([heap], grown by brk); other arenas and large blocks are anonymous mappings. */
  brkHeapMB: number;
  /** Anonymous mappings of exactly 256 KB: V8's regular heap pages, the isolate's own and pooled (freed, not yet given back). */
  v8PagesMB: number;
  threads: number;
  v8HeapTotalMB: number;
  v8HeapUsedMB: number;
  externalMB: number;
}

const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;

/** Memory of `pid` now: /proc for the process, the daemon's /metrics for V8's view. */
async function breakdown(pid: number, adminPort: number): Promise<Breakdown> {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? NaN) * 1024;
  const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const heap = /\[heap\]\n(?:.*\n)*?Rss:\s+(\d+) kB/.exec(smaps);
  let v8Pages = 0;
  const big: string[] = [];
  for (const m of smaps.matchAll(/^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ 0 *\n(?:.*\n)*?Rss:\s+(\d+) kB/gm)) {
    const size = parseInt(m[2], 16) - parseInt(m[1], 16);
    const rssBytes = Number(m[3]) * 1024;
    if (size === 256 * 1024) v8Pages += rssBytes;
    else if (rssBytes >= 1 << 20) big.push(`${mb(rssBytes)} of ${mb(size)}`);
  }
  if (values.maps) log(`pid ${pid}: anonymous mappings over 1 MB resident (MB resident of MB mapped): ${big.join(', ')}`);
  const threads = threadsOf(pid);
  // After /proc: the scrape makes garbage of its own.
  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const metric = (name: string) => Number(new RegExp(`^aifence_${name} ([\\d.e+]+)`, 'm').exec(metrics)?.[1] ?? NaN);
  return {
    rssMB: mb(field('Rss')),
    anonMB: mb(field('Anonymous')),
    fileMB: mb(field('Rss') - field('Anonymous')),
    brkHeapMB: heap ? mb(Number(heap[1]) * 1024) : 0,
    v8PagesMB: mb(v8Pages),
    threads,
    v8HeapTotalMB: mb(metric('nodejs_heap_size_total_bytes')),
    v8HeapUsedMB: mb(metric('nodejs_heap_size_used_bytes')),
    externalMB: mb(metric('nodejs_external_memory_bytes')),
  };
}

const threadsOf = (pid: number) => Number(/Threads:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

/**
 * Waits until memory has settled: the compile worker retired (it stays 5 s
 * after its last job) and V8's memory reducer done (it runs some seconds
 * after the heap stops growing, and gives pooled pages back): RSS within
 * 1 MB for 10 s. At most 90 s; resolves with how long it took and the peak seen.
 */
async function settle(pid: number, threadsBefore: number): Promise<{ ms: number; peakMB: number }> {
  const t0 = Date.now();
  let peak = rssMB(pid);
  while (Date.now() - t0 < 15_000 && threadsOf(pid) >= threadsBefore) {
    await new Promise((r) => setTimeout(r, 100));
    peak = Math.max(peak, rssMB(pid));
  }
  let last = rssMB(pid);
  let stableSince = Date.now();
  const trace: string[] = [];
  while (Date.now() - stableSince < 10_000 && Date.now() - t0 < 90_000) {
    await new Promise((r) => setTimeout(r, 250));
    const now = rssMB(pid);
    if (values.maps && trace.length < 400) trace.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${Math.round(now)}`);
    peak = Math.max(peak, now);
    if (Math.abs(now - last) > 1) {
      last = now;
      stableSince = Date.now();
    }
  }
  if (values.maps) log(`RSS MB while settling: ${trace.filter((_, i) => i % 8 === 0).join(', ')}`);
  return { ms: Date.now() - t0, peakMB: Math.round(peak * 10) / 10 };
}

/** `node dist/cli.js serve --config FILE` with a clean environment; resolves once it serves. */
async function serve(config: string): Promise<{ server: Started; adminPort: number; port: number }> {
  const server = await startServer([...cleanEnv, process.execPath, join(target, 'dist/cli.js'), 'serve', '--config', config], [], READY, 120_000);
  return { server, port: Number(server.ready![1]), adminPort: Number(server.ready![2]) };
}

async function stop(server: Started): Promise<number | null> {
  const exited = new Promise<number | null>((r) => server.child.once('exit', (code) => r(code)));
  await server.stop();
  return exited;
}

const sharedLists = (): string[] =>
  readdirSync(join(SHARED_DATA, 'blocklists'))
    .filter((f) => !f.endsWith('-LICENSE.txt'))
    .sort();

interface SharedResult {
  phase: 'shared';
  lists: number;
  readyMs: number;
  atReady: Breakdown;
  settled: Breakdown;
  settleMs: number;
  peakMB: number;
}

async function sharedPhase(): Promise<SharedResult> {
  const lists = sharedLists();
  const config = join(work, 'shared.yaml');
  writeFileSync(
    config,
    [
      'listen: ["127.0.0.1:0"]',
      'admin: { listen: "127.0.0.1:0" }',
      'upstream: { servers: ["127.0.0.1:9"] }',
      `workers: ${values.workers}`,
      'lists:',
      ...lists.map((f) => `  ${f}: { source: ${JSON.stringify(join(SHARED_DATA, 'blocklists', f))} }`),
      'groups: { default: { block: [' + lists.map((f) => `"list:${f}"`).join(', ') + '] } }',
      '',
    ].join('\n'),
  );
  log(`shared: ${lists.length} lists from ${join(SHARED_DATA, 'blocklists')}`);
  const { server, adminPort } = await serve(config);
  const threads = threadsOf(server.pid);
  const atReady = await breakdown(server.pid, adminPort);
  const { ms: settleMs, peakMB } = await settle(server.pid, threads);
  const settled = await breakdown(server.pid, adminPort);
  const code = await stop(server);
  if (code !== 0) log(`WARNING: serve exited ${code} on SIGTERM`);
  return { phase: 'shared', lists: lists.length, readyMs: Math.round(server.readyMs), atReady, settled, settleMs, peakMB: Math.max(peakMB, atReady.rssMB) };
}

interface MissesResult {
  phase: 'misses';
  names: number;
  upstream: string;
  readyMs: number;
  atReady: Breakdown;
  /** Before the misses, once the compile worker retired and memory settled. */
  before: Breakdown;
  misses: { sent: number; noerror: number; lost: number; qps: number };
  cacheEntries: number;
  cacheMB: number;
  afterMisses: Breakdown;
  /** The highest RSS seen from ready to settled after the misses. */
  peakMB: number;
  settled: Breakdown;
}

async function missesPhase(): Promise<MissesResult> {
  const tools = findTools(log);
  const data = await generate(work, names, misses, SEED, Date.now().toString(36));
  let upstream: Upstream | null = null;
  if (tools.nsd) {
    try {
      upstream = await startNsd(tools.nsd, work, []);
    } catch (err) {
      log(`nsd unusable (${(err as Error).message.split('\n')[0]}); falling back to the Node upstream`);
    }
  }
  upstream ??= await startNodeUpstream();
  const config = join(work, 'misses.yaml');
  writeFileSync(
    config,
    [
      'listen: ["127.0.0.1:0"]',
      'admin: { listen: "127.0.0.1:0" }',
      `upstream: { servers: ["127.0.0.1:${upstream.port}"], timeout: 2s }`,
      'cache: { maxEntries: 100000 }',
      `workers: ${values.workers}`,
      `lists: { big: { source: ${JSON.stringify(data.list)}, format: domains } }`,
      'groups: { default: { block: ["list:big"] } }',
      'access: { clients: [127.0.0.0/8] }',
      '',
    ].join('\n'),
  );
  log(`misses: ${names.toLocaleString('en-US')} names, ${misses.toLocaleString('en-US')} unique misses to ${upstream.description}`);
  const { server, port, adminPort } = await serve(config);
  const atReady = await breakdown(server.pid, adminPort);
  const first = await settle(server.pid, atReady.threads);
  const before = await breakdown(server.pid, adminPort);
  let peak = Math.max(atReady.rssMB, first.peakMB);
  const sampler = setInterval(() => (peak = Math.max(peak, rssMB(server.pid))), 100);
  const m = await runDnsperf(server.pid, { dnsperf: tools.dnsperf, pin: [], port, file: data.queries.misses, once: true, clients: 4, threads: 2, outstanding: 200, verboseFile: join(work, 'dnsperf.out') });
  const afterMisses = await breakdown(server.pid, adminPort);
  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const cacheEntries = Number(/^aifence_cache_entries ([\d.]+)/m.exec(metrics)?.[1] ?? NaN);
  const cacheMB = mb(Number(/^aifence_cache_bytes ([\d.]+)/m.exec(metrics)?.[1] ?? NaN));
  clearInterval(sampler);
  const second = await settle(server.pid, Infinity); // no compile worker to wait for: no list loaded since
  peak = Math.max(peak, afterMisses.rssMB, second.peakMB);
  const settled = await breakdown(server.pid, adminPort);
  const code = await stop(server);
  if (code !== 0) log(`WARNING: serve exited ${code} on SIGTERM`);
  await upstream.stop();
  return {
    phase: 'misses',
    names,
    upstream: upstream.description,
    readyMs: Math.round(server.readyMs),
    atReady,
    before,
    misses: { sent: misses, noerror: m.rcodes.NOERROR ?? 0, lost: m.lost, qps: Math.round(m.qps) },
    cacheEntries,
    cacheMB,
    afterMisses,
    peakMB: Math.round(peak * 10) / 10,
    settled,
  };
}

async function main(): Promise<void> {
  if (target === repoDir) {
    log('npm run build');
    const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: repoDir, stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stderr.toString()}`);
  } else if (!existsSync(join(target, 'dist/cli.js'))) {
    throw new Error(`${target}/dist/cli.js is missing: build that checkout first`);
  }
  const node = spawnSync(process.execPath, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GB; Node ${node} (${process.execPath})`;
  const loadBefore = loadavg().map((l) => l.toFixed(2)).join(' ');
  const shared = only.includes('shared') ? await sharedPhase() : null;
  const missed = only.includes('misses') ? await missesPhase() : null;
  const loadAfter = loadavg().map((l) => l.toFixed(2)).join(' ');
  const settings =
    (values.settings === 'off' ? 'AIFENCE_MEMORY_SETTINGS=off (none of serve\'s memory settings)' : 'no environment: serve applies its own memory settings') +
    (values.env.length > 0 ? `; plus ${values.env.join(' ')}` : '');

  if (values.json) {
    for (const r of [shared, missed]) if (r) console.log(JSON.stringify({ ...r, repo: target, settings, machine, loadBefore, loadAfter, date: new Date().toISOString() }));
    return;
  }
  const row = (label: string, b: Breakdown) =>
    `  ${label.padEnd(22)} RSS ${String(b.rssMB).padStart(6)} MB  (anon ${b.anonMB}, file ${b.fileMB}, malloc brk heap ${b.brkHeapMB}, 256K pages ${b.v8PagesMB}; V8 heap ${b.v8HeapUsedMB} used of ${b.v8HeapTotalMB}, external ${b.externalMB}; ${b.threads} threads)`;
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  console.log(`\naifence memory benchmark (${target}), ${new Date().toISOString()}`);
  console.log(`machine: ${machine}; load average ${loadBefore} before, ${loadAfter} after`);
  console.log(`started as: node dist/cli.js serve --config FILE, ${settings}`);
  if (shared) {
    console.log(`\nshared lists (${shared.lists} files of ../shared/data/blocklists, 873,705 names), ready ${shared.readyMs} ms after spawn:`);
    console.log(row('at ready', shared.atReady));
    console.log(row(`settled (${(shared.settleMs / 1000).toFixed(0)} s later)`, shared.settled));
    console.log(`  peak RSS seen ${shared.peakMB} MB`);
    console.log(`  target RSS <= ${TARGETS.sharedRssMB} MB: ${verdict(shared.settled.rssMB <= TARGETS.sharedRssMB)} once settled (${shared.settled.rssMB} MB); ${verdict(shared.atReady.rssMB <= TARGETS.sharedRssMB)} at ready (${shared.atReady.rssMB} MB)`);
  }
  if (missed) {
    console.log(`\n${missed.names.toLocaleString('en-US')} names, cache.maxEntries 100000, upstream: ${missed.upstream}`);
    console.log(`  ready ${missed.readyMs} ms after spawn: target <= ${TARGETS.readyMs} ms ${verdict(missed.readyMs <= TARGETS.readyMs)}`);
    console.log(row('at ready', missed.atReady));
    console.log(row('settled, before misses', missed.before));
    console.log(`  ${missed.misses.sent.toLocaleString('en-US')} unique misses: ${missed.misses.noerror.toLocaleString('en-US')} NOERROR, ${missed.misses.lost} lost, ${missed.misses.qps} q/s; cache holds ${missed.cacheEntries.toLocaleString('en-US')} answers in ${missed.cacheMB} MB`);
    console.log(row('after the misses', missed.afterMisses));
    console.log(row('settled', missed.settled));
    console.log(`  peak RSS seen ${missed.peakMB} MB`);
    console.log(`  target RSS <= ${TARGETS.missesRssMB} MB after the misses: ${verdict(missed.afterMisses.rssMB <= TARGETS.missesRssMB)} (${missed.afterMisses.rssMB} MB; ${missed.settled.rssMB} MB settled)`);
  }
}

main().then(
  () => rmSync(work, { recursive: true, force: true }),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    rmSync(work, { recursive: true, force: true });
    process.exit(1);
  },
);
