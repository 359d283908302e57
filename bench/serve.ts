// Serving benchmark: what aifence costs per query, next to the cheapest Node
// DNS server (bench/floor.mjs) measured in the same run on the same machine.
//
//   npm run bench:serve -- [--json] [--seconds N] [--names N] [--peers unbound,dnsmasq,dnsdist|none] [--only floor,aifence,…] [--workers 1,2,…]
//
// The peers (unbound, dnsmasq, dnsdist) run with the same list, upstream and
// query files, set up as ../shared/docs/PEERS.md says (bench/lib/peers.ts).
//
// See bench/README.md for what each scenario measures and how to read µs/q.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generate } from './lib/data.js';
import { type Measurement, runDnsperf } from './lib/dnsperf.js';
import { firstName, runH2load } from './lib/h2load.js';
import { PEERS, dnsdistTarget, dnsmasqTarget, unboundTarget } from './lib/peers.js';
import { cleanUpOnExit, pinning, rssMB, which } from './lib/proc.js';
import { type Row, type StartRow, jsonLines, table } from './lib/report.js';
import { type Scenario, type Target, aifenceEncryptedTarget, aifenceTarget, aifenceUpstreamTarget, floorTarget } from './lib/targets.js';
import { findPeers, findTools } from './lib/tools.js';
import { type EncryptedUpstream, type Upstream, startNodeUpstream, startNsd, startUnboundUpstream } from './lib/upstream.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoDir = dirname(benchDir);

// 200 queries outstanding over four sockets keep a single-threaded server's
// queue full without overrunning its receive buffer, so little is lost; with
// 100, misses and mix left the server idle while answers waited on the
// upstream. One dnsperf thread cannot keep up with the floor (it then sets
// the pace and the server idles); two, on the one client core, can.
const CLIENTS = 4;
const THREADS = 2;
const OUTSTANDING = 200;
// Lines per unique-name file: above the fastest expected rate (~120k q/s) times the run length.
const LINES_PER_SECOND = 130_000;
const SEED = 20_260_101;

/** What each scenario should answer; anything else means the setup is wrong, not slow. */
const EXPECTED: Record<Scenario, string> = { blocked: 'NXDOMAIN', hits: 'NOERROR', misses: 'NOERROR', mix: '' };

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '10' },
    names: { type: 'string', default: '1000000' },
    peers: { type: 'string', default: PEERS.join(',') },
    only: { type: 'string' },
    workers: { type: 'string', default: '1' },
    io: { type: 'string', default: 'batched,dgram' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(
    'usage: npx tsx bench/serve.ts [--json] [--seconds N (10)] [--names N (1000000)]\n' +
      `         [--peers ${PEERS.join(',')} (default) | none] [--only floor,aifence,${PEERS.join(',')} (servers to run; default: all)]\n' +
        '         [--workers 1,2,… (aifence with each number of worker threads; default 1)]\n' +
        '         [--io batched,dgram (aifence with the native/udp addon, and with AIFENCE_IO=dgram as aifence-dgram; default both)]`,
  );
  process.exit(0);
}
const seconds = Number(values.seconds);
const names = Number(values.names);
if (!(seconds >= 1 && seconds <= 120) || !Number.isInteger(names) || names < 1000) {
  console.error('--seconds must be 1..120 and --names an integer ≥ 1000');
  process.exit(2);
}

const ALL = ['floor', 'aifence', ...PEERS];
const workerCounts = values.workers.split(',').map(Number);
if (!workerCounts.every((n) => Number.isInteger(n) && n >= 1 && n <= 64)) {
  console.error('--workers takes counts from 1 to 64, e.g. --workers 1,2');
  process.exit(2);
}
const ioModes = values.io.split(',');
if (!ioModes.every((m) => m === 'batched' || m === 'dgram')) {
  console.error('--io takes batched, dgram or both, e.g. --io batched,dgram');
  process.exit(2);
}
const listOf = (text: string) => (text === 'none' ? [] : text.split(',').map((x) => x.trim()).filter(Boolean));
const peersAsked = listOf(values.peers);
const only = values.only === undefined ? ALL : listOf(values.only);
for (const name of [...peersAsked, ...only]) {
  if (!ALL.includes(name)) {
    console.error(`unknown server ${JSON.stringify(name)}; --peers takes ${PEERS.join(', ')} or none, --only takes ${ALL.join(', ')}`);
    process.exit(2);
  }
}
const selected = ALL.filter((name) => only.includes(name) && (name === 'floor' || name === 'aifence' || peersAsked.includes(name)));
if (selected.length === 0) {
  console.error('--peers and --only leave no server to measure');
  process.exit(2);
}

