// Start-up benchmark (issue #22): how long the daemon takes from spawn until
// it answers, with its lists compiled (cold: no snapshot in dataDir) and
// from the compiled-filter snapshot (warm), its peak RSS (VmHWM) while
// loading and its RSS once settled, at 100k and 1M synthetic names, beside
// dnsmasq loading the same list in the same run; then what a client sees
// across a restart under socket activation (a parent holding the sockets,
// test/support/socket-manager.py, and a probe asking every 10 ms).
//
//   npm run bench:start [-- --names 100000,1000000] [--rounds 5] [--json] [--peer none] [--restarts 3] [--repo DIR]
//
// The daemon is started as a systemd unit without Environment= starts it
// (`node dist/cli.js serve --config FILE`, PATH the only variable); ready
// means it answers a listed name NXDOMAIN (asked every 5 ms), for aifence and
// dnsmasq alike. Cold, warm and dnsmasq starts alternate within each round,
// so a busy neighbour weighs on all three alike; medians are reported with
// the range. Settled RSS: RSS within 1 MB for 10 s (the compile thread gone,
// V8's memory reducer done), measured in the first round.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { listNames } from './lib/data.js';
import { dnsmasqTarget } from './lib/peers.js';
import { cleanUpOnExit, rssMB, spawnTracked } from './lib/proc.js';
import { findPeers } from './lib/tools.js';
import { freePort, probe } from './lib/upstream.js';
import { SocketManager } from '../test/support/activation.js';
import { startProbe } from '../test/support/probe.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoDir = dirname(benchDir);
const SEED = 20_260_101;
const TARGETS = { coldMs: 1500, warmMs: 300, peakMB: 200, settledMB: 120 };

