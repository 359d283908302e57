// workers: 2 — two threads answer on the same addresses (SO_REUSEPORT) from
// one compiled filter; a reload and a pause reach both. Which thread answered
// is read from aifence_queries_total{worker}, which the control thread counts
// from the events each worker sends it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TYPES, query } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';
import { spawnDaemon } from '../support/process.js';

const NXDOMAIN = 3;

/** Answered queries per worker thread, by verdict (and transport), from the metrics. */
async function perWorker(d: TestDaemon, verdict: 'blocked' | 'allowed', transport?: 'udp' | 'tcp'): Promise<Map<string, number>> {
  const { body } = await d.daemon.scrape();
  const counts = new Map<string, number>();
  for (const m of body.matchAll(/^aifence_queries_total\{([^}]*)\} (\d+)$/gm)) {
    if (!m[1].includes(`verdict="${verdict}"`) || (transport && !m[1].includes(`transport="${transport}"`))) continue;
    const worker = /worker="(\d+)"/.exec(m[1])![1];
    counts.set(worker, (counts.get(worker) ?? 0) + Number(m[2]));
  }
  return counts;
}

/** `n` queries, each from its own socket (so its own source port: the kernel hashes those over the workers). */
const many = (d: TestDaemon, n: number, name: (i: number) => string, tcp = false) =>
  Promise.all(Array.from({ length: n }, (_, i) => query(d.port, name(i), TYPES.A, { tcp })));

describe('workers: 2', () => {
  let upstream: TestUpstream;
  let d: TestDaemon;

  beforeAll(async () => {
    upstream = await TestUpstream.start();
    d = await startDaemon(
      `workers: 2
queryLog: { mode: all, path: query.log }
lists:
  local: { source: local.txt }
groups: { default: { block: [list:local] } }
`,
      [`127.0.0.1:${upstream.port}`],
      { files: { 'local.txt': 'blocked.example\n' } },
    );
  });
  afterAll(async () => {
    await d?.stop();
    await upstream?.close();
  });

  it('answers UDP and TCP from both threads, from one filter', async () => {
    // Over TCP, fewer than tcp.maxPerClient (32) connections at once from 127.0.0.1.
    for (const [n, tcp] of [[64, false], [24, true]] as const) {
      const answers = await many(d, n, (i) => (i % 2 ? 'blocked.example' : `ok${i}.${tcp}.example`), tcp);
      answers.forEach((a, i) => expect(a.rcode).toBe(i % 2 ? NXDOMAIN : 0));
    }
    for (const transport of ['udp', 'tcp'] as const) {
      // 32 UDP sockets and 12 TCP connections on two threads: each thread gets some (all on one: odds 2^-11 for TCP).
      expect([...(await perWorker(d, 'blocked', transport)).keys()].sort()).toEqual(['0', '1']);
      expect([...(await perWorker(d, 'allowed', transport)).keys()].sort()).toEqual(['0', '1']);
    }
    const blocked = await perWorker(d, 'blocked');
    expect([...blocked.values()].reduce((a, b) => a + b)).toBe(32 + 12);
    // Two threads, one upstream: allowed names were forwarded by whichever thread was asked.
    expect(upstream.received.length).toBeGreaterThanOrEqual(32);
  });

  it('shares one cache: a name one thread fetched is a hit in the other', async () => {
    expect((await query(d.port, 'shared.example')).rcode).toBe(0);
    const answers = await many(d, 64, () => 'shared.example');
    expect(answers.every((a) => a.rcode === 0)).toBe(true);
    expect(upstream.count('shared.example')).toBe(1);
    const { body } = await d.daemon.scrape();
    const cachedBy = new Set([...body.matchAll(/^aifence_queries_total\{verdict="allowed",cached="true"[^}]*worker="(\d+)"\} \d+$/gm)].map((m) => m[1]));
    expect([...cachedBy].sort()).toEqual(['0', '1']);
  });

  it('swaps a reloaded filter into both threads', async () => {
    writeFileSync(join(d.dir, 'local.txt'), 'blocked.example\nnewly-blocked.example\n');
    const before = await perWorker(d, 'blocked');
    const result = await d.daemon.reload();
    expect(result.ok).toBe(true);
    const answers = await many(d, 64, () => 'newly-blocked.example');
    expect(answers.every((a) => a.rcode === NXDOMAIN)).toBe(true);
    const after = await perWorker(d, 'blocked');
    for (const w of ['0', '1']) expect(after.get(w)! - (before.get(w) ?? 0)).toBeGreaterThan(0);
  });

  it('lifts and restores blocking in both threads when a group is paused and resumed', async () => {
    await d.daemon.pause('default', 5);
    const paused = await many(d, 64, () => 'blocked.example');
    expect(paused.every((a) => a.rcode === 0)).toBe(true);
    await d.daemon.pause('default', 0);
    const resumed = await many(d, 64, () => 'blocked.example');
    expect(resumed.every((a) => a.rcode === NXDOMAIN)).toBe(true);
  });

  it('reports the workers\' upstream health in /readyz before any scrape has asked them', async () => {
    const fresh = await startDaemon('workers: 2\ngroups: { default: {} }\n', [`127.0.0.1:${upstream.port}`]);
    try {
      const admin = fresh.daemon.adminAddress!;
      const res = await fetch(`http://127.0.0.1:${admin.port}/readyz`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { upstreamAnswering: boolean }).upstreamAnswering).toBe(true);
    } finally {
      await fresh.stop();
    }
  });

  it('gives both threads a new shared cache when a reload changes the cache limits', async () => {
    expect((await query(d.port, 'limits.example')).rcode).toBe(0);
    const file = join(d.dir, 'aifence.yaml');
    writeFileSync(file, readFileSync(file, 'utf8') + 'cache: { maxEntries: 5000 }\n');
    expect((await d.daemon.reload()).ok).toBe(true);
    // The new cache starts empty: asked upstream once more, then a hit in both threads.
    await many(d, 1, () => 'limits.example');
    await new Promise((r) => setTimeout(r, 100));
    await many(d, 32, () => 'limits.example');
    expect(upstream.count('limits.example')).toBe(2);
    expect((await d.daemon.refreshStats()).cache.entries).toBeLessThanOrEqual(5000);
  });

  it('sums both threads in the cache and upstream counters, and logs both threads\' queries', async () => {
    const stats = await d.daemon.refreshStats();
    expect(stats.resolver.queries).toBeGreaterThanOrEqual(88 + 64 * 3);
    expect(stats.resolver.forwarded).toBeGreaterThan(0);
    expect(d.daemon.readiness().ready).toBe(true);
    // Events reach the query log in batches within 20 ms; the log writes on the next turn.
    await new Promise((r) => setTimeout(r, 300));
    const lines = readFileSync(join(d.dir, 'query.log'), 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(88 + 64 * 3);
    expect(lines.some((l) => l.includes('newly-blocked.example'))).toBe(true);
  });
});

