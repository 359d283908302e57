// Reload benchmark: does reloading a big list stall DNS? aifence serves a
// 300,000-name list under a steady dnsperf load (~20k q/s, the "mix" queries
// of bench:serve) while the list is reloaded 30 times (POST /reload, the
// file's mtime moved each time so that it is really read and compiled
// again). A probe in its own process (test/support/gap-probe.mjs) asks every
// 10 ms and records the gaps between answers.
//
//   npm run bench:reload -- [--json] [--reloads N] [--names N] [--qps N] [--repo DIR]
//
// --repo measures another checkout's dist/ (e.g. main) with the same data.
// Target (issue #9): no answer gap over 50 ms and nothing lost.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generate } from './lib/data.js';
import { runDnsperf } from './lib/dnsperf.js';
import { cleanUpOnExit, pinning, rssMB, spawnTracked, startServer } from './lib/proc.js';
import { findTools } from './lib/tools.js';
import { type Upstream, startNodeUpstream, startNsd } from './lib/upstream.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoDir = dirname(benchDir);
const SEED = 20_260_101;
const TOKEN = 'bench-reload-token';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    reloads: { type: 'string', default: '30' },
    names: { type: 'string', default: '300000' },
    qps: { type: 'string', default: '20000' },
    repo: { type: 'string' },
    pin: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: npx tsx bench/reload.ts [--json] [--reloads N (30)] [--names N (300000)] [--qps N (20000)] [--repo DIR (this checkout)] [--pin]');
  process.exit(0);
}
const reloads = Number(values.reloads);
const names = Number(values.names);
const qps = Number(values.qps);
const target = resolve(values.repo ?? repoDir);
if (!(reloads >= 0 && reloads <= 200) || !(names >= 1000) || !(qps >= 100 && qps <= 200_000)) {
  console.error('--reloads must be 0..200, --names ≥ 1000, --qps 100..200000');
  process.exit(2);
}

const log = (line: string) => console.error(`[bench] ${line}`);
// Unpinned by default: the daemon has both cores, as in production, so its
// compile worker can run beside the query thread. --pin puts the server on
// core 0 and the load on core 1 as bench:serve does; the worker then shares
// the query thread's core (the case its lower priority is for).
const pin = values.pin ? pinning : { server: [], client: [], note: 'not pinned (--pin: server on core 0, load on core 1)' };
const work = mkdtempSync(join(tmpdir(), 'aifence-bench-reload-'));
cleanUpOnExit(() => rmSync(work, { recursive: true, force: true }));

async function startUpstream(nsd: string | null): Promise<Upstream> {
  if (nsd) {
    try {
      return await startNsd(nsd, work, pin.client);
    } catch (err) {
      log(`nsd unusable (${(err as Error).message.split('\n')[0]}); falling back to the Node upstream`);
    }
  }
  return startNodeUpstream();
}

interface ProbeSummary {
  sent: number;
  answered: number;
  lost: number;
  maxGapMs: number;
  gapsOver50: number;
  gapsOver100: number;
  maxLatencyMs: number;
}

