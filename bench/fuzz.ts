// npm run fuzz [-- queries|replies|spoof ...] [--scale F]
//
// The daemon as an admin runs it (node dist/cli.js serve, its own process),
// attacked from this one, which also probes it every 10 ms with a real query
// and samples its RSS from /proc:
//   queries  1,000,000 fuzzed client datagrams (random, mutated, odd and valid)
//   replies  100,000 fuzzed upstream replies (pointer loops, pointers past the
//            end, wrong IDs, bogus rdlength, 100-deep CNAME chains, TC without
//            TCP, random bytes...) from a fuzzing upstream, a good one behind it
//   spoof    1,200,000 forged replies racing held queries (12 storms of 100k)
// Exits non-zero when the daemon dies, a probe goes unanswered for 2 s, a
// broken reply reaches a client, or a forged answer is accepted. --scale 0.1
// for a quick run; --rate N client datagrams a second (default 5,000:
// this machine's two cores are shared; a faster flood only measures the kernel dropping it).

import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encodeQuery } from '../test/support/client.js';
import { KIND_NAMES, REPLY_KINDS, type ReplyKind, answerTo, fuzzReply, seeded, wellFormed } from '../test/support/fuzz.js';
import { FORGED_ADDRESS, aRecord, askDaemon, spoofStorm } from '../test/support/spoof.js';
import { TestUpstream } from '../test/support/upstream.js';

const args = process.argv.slice(2);
const scaleAt = args.indexOf('--scale');
const scale = scaleAt >= 0 ? Number(args[scaleAt + 1]) : 1;
const rateAt = args.indexOf('--rate');
const rate = rateAt >= 0 ? Number(args[rateAt + 1]) : 5_000;
const modes = args.filter((a, i) => !a.startsWith('--') && (scaleAt < 0 || i !== scaleAt + 1) && (rateAt < 0 || i !== rateAt + 1));
const run = new Set(modes.length > 0 ? modes : ['queries', 'replies', 'spoof']);
const CLI = resolve('dist/cli.js');
const TOKEN = 'fuzz-token';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const failures: string[] = [];

// ---- the daemon, its RSS and its probe -------------------------------------------------------

interface Daemon {
  child: ChildProcess;
  port: number;
  admin: string;
  exited: boolean;
  stopping: boolean;
}

async function startDaemon(upstreams: string[], timeout: string): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), 'aifence-fuzz-'));
  const file = join(dir, 'aifence.yaml');
  writeFileSync(file, `listen: ["127.0.0.1:0"]\nupstream: { servers: ${JSON.stringify(upstreams)}, timeout: ${timeout} }\nadmin: { listen: "127.0.0.1:0", token: ${TOKEN} }\n`);
  // FUZZ_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the daemon (NODE_OPTIONS refuses those flags).
  const nodeArgs = (process.env.FUZZ_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MALLOC_TRIM_THRESHOLD_: '131072', NODE_OPTIONS: '--max-semi-space-size=4' } });
  const d: Daemon = { child, port: 0, admin: '', exited: false, stopping: false };
  child.on('exit', (code, signal) => {
    d.exited = true;
    if (!d.stopping) failures.push(`the daemon exited unasked (code ${code}, signal ${signal})`);
  });
  let out = '';
  child.stderr!.on('data', (c: Buffer) => process.stderr.write(c));
  await new Promise<void>((ok, fail) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (d.port !== 0) return;
      out += chunk.toString();
      const m = /"listen":\["127\.0\.0\.1:(\d+)"\],"admin":"([^"]+)"/.exec(out);
      if (m) {
        d.port = Number(m[1]);
        d.admin = m[2];
        ok();
      }
    });
    child.on('exit', () => fail(new Error(`serve exited early: ${out}`)));
  });
  return d;
}

async function stopDaemon(d: Daemon): Promise<void> {
  if (d.exited) return;
  d.stopping = true;
  const gone = new Promise((r) => d.child.once('exit', r));
  d.child.kill('SIGTERM');
  await gone;
}

const rssMiB = (pid: number): number => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
};

/** Open descriptors: sockets left open by finished queries would show here. */
const fdCount = (pid: number): number => {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
};