describe('workers: 2 when a worker dies', () => {
  it('keeps answering from the other thread, and starts the dead one again on the same address with the filter in force', async () => {
    const upstream = await TestUpstream.start();
    const d = await startDaemon('workers: 2\nlists: { local: { source: local.txt } }\ngroups: { default: { block: [list:local] } }\n', [`127.0.0.1:${upstream.port}`], {
      files: { 'local.txt': 'blocked.example\n' },
    });
    try {
      const hex = d.port.toString(16).toUpperCase().padStart(4, '0');
      const udpSockets = () => readFileSync('/proc/net/udp', 'utf8').split('\n').filter((l) => l.includes(`0100007F:${hex} `)).length;
      expect(udpSockets()).toBe(2);
      // A crash, as the control thread sees one: the thread is gone with its sockets.
      const workers = (d.daemon as unknown as { planes: { workers: { worker: { terminate(): Promise<number> } }[] } }).planes.workers;
      await workers[0].worker.terminate();
      expect(udpSockets()).toBe(1);
      const meanwhile = await many(d, 32, () => 'blocked.example');
      expect(meanwhile.every((a) => a.rcode === NXDOMAIN)).toBe(true);
      // Started again after RESTART_DELAY_MS (1 s), on the same port; a worker's start takes seconds on a busy machine under tsx.
      const deadline = Date.now() + 40_000;
      while (udpSockets() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(udpSockets()).toBe(2);
      const after = await many(d, 64, () => 'blocked.example');
      expect(after.every((a) => a.rcode === NXDOMAIN)).toBe(true);
      expect([...(await perWorker(d, 'blocked')).keys()].sort()).toEqual(['0', '1']);
    } finally {
      await d.stop();
      await upstream.close();
    }
  }, 60_000);
});

describe('workers: 2 stopping while a worker is dead', () => {
  it('stops at once rather than waiting for an exit that already happened', async () => {
    const upstream = await TestUpstream.start();
    const d = await startDaemon('workers: 2\ngroups: { default: {} }\n', [`127.0.0.1:${upstream.port}`]);
    try {
      const workers = (d.daemon as unknown as { planes: { workers: { worker: { terminate(): Promise<number> } }[] } }).planes.workers;
      await workers[0].worker.terminate();
      const started = Date.now();
      await d.stop(); // within the 1 s before the dead worker is started again
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await upstream.close();
    }
  }, 30_000);
});

describe('workers: 2 as a process', () => {
  it('binds each address twice (SO_REUSEPORT), answers every query, and stops cleanly on SIGTERM', async () => {
    const upstream = await TestUpstream.start();
    const p = await spawnDaemon(`workers: 2\nupstream: { servers: ["127.0.0.1:${upstream.port}"] }\ngroups: { default: {} }\n`);
    try {
      const hex = p.port.toString(16).toUpperCase().padStart(4, '0');
      const sockets = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l.includes(`0100007F:${hex} `)).length;
      expect(sockets('/proc/net/udp')).toBe(2);
      expect(sockets('/proc/net/tcp')).toBeGreaterThanOrEqual(2); // the two listeners (and any connection)
      const answers = await Promise.all(Array.from({ length: 64 }, (_, i) => query(p.port, `p${i}.example`, TYPES.A)));
      expect(answers.every((a) => a.rcode === 0)).toBe(true);
      const exited = new Promise<number | null>((r) => p.child.once('exit', (code) => r(code)));
      p.stop();
      expect(await exited).toBe(0);
    } finally {
      p.child.kill('SIGKILL');
      await upstream.close();
    }
  });
});