const { values } = parseArgs({
  options: {
    names: { type: 'string', default: '100000,1000000' },
    rounds: { type: 'string', default: '5' },
    restarts: { type: 'string', default: '3' },
    peer: { type: 'string', default: 'dnsmasq' },
    repo: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: npm run bench:start -- [--names 100000,1000000] [--rounds 5] [--restarts 3] [--peer dnsmasq|none] [--repo DIR] [--json]');
  process.exit(0);
}
const sizes = values.names.split(',').map(Number);
const rounds = Number(values.rounds);
const restarts = Number(values.restarts);
const target = resolve(values.repo ?? repoDir);
if (sizes.some((n) => !(n >= 1000)) || !(rounds >= 1) || !(restarts >= 0) || !['dnsmasq', 'none'].includes(values.peer)) {
  console.error('--names takes counts of at least 1000, --rounds at least 1, --restarts 0 or more, --peer dnsmasq or none');
  process.exit(2);
}

const log = (line: string) => console.error(`[bench] ${line}`);
const work = mkdtempSync(join(tmpdir(), 'aifence-bench-start-'));
cleanUpOnExit(() => rmSync(work, { recursive: true, force: true }));
const env = ['env', '-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const status = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
const round1 = (x: number) => Math.round(x * 10) / 10;
/** CPU time the process has used (user + system, every thread, the re-exec's first Node included: execve keeps it), in ms. */
const cpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
};
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** Resolves once `port` answers `name` NXDOMAIN, asking every 5 ms; milliseconds since `t0`. */
async function readyAt(port: number, name: string, t0: number, exited: () => boolean): Promise<number> {
  for (;;) {
    if (exited()) throw new Error('exited before it was ready');
    if ((await probe(port, name, 20)) === 3) return performance.now() - t0;
    await sleep(5);
  }
}

/** RSS within 1 MB for 10 s (at most 60 s): the settled figure. */
async function settle(pid: number): Promise<number> {
  const t0 = Date.now();
  let last = rssMB(pid);
  let since = Date.now();
  while (Date.now() - since < 10_000 && Date.now() - t0 < 60_000) {
    await sleep(250);
    const now = rssMB(pid);
    if (Math.abs(now - last) > 1) {
      last = now;
      since = Date.now();
    }
  }
  return round1(rssMB(pid));
}

interface Run {
  kind: 'cold' | 'warm' | 'dnsmasq';
  names: number;
  readyMs: number;
  /** VmHWM when ready, and once settled (the whole start, background checks included). */
  peakAtReadyMB: number;
  /** CPU time used until ready: what a busy neighbour delays but does not add to. */
  cpuAtReadyMs: number;
  peakMB?: number;
  settledMB?: number;
  /** What the daemon logged: snapshot or compiled, and its own start time. */
  filter?: string;
  startMs?: number;
}

interface Case {
  names: number;
  list: string;
  listed: string;
  config: string;
  port: number;
  snapshot: string;
}

async function prepare(names: number): Promise<Case> {
  const dir = join(work, String(names));
  const list = join(dir, 'list.txt');
  const all = listNames(names, SEED);
  spawnSync('mkdir', ['-p', dir]);
  writeFileSync(list, all.join('\n') + '\n');
  const port = await freePort();
  const config = join(dir, 'aifence.yaml');
  writeFileSync(
    config,
    [
      `listen: ["127.0.0.1:${port}"]`,
      'admin: { listen: "127.0.0.1:0" }',
      'upstream: { servers: ["127.0.0.1:9"] }',
      `dataDir: ${join(dir, 'data')}`,
      `lists: { big: { source: ${JSON.stringify(list)}, format: domains } }`,
      'groups: { default: { block: ["list:big"] } }',
      '',
    ].join('\n'),
  );
  return { names, list, listed: all[0], config, port, snapshot: join(dir, 'data', 'filter.snapshot') };
}

/** One start of aifence; `settled`: also wait for its memory to settle. */
async function startAifence(c: Case, kind: 'cold' | 'warm', settled: boolean): Promise<Run> {
  if (kind === 'cold') rmSync(c.snapshot, { force: true });
  else if (!existsSync(c.snapshot)) throw new Error('no snapshot for a warm start');
  const t0 = performance.now();
  const child = spawnTracked([...env, process.execPath, join(target, 'dist/cli.js'), 'serve', '--config', c.config], ['ignore', 'pipe', 'pipe']);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const pid = child.pid!;
  try {
    const readyMs = await readyAt(c.port, c.listed, t0, () => child.exitCode !== null);
    const run: Run = { kind, names: c.names, readyMs: Math.round(readyMs), peakAtReadyMB: round1(status(pid, 'VmHWM')), cpuAtReadyMs: cpuMs(pid) };
    // The log line comes right after the sockets answer; a warm start's snapshot check runs in the background.
    for (let i = 0; i < 200 && !out.includes('"msg":"aifence serving"'); i++) await sleep(10);
    const line = out.split('\n').find((l) => l.includes('"msg":"aifence serving"'));
    if (line) {
      const fields = JSON.parse(line) as { filter?: string; startMs?: number };
      run.filter = fields.filter;
      run.startMs = fields.startMs;
    }
    if (settled) {
      run.settledMB = await settle(pid);
      run.peakMB = round1(status(pid, 'VmHWM'));
    } else {
      // The snapshot is written (cold) or checked (warm) in the background: wait for it before the next start.
      for (let i = 0; i < 600 && !/filter snapshot (written|verified|was stale|not written)/.test(out) && kind === 'warm'; i++) await sleep(10);
      await sleep(kind === 'cold' ? 1500 : 200);
    }
    if (kind === 'warm' && run.filter !== 'snapshot') log(`WARNING: a warm start compiled (${out.split('\n').find((l) => l.includes('snapshot not used')) ?? 'no reason logged'})`);
    return run;
  } finally {
    const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
    child.kill('SIGTERM');
    await exited;
  }
}

async function startDnsmasq(binary: string, c: Case): Promise<Run> {
  const dir = mkdtempSync(join(work, 'dnsmasq-'));
  const t0 = performance.now();
  const running = await dnsmasqTarget(binary, dir).start(c.list, 9);
  // Its own readiness (bench/lib/peers.ts) polls every 200 ms: ask again every 5 ms from here for the same clock as aifence.
  const readyMs = Math.min(running.startMs, await readyAt(running.port, c.listed, t0, () => false));
  const run: Run = { kind: 'dnsmasq', names: c.names, readyMs: Math.round(readyMs), peakAtReadyMB: round1(status(running.pid, 'VmHWM')), cpuAtReadyMs: cpuMs(running.pid) };
  await running.stop();
  return run;
}

interface RestartResult {
  names: number;
  restarts: number;
  sent: number;
  lost: number;
  maxGapMs: number;
  topGapsMs: number[];
  startMs: number[];
}

/** Under socket activation: a probe every 10 ms across `restarts` restarts (each a warm start). */
async function restartUnderProbe(c: Case): Promise<RestartResult> {
  const manager = await SocketManager.start([`udp:127.0.0.1:${c.port}`, `tcp:127.0.0.1:${c.port}`], c.config, join(work, `manager-${c.names}.log`), {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    cli: join(target, 'dist/cli.js'),
  });
  try {
    await manager.start(300_000);
    const probeRun = await startProbe(c.port, c.listed);
    await sleep(500);
    for (let i = 0; i < restarts; i++) {
      await manager.restart(300_000);
      await sleep(1000);
    }
    const summary = await probeRun.stop();
    const startMs = manager.serving().map((s) => Number(s.startMs));
    return { names: c.names, restarts, sent: summary.sent, lost: summary.lost, maxGapMs: summary.maxGapMs, topGapsMs: summary.topGapsMs, startMs };
  } finally {
    await manager.close();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const range = (xs: number[]) => `${Math.min(...xs)}–${Math.max(...xs)}`;

async function main(): Promise<void> {
  if (target === repoDir) {
    log('npm run build');
    const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: repoDir, stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stderr.toString()}`);
  }
  const dnsmasq = values.peer === 'dnsmasq' ? findPeers(['dnsmasq'], log).dnsmasq : null;
  const node = spawnSync(process.execPath, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GB; Node ${node}`;
  const loads: string[] = [loadavg().map((l) => l.toFixed(2)).join(' ')];
  const runs: Run[] = [];
  const restartsDone: RestartResult[] = [];
  for (const names of sizes) {
    const c = await prepare(names);
    log(`${names.toLocaleString('en-US')} names: ${rounds} rounds of cold, warm${dnsmasq ? ', dnsmasq' : ''}`);
    for (let round = 0; round < rounds; round++) {
      // Cold first: it writes the snapshot the warm start reads.
      runs.push(await startAifence(c, 'cold', round === 0));
      runs.push(await startAifence(c, 'warm', round === 0));
      if (dnsmasq) runs.push(await startDnsmasq(dnsmasq, c));
      log(`  round ${round + 1}: ${runs.slice(dnsmasq ? -3 : -2).map((r) => `${r.kind} ${r.readyMs} ms`).join(', ')}; load ${loadavg()[0].toFixed(2)}`);
      loads.push(loadavg().map((l) => l.toFixed(2)).join(' '));
    }
    if (restarts > 0) {
      const r = await restartUnderProbe(c);
      restartsDone.push(r);
      log(`  ${restarts} restarts under socket activation: ${r.lost} of ${r.sent} probe queries lost, longest gap ${r.maxGapMs} ms`);
    }
  }
  const date = new Date().toISOString();
  if (values.json) {
    for (const r of runs) console.log(JSON.stringify({ ...r, machine, date }));
    for (const r of restartsDone) console.log(JSON.stringify({ kind: 'restart', ...r, machine, date }));
    return;
  }
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  console.log(`\naifence start-up benchmark (${target}), ${date}`);
  console.log(`machine: ${machine}; load average (1, 5, 15 min) before: ${loads[0]}, after each round: ${loads.slice(1).map((l) => l.split(' ')[0]).join(', ')}`);
  console.log('started as: node dist/cli.js serve --config FILE (PATH only); ready: answers a listed name NXDOMAIN (asked every 5 ms); medians of the rounds, range after');
  for (const names of sizes) {
    const of = (kind: Run['kind']) => runs.filter((r) => r.names === names && r.kind === kind);
    const cold = of('cold');
    const warm = of('warm');
    const peer = of('dnsmasq');
    console.log(`\n${names.toLocaleString('en-US')} names (${rounds} rounds)`);
    const row = (label: string, rs: Run[]) =>
      rs.length === 0
        ? ''
        : `  ${label.padEnd(26)} ready ${String(median(rs.map((r) => r.readyMs))).padStart(5)} ms (${range(rs.map((r) => r.readyMs))})` +
          `   CPU to ready ${median(rs.map((r) => r.cpuAtReadyMs))} ms` +
          `   peak at ready ${median(rs.map((r) => r.peakAtReadyMB))} MB` +
          (rs[0].peakMB !== undefined ? `   first round: peak ${rs[0].peakMB} MB, settled ${rs[0].settledMB} MB` : '') +
          (rs[0].startMs !== undefined ? `   (daemon's own startMs ${median(rs.map((r) => r.startMs ?? NaN))})` : '');
    console.log(row('cold (lists compiled)', cold));
    console.log(row('warm (snapshot)', warm));
    console.log(row('dnsmasq (same list)', peer));
    const coldMs = median(cold.map((r) => r.readyMs));
    const warmMs = median(warm.map((r) => r.readyMs));
    if (peer.length > 0) console.log(`  ratio to dnsmasq: cold ${(coldMs / median(peer.map((r) => r.readyMs))).toFixed(2)}x, warm ${(warmMs / median(peer.map((r) => r.readyMs))).toFixed(2)}x; warm/cold ${(warmMs / coldMs).toFixed(2)}`);
    if (names === 1_000_000) {
      const peak = Math.max(...cold.map((r) => r.peakMB ?? r.peakAtReadyMB));
      console.log(`  targets at 1M: cold ready <= ${TARGETS.coldMs} ms ${verdict(coldMs <= TARGETS.coldMs)}; warm <= ${TARGETS.warmMs} ms ${verdict(warmMs <= TARGETS.warmMs)}; ` + `peak while loading <= ${TARGETS.peakMB} MB ${verdict(peak <= TARGETS.peakMB)} (${peak} MB); settled <= ${TARGETS.settledMB} MB ${verdict((cold[0].settledMB ?? Infinity) <= TARGETS.settledMB)} (${cold[0].settledMB} MB)`);
    }
    const restart = restartsDone.find((r) => r.names === names);
    if (restart) {
      console.log(
        `  socket activation, ${restart.restarts} restarts under a probe every 10 ms: ${restart.lost} of ${restart.sent} lost (${verdict(restart.lost === 0)}), longest gap ${restart.maxGapMs} ms ` +
          `(the next: ${restart.topGapsMs.slice(1).join(', ')}); the daemon's startMs ${restart.startMs.join(', ')}; warm ready ${warmMs} ms`,
      );
    }
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