async function metric(d: Daemon, name: string): Promise<number> {
  const res = await fetch(`http://${d.admin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const m = new RegExp(`^${name} (\\d+)`, 'm').exec(await res.text());
  return m ? Number(m[1]) : NaN;
}

// The prober runs in its own process, so that this one's busy sending cannot pass for a stall of the daemon.
const PROBER = `
const { createSocket } = require('node:dgram');
const port = Number(process.argv[1]);
const sock = createSocket('udp4');
const waiting = new Map();
let sent = 0, unanswered = 0, worst = 0, id = 0;
const q = (id) => Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 112, 114, 111, 98, 101, 7, 101, 120, 97, 109, 112, 108, 101, 0, 0, 1, 0, 1]);
sock.on('message', (msg, rinfo) => {
  if (rinfo.port !== port || msg.length < 12) return;
  const at = waiting.get(msg.readUInt16BE(0));
  if (at === undefined) return;
  waiting.delete(msg.readUInt16BE(0));
  worst = Math.max(worst, performance.now() - at);
});
sock.bind(0, '127.0.0.1', () => {
  setInterval(() => {
    const now = performance.now();
    for (const [k, at] of waiting) if (now - at > 2000) (waiting.delete(k), unanswered++);
    id = (id + 1) & 0xffff;
    waiting.set(id, now);
    sent++;
    sock.send(q(id), port, '127.0.0.1');
  }, 10);
});
process.stdin.on('data', () => {
  process.stdout.write(JSON.stringify({ sent, unanswered: unanswered + waiting.size, worstMs: Math.round(worst) }));
  process.exit(0);
});
`;

/** A query every 10 ms for a cached name, from another process; counts those not answered within 2 s. */
function probe(d: Daemon): { stop(): Promise<{ sent: number; unanswered: number; worstMs: number }> } {
  const child = spawn(process.execPath, ['-e', PROBER, String(d.port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  return {
    async stop() {
      const done = new Promise((r) => child.once('exit', r));
      child.stdin!.write('stop\n');
      await done;
      return JSON.parse(out) as { sent: number; unanswered: number; worstMs: number };
    },
  };
}

/** Runs `attack` against a fresh daemon with probe and RSS watch, and reports. */
async function round(title: string, upstreams: string[], timeout: string, attack: (d: Daemon) => Promise<string>): Promise<void> {
  const d = await startDaemon(upstreams, timeout);
  await askDaemon(d.port, 'probe.example', 2000).catch(() => undefined); // cached before the clock starts
  await sleep(500);
  const pid = d.child.pid!;
  const start = rssMiB(pid);
  const fdsBefore = fdCount(pid);
  let peak = start;
  const rss = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 100);
  const probes = probe(d);
  const started = performance.now();
  let detail = '';
  try {
    detail = await attack(d);
  } catch (err) {
    failures.push(`${title}: ${(err as Error).message}`);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  await sleep(3000); // let what is in flight end and the heap settle
  const p = await probes.stop();
  clearInterval(rss);
  const after = rssMiB(pid);
  const fdsAfter = fdCount(pid);
  const cached = await metric(d, 'aifence_cache_entries').catch(() => NaN);
  const alive = !d.exited;
  await stopDaemon(d);
  console.log(`${title} (${seconds} s): ${detail}`);
  console.log(`  daemon ${alive ? 'alive' : 'DEAD'}; probes ${p.sent - p.unanswered}/${p.sent} answered, slowest ${p.worstMs} ms; RSS start ${start.toFixed(1)} MiB, peak ${peak.toFixed(1)} MiB, after ${after.toFixed(1)} MiB; descriptors ${fdsBefore} before, ${fdsAfter} after; ${cached} answers cached`);
  if (!alive) failures.push(`${title}: the daemon died`);
  if (p.unanswered > 0) failures.push(`${title}: ${p.unanswered} probes unanswered`);
}

// ---- 1M fuzzed client queries --------------------------------------------------------------

function clientFuzzer(random: () => number): () => Buffer {
  const seeds = [
    encodeQuery('www.example.com', 28, { edns: 1232, dnssecOk: true }),
    encodeQuery('probe.example', 1),
    encodeQuery('x.example', 65, { edns: 4096 }),
    encodeQuery('fz-good-seed.example', 255, { edns: 65535 }),
  ];
  const int = (n: number) => Math.floor(random() * n);
  return () => {
    const pick = random();
    if (pick < 0.25) {
      const b = Buffer.allocUnsafe(int(600));
      for (let i = 0; i < b.length; i++) b[i] = int(256);
      return b;
    }
    if (pick < 0.85) {
      let msg = Buffer.from(seeds[int(seeds.length)]);
      for (let flips = int(7); flips > 0; flips--) msg[int(msg.length)] = int(256);
      const resize = int(41) - 20;
      if (resize < 0) msg = msg.subarray(0, Math.max(0, msg.length + resize));
      else if (resize > 0) msg = Buffer.concat([msg, Buffer.alloc(resize, int(2) ? 0xc0 : 0)]);
      return msg;
    }
    // A valid query: a miss the fuzzing upstream answers with one of its broken replies.
    return encodeQuery(`fz-${KIND_NAMES[int(KIND_NAMES.length)]}-${int(1e9)}.example`, [1, 28, 5, 16, 64, 65, 255, int(65536)][int(8)], { edns: int(2) ? 1232 : 0 });
  };
}

async function floodQueries(d: Daemon, count: number, perSecond: number, tick: () => void): Promise<string> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const rcodes = new Map<number, number>();
  sock.on('message', (msg) => msg.length >= 4 && rcodes.set(msg[3] & 0x0f, (rcodes.get(msg[3] & 0x0f) ?? 0) + 1));
  const next = clientFuzzer(seeded(1));
  const started = performance.now();
  for (let sent = 0; sent < count && failures.length === 0; ) {
    // Small bursts at a steady rate: a burst over the socket's buffer would only measure the kernel dropping it.
    const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * perSecond) + 20);
    for (; sent < due; sent++) sock.send(next(), d.port, '127.0.0.1');
    tick();
    await sleep(2);
    if (d.exited) break;
  }
  await sleep(2000);
  sock.close();
  const names = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
  const answered = [...rcodes].sort((a, b) => a[0] - b[0]).map(([r, n]) => `${names[r] ?? r} ${n}`).join(', ');
  return `${count.toLocaleString('en')} datagrams at up to ${perSecond.toLocaleString('en')}/s; answers: ${answered}`;
}

// ---- 100k fuzzed upstream replies ----------------------------------------------------------

async function fuzzReplies(d: Daemon, fuzzer: TestUpstream, target: number): Promise<string> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const pending = new Map<number, { kind: ReplyKind; at: number }>();
  const counts = { answered: 0, servfail: 0, fuzzerAnswer: 0, lost: 0 };
  const byKind: Record<string, Record<string, number>> = {};
  const bad: string[] = [];
  sock.on('message', (msg, rinfo) => {
    if (rinfo.port !== d.port || msg.length < 2) return;
    const q = pending.get(msg.readUInt16BE(0));
    if (!q) return;
    pending.delete(msg.readUInt16BE(0));
    counts.answered++;
    const rcode = msg[3] & 0x0f;
    const fuzzers = msg.includes(Buffer.from([10, 0, 0, 1]));
    if (rcode === 2) counts.servfail++;
    if (fuzzers) counts.fuzzerAnswer++;
    const tally = (byKind[q.kind] ??= {});
    const outcome = fuzzers ? 'relayed' : rcode === 2 ? 'SERVFAIL' : `rcode ${rcode}`;
    tally[outcome] = (tally[outcome] ?? 0) + 1;
    if (!wellFormed(msg)) bad.push(`malformed answer for a ${q.kind} reply`);
    else if (REPLY_KINDS[q.kind] && (fuzzers || rcode !== 2)) bad.push(`a broken ${q.kind} reply was relayed`);
  });
  let n = 0;
  let id = 0;
  const before = fuzzedReplies;
  while (fuzzedReplies - before < target && n < target * 3 && !d.exited) {
    const now = performance.now();
    for (const [k, q] of pending) if (now - q.at > 3000) (pending.delete(k), counts.lost++);
    while (pending.size < 300) {
      id = (id + 1) & 0xffff;
      if (pending.has(id)) break;
      const kind = KIND_NAMES[n % KIND_NAMES.length];
      pending.set(id, { kind, at: now });
      sock.send(encodeQuery(`fz-${kind}-r${n++}.example`, 1, { id, edns: 1232 }), d.port, '127.0.0.1');
    }
    fuzzer.received.length = 0; // the test upstream keeps what it received: forget it as we go
    await sleep(2);
  }
  await sleep(3500);
  counts.lost += pending.size;
  sock.close();
  for (const b of new Set(bad)) failures.push(`replies: ${b} (${bad.filter((x) => x === b).length}×)`);
  if (counts.lost > 0) failures.push(`replies: ${counts.lost} client queries unanswered`);
  const malformed = await metric(d, 'aifence_upstream_malformed_total').catch(() => NaN);
  return `${(fuzzedReplies - before).toLocaleString('en')} fuzzed replies for ${n.toLocaleString('en')} client queries; answered ${counts.answered}, SERVFAIL ${counts.servfail}, the fuzzer's answer (valid kinds) ${counts.fuzzerAnswer}; dropped as malformed ${malformed}; broken replies relayed ${bad.length}\n  by kind: ${Object.entries(byKind)
    .map(([k, t]) => `${k} ${Object.entries(t).map(([o, n]) => `${o} ${n}`).join('/')}`)
    .join('; ')}`;
}

// ---- the spoof storm -----------------------------------------------------------------------

async function spoofStorms(d: Daemon, holder: TestUpstream, storms: number, perStorm: number): Promise<string> {
  const random = seeded(77);
  let accepted = 0;
  const names: string[] = [];
  for (let s = 0; s < storms && !d.exited; s++) {
    let held: Buffer | null = null;
    let from = 0;
    holder.behave = () => ({ kind: 'raw', reply: (q) => ((held ??= Buffer.from(q)), (from ||= holder.lastPort), null) });
    const name = `storm-${s}-spoofing-target.example`;
    names.push(name);
    const answer = askDaemon(d.port, name, 60_000);
    while (held === null) await sleep(5);
    const sent: Buffer = held;
    await spoofStorm(holder, sent, from, perStorm, random);
    await sleep(200);
    await holder.forge(answerTo(sent, [aRecord([192, 0, 2, 1], 300)]), 1, () => from, () => sent.readUInt16BE(0));
    if ((await answer).includes(Buffer.from(FORGED_ADDRESS))) accepted++;
    holder.received.length = 0;
  }
  // And from the cache: nothing forged may have been stored either.
  for (const name of names) if ((await askDaemon(d.port, name, 5000)).includes(Buffer.from(FORGED_ADDRESS))) accepted++;
  const spoofed = await metric(d, 'aifence_upstream_spoofed_total').catch(() => NaN);
  if (accepted > 0) failures.push(`spoof: ${accepted} forged answers accepted`);
  return `${(storms * perStorm).toLocaleString('en')} forged replies in ${storms} storms; ${spoofed.toLocaleString('en')} reached a query's socket and were dropped as spoofed; forged answers accepted: ${accepted}`;
}