const log = (line: string) => console.error(`[bench] ${line}`);
const work = mkdtempSync(join(tmpdir(), 'aifence-bench-'));
cleanUpOnExit(() => rmSync(work, { recursive: true, force: true }));
// dnsperf's -v output (a line per answer) not beside aifence's config: the daemon watches that directory.
const dnsperfOut = join(mkdtempSync(join(work, 'dnsperf-')), 'dnsperf.out');

function build(): void {
  log('npm run build');
  const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: repoDir, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status === 0) return;
  const cli = join(repoDir, 'dist/cli.js');
  if (!existsSync(cli)) throw new Error(`npm run build failed and there is no dist/ to measure:\n${r.stderr.toString()}`);
  // src/ may be mid-edit by someone else: measure the last good build, and say how old it is.
  log(`WARNING: npm run build failed; measuring the existing dist/ built ${statSync(cli).mtime.toISOString()}`);
}

async function startUpstream(nsd: string | null): Promise<Upstream> {
  if (nsd) {
    try {
      return await startNsd(nsd, work, pinning.client);
    } catch (err) {
      log(`nsd unusable (${(err as Error).message.split('\n')[0]}); falling back to the Node upstream`);
    }
  }
  return startNodeUpstream();
}

async function main(): Promise<void> {
  const tools = findTools(log);
  const peerBinaries = findPeers(selected.filter((name) => (PEERS as readonly string[]).includes(name)), log);
  if (selected.includes('aifence')) build();
  const upstream = await startUpstream(tools.nsd);
  log(`upstream: ${upstream.description}`);
  log(pinning.note);

  const runId = Date.now().toString(36);
  const t0 = performance.now();
  const data = await generate(work, names, Math.ceil(LINES_PER_SECOND * seconds), SEED, runId);
  log(`generated ${names.toLocaleString('en-US')} listed names and query files in ${Math.round(performance.now() - t0)} ms`);

  const h2load = which('h2load');
  const load = (pid: number, port: number, file: string, once = false, mode?: Target['mode']): Promise<Measurement> => {
    // DoH: one query (the file's first name) over and over, OUTSTANDING streams in flight over CLIENTS connections.
    if (mode === 'doh') {
      if (once) return Promise.resolve(null as unknown as Measurement); // one name: the first request warms the cache
      return runH2load(pid, { h2load: h2load!, pin: pinning.client, port, name: firstName(file), bodyFile: join(work, 'doh-query.bin'), seconds, clients: CLIENTS, streams: OUTSTANDING / CLIENTS });
    }
    return runDnsperf(pid, { dnsperf: tools.dnsperf, pin: pinning.client, port, file, seconds, once, clients: CLIENTS, threads: THREADS, outstanding: OUTSTANDING, verboseFile: dnsperfOut, mode });
  };

  const make: Record<string, () => Target | null> = {
    floor: () => floorTarget(benchDir),
    aifence: () => aifenceTarget(repoDir, work),
    unbound: () => (peerBinaries.unbound ? unboundTarget(peerBinaries.unbound, work) : null),
    dnsmasq: () => (peerBinaries.dnsmasq ? dnsmasqTarget(peerBinaries.dnsmasq, work) : null),
    dnsdist: () => (peerBinaries.dnsdist ? dnsdistTarget(peerBinaries.dnsdist, work) : null),
  };
  // aifence with each I/O mode and worker count: aifence, aifence-w2, then aifence-dgram, aifence-w2-dgram (AIFENCE_IO=dgram).
  const aifences = ioModes.flatMap((io) =>
    workerCounts.map((n) => aifenceTarget(repoDir, work, n, pinning.server, io === 'batched' ? undefined : { name: n === 1 ? 'aifence-dgram' : `aifence-w${n}-dgram`, env: { AIFENCE_IO: 'dgram' } })),
  );
  if (selected.includes('aifence') && ioModes.includes('batched') && !existsSync(join(repoDir, 'native/udp/build/Release/udp.node'))) {
    log('WARNING: native/udp is not built (npm install with a C compiler, make and python3): the aifence rows are node:dgram too');
  }
  const targets = selected.flatMap((name) => (name === 'aifence' ? aifences : [make[name]()])).filter((t): t is Target => t !== null);
  // aifence's encrypted listeners and upstreams, beside plain UDP, when aifence is measured and no --only narrows the run.
  let encrypted: EncryptedUpstream | null = null;
  if (selected.includes('aifence') && values.only === undefined) {
    targets.push(aifenceEncryptedTarget(repoDir, work, 'dot'));
    if (h2load) targets.push(aifenceEncryptedTarget(repoDir, work, 'doh'));
    else log('h2load not installed (apt-get install nghttp2-client): skipping the DoH listener');
    // Misses over each upstream transport, all to one unbound that speaks UDP, DoT and DoH.
    const unbound = which('unbound');
    if (unbound) {
      const dir = mkdtempSync(join(work, 'unbound-'));
      encrypted = await startUnboundUpstream(unbound, dir, pinning.client);
      log(`encrypted upstream: ${encrypted.description}`);
      const at = `127.0.0.1:${encrypted.port}`;
      targets.push(
        aifenceUpstreamTarget(repoDir, work, 'aifence→udp', at, encrypted.certFile),
        aifenceUpstreamTarget(repoDir, work, 'aifence→dot', `tls://127.0.0.1:${encrypted.tlsPort}#upstream.bench.test`, encrypted.certFile),
        aifenceUpstreamTarget(repoDir, work, 'aifence→doh', `https://127.0.0.1:${encrypted.httpsPort}/dns-query#upstream.bench.test`, encrypted.certFile),
      );
    } else {
      log('unbound not installed (apt-get install unbound): skipping misses over DoT and DoH upstreams');
    }
  }
  const rows: Row[] = [];
  const starts: StartRow[] = [];
  for (const target of targets) {
    log(`starting ${target.name}`);
    const server = await target.start(data.list, upstream.port);
    log(`${target.name} ready in ${Math.round(server.startMs)} ms, ${server.rssMB.toFixed(0)} MB RSS`);
    const start: StartRow = { target: target.name, rssMB: server.rssMB, rssAfterMB: NaN, startMs: server.startMs, names };
    if (target.loadsList) starts.push(start);
    try {
      for (const scenario of target.scenarios) {
        // Hits are measured on a warm cache: one pass over the hit names first, again before mix (misses may have evicted them).
        if (scenario === 'hits' || scenario === 'mix') await load(server.pid, server.port, data.queries.hits, true, target.mode);
        log(`${target.name} ${scenario}: ${seconds} s`);
        const m = await load(server.pid, server.port, data.queries[scenario], false, target.mode);
        const expected = EXPECTED[scenario];
        const odd = expected && target.mode !== 'doh' ? m.completed - (m.rcodes[expected] ?? 0) : 0;
        if (odd > m.completed * 0.001) log(`WARNING: ${target.name} ${scenario}: ${odd} answers were not ${expected}: ${JSON.stringify(m.rcodes)}`);
        rows.push({ ...m, target: target.name, scenario, ratioToFloor: null });
        // Let answers still in flight (misses) settle before the next run reads the CPU clock.
        await new Promise((r) => setTimeout(r, 500));
      }
      start.rssAfterMB = rssMB(server.pid);
    } finally {
      await server.stop();
    }
  }
  await upstream.stop();
  await encrypted?.stop();

  const floorUs = rows.find((r) => r.target === 'floor' && r.scenario === 'blocked')?.usPerQuery ?? null;
  for (const r of rows) if (r.target !== 'floor' && floorUs) r.ratioToFloor = r.usPerQuery / floorUs;
  const measured = new Set(targets.map((t) => t.name));
  if (values.json) {
    console.log(jsonLines(rows, starts, names));
  } else {
    console.log(`\naifence serving benchmark: ${seconds} s per run, dnsperf -c ${CLIENTS} -T ${THREADS} -q ${OUTSTANDING}, ${names.toLocaleString('en-US')}-name list`);
    console.log(`upstream: ${upstream.description}; ${pinning.note}\n`);
    console.log(table(rows, starts, floorUs, measured, names));
    console.log('\nµs/q = server CPU time (user + system) per answered query; × floor = µs/q over the floor\'s blocked µs/q;');
    console.log('busy = server CPU time over run time (well under 100%: the server was not the bottleneck, or lost its core to other work).');
    console.log('On 2 shared cores QPS mostly shows how CPU was shared with dnsperf and the upstream: compare µs/q.');
  }
}

main().then(
  () => rmSync(work, { recursive: true, force: true }),
  (err: unknown) => {
    console.error(`[bench] ${(err as Error).stack ?? String(err)}`);
    rmSync(work, { recursive: true, force: true });
    process.exitCode = 1;
  },
);