async function main(): Promise<void> {
  const tools = findTools(log);
  if (target === repoDir) {
    log('npm run build');
    const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: repoDir, stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stderr.toString()}`);
  } else if (!existsSync(join(target, 'dist/cli.js'))) {
    throw new Error(`${target}/dist/cli.js is missing: build that checkout first`);
  }
  const upstream = await startUpstream(tools.nsd);
  log(`upstream: ${upstream.description}; ${pin.note}`);

  // Reloads take 0.5–2 s each here: room for all of them, plus a few seconds on each side.
  const reloadSeconds = Math.ceil(reloads * 2 + 6);
  const steadySeconds = 10;
  const data = await generate(work, names, qps * (reloadSeconds + steadySeconds), SEED, Date.now().toString(36));
  const config = join(work, 'aifence.yaml');
  writeFileSync(
    config,
    [
      `upstream: { servers: ["127.0.0.1:${upstream.port}"], timeout: 2s }`,
      'cache: { maxEntries: 200000 }',
      `lists: { big: { source: ${JSON.stringify(data.list)}, format: domains } }`,
      'groups: { default: { block: ["list:big"] } }',
      'access: { clients: [127.0.0.0/8] }',
      '',
    ].join('\n'),
  );
  // The admin token POST /reload needs (checkouts before the admin lock-down ignore it).
  const argv = ['env', 'MALLOC_TRIM_THRESHOLD_=131072', 'NODE_OPTIONS=--max-semi-space-size=4', `AIFENCE_ADMIN_TOKEN=${TOKEN}`, process.execPath, join(target, 'dist/cli.js'), 'serve', '--config', config, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'];
  const server = await startServer(argv, pin.server, /"listen":\["127\.0\.0\.1:(\d+)"\],"admin":"127\.0\.0\.1:(\d+)"/, 120_000);
  const port = Number(server.ready![1]);
  const adminPort = Number(server.ready![2]);
  log(`aifence (${target}) serving ${names.toLocaleString('en-US')} names on ${port}, admin ${adminPort}, in ${Math.round(server.readyMs)} ms`);
  // A subdomain of a listed name: answered from the list, so the probe measures aifence alone.
  const probeName = `gap-probe.${await firstListed(data.list)}`;

  /** One run of the load with the probe beside it; `reloadCount` reloads from its 3rd second. */
  async function phase(label: string, seconds: number, reloadCount: number) {
    const probe = spawnTracked([...pin.client, process.execPath, join(repoDir, 'test/support/gap-probe.mjs'), String(port), probeName, '10'], ['pipe', 'pipe', 'inherit']);
    let probeOut = '';
    probe.stdout!.on('data', (d: Buffer) => (probeOut += d.toString()));
    const probeExited = new Promise<void>((r) => probe.on('exit', () => r()));
    while (!probeOut.includes('ready\n')) await new Promise((r) => setTimeout(r, 10));
    log(`${label}: dnsperf -Q ${qps} for ${seconds} s (mix: 85% cache hits, 10% misses, 5% blocked)${reloadCount ? `, ${reloadCount} reloads from the 3rd second` : ''}`);
    const load = runDnsperf(server.pid, { dnsperf: tools.dnsperf, pin: pin.client, port, file: data.queries.mix, seconds, clients: 4, threads: 2, outstanding: 200, verboseFile: join(work, 'dnsperf.out'), maxQps: qps });
    await new Promise((r) => setTimeout(r, 3000));
    const reloadMs: number[] = [];
    const rss: number[] = [];
    const started = performance.now();
    for (let i = 0; i < reloadCount; i++) {
      const t = new Date(Date.now() + i * 1000);
      utimesSync(data.list, t, t); // a new mtime: read and compiled again, never reused
      const res = await fetch(`http://127.0.0.1:${adminPort}/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
      const body = (await res.json()) as { ok: boolean; ms?: number; error?: string };
      if (!body.ok) throw new Error(`reload ${i + 1} failed: ${body.error}`);
      reloadMs.push(body.ms ?? NaN);
      rss.push(rssMB(server.pid));
    }
    const took = (performance.now() - started) / 1000;
    if (took + 3 > seconds) log(`WARNING: the reloads (${took.toFixed(1)} s) outlasted the load (${seconds} s)`);
    const m = await load;
    rss.push(rssMB(server.pid));
    probe.stdin!.end('stop\n');
    await probeExited;
    const gaps = JSON.parse(probeOut.trim().split('\n').at(-1)!) as ProbeSummary;
    return {
      phase: label,
      repo: target,
      names,
      reloads: reloadCount,
      reloadMsMin: reloadCount > 0 ? Math.min(...reloadMs) : null,
      reloadMsMax: reloadCount > 0 ? Math.max(...reloadMs) : null,
      rssMBMax: Math.round(Math.max(...rss)),
      targetQps: qps,
      qps: Math.round(m.qps),
      dnsperfLost: m.lost,
      dnsperfP99Ms: Math.round(m.p99Ms * 10) / 10,
      probeMaxGapMs: gaps.maxGapMs,
      probeGapsOver50: gaps.gapsOver50,
      probeGapsOver100: gaps.gapsOver100,
      probeLost: gaps.lost,
      probeSent: gaps.sent,
    };
  }

  // The same load without reloads first: what this machine does anyway (a busy one has gaps of its own).
  const rows = [await phase('steady', steadySeconds, 0), await phase('reloads', reloadSeconds, reloads)];
  await server.stop();
  await upstream.stop();
  if (values.json) {
    for (const r of rows) console.log(JSON.stringify(r));
    return;
  }
  console.log(`\naifence reload benchmark: ${reloads} reloads of a ${names.toLocaleString('en-US')}-name list under dnsperf -Q ${qps} (${target}); ${pin.note}`);
  console.log('phase    reload ms      RSS MB  q/s     lost  p99 ms  longest gap  gaps>50  gaps>100  probe lost');
  for (const r of rows) {
    const reload = r.reloadMsMin === null ? '-' : `${r.reloadMsMin}–${r.reloadMsMax}`;
    console.log(`${r.phase.padEnd(8)} ${reload.padEnd(14)} ${String(r.rssMBMax).padEnd(7)} ${String(r.qps).padEnd(7)} ${String(r.dnsperfLost).padEnd(5)} ${String(r.dnsperfP99Ms).padEnd(7)} ${`${r.probeMaxGapMs} ms`.padEnd(12)} ${String(r.probeGapsOver50).padEnd(8)} ${String(r.probeGapsOver100).padEnd(9)} ${r.probeLost}/${r.probeSent}`);
  }
  const r = rows[1];
  console.log(`target (reloads): no gap over 50 ms and nothing lost: ${r.probeMaxGapMs <= 50 && r.probeLost === 0 && r.dnsperfLost === 0 ? 'met' : 'missed'}`);
}

async function firstListed(list: string): Promise<string> {
  const { open } = await import('node:fs/promises');
  const f = await open(list);
  try {
    const { buffer, bytesRead } = await f.read(Buffer.alloc(256), 0, 256, 0);
    return buffer.subarray(0, bytesRead).toString().split('\n')[0];
  } finally {
    await f.close();
  }
}

main().then(
  () => rmSync(work, { recursive: true, force: true }),
  (err: unknown) => {
    console.error(`[bench] ${(err as Error).stack ?? String(err)}`);
    rmSync(work, { recursive: true, force: true });
    process.exit(1); // the children (nsd, the probe) die with us: cleanUpOnExit
  },
);