// ---- main ----------------------------------------------------------------------------------

if (!existsSync(CLI)) {
  console.error('dist/cli.js is missing: npm run build first (npm run fuzz does)');
  process.exit(2);
}
const fuzzer = await TestUpstream.start();
const good = await TestUpstream.start();
const fuzzRandom = seeded(3);
const kindOf = (name: string): ReplyKind => KIND_NAMES.find((k) => name.startsWith(`fz-${k}-`)) ?? 'good';
fuzzer.tcpMode = 'refuse';
let fuzzedReplies = 0;
fuzzer.behave = (name) =>
  name.startsWith('fz-') ? { kind: 'raw', reply: (q) => (fuzzedReplies++, fuzzReply(kindOf(name), q, fuzzRandom)) } : { kind: 'answer', address: '192.0.2.1' };
good.behave = () => ({ kind: 'answer', address: '192.0.2.2' });
try {
  if (run.has('queries')) {
    await round('queries', [fuzzer.address, good.address], '1s', async (d) => {
      const before = fuzzedReplies;
      const detail = await floodQueries(d, Math.round(1_000_000 * scale), rate, () => (fuzzer.received.length = 0));
      return `${detail}; ${(fuzzedReplies - before).toLocaleString('en')} of them reached the fuzzing upstream`;
    });
  }
  // The fuzzer alone, so that every query reaches it (with a second server it would sit out back-offs): broken replies must end as SERVFAIL.
  if (run.has('replies')) await round('replies', [fuzzer.address], '1s', (d) => fuzzReplies(d, fuzzer, Math.round(100_000 * scale)));
  if (run.has('spoof')) {
    const holder = await TestUpstream.start();
    try {
      await round('spoof', [holder.address], '60s', (d) => spoofStorms(d, holder, Math.max(1, Math.round(12 * scale)), 100_000));
    } finally {
      await holder.close();
    }
  }
} finally {
  await fuzzer.close();
  await good.close();
}
if (failures.length > 0) {
  console.log(`FAILED:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log('passed');
process.exit(0);
