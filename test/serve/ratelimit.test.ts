// Per-client rate limiting over the wire: a client flooding over UDP is
// limited (dropped, REFUSED, or TC now and then) while its neighbours are
// answered; exempt prefixes are not limited; buckets refill; TCP is the way
// out; the metrics count what was done. Linux answers for all of
// 127.0.0.0/8, so each client is its own loopback address.

import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeQuery, query } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

const QPS = 5;
const BURST = 10;
const NAME = 'flood.rl.test'; // blocked: answered NXDOMAIN from the daemon itself, no upstream involved

let upstream: TestUpstream;
let d: TestDaemon;

beforeAll(async () => {
  upstream = await TestUpstream.start();
  d = await startDaemon(`lists:\n  local: { source: blocked.txt }\nrateLimit: { qps: ${QPS}, burst: ${BURST}, action: refused, exempt: [127.0.0.4/32] }\n`, [upstream.address], {
    files: { 'blocked.txt': 'rl.test\n' },
  });
});
afterAll(async () => {
  await d.stop();
  await upstream.close();
});

/** Rewrites the rateLimit line of the daemon's config and reloads it. */
async function setRateLimit(line: string): Promise<void> {
  const file = join(d.dir, 'aifence.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace(/^rateLimit:.*$/m, `rateLimit: ${line}`));
  expect(await d.daemon.reload()).toMatchObject({ ok: true });
}

interface Flood {
  /** Answered as usual (NXDOMAIN for the blocked name). */
  answered: number;
  refused: number;
  truncated: number;
  unanswered: number;
  seconds: number;
  /** performance.now() when the first query went out and when the replies stopped. */
  startedAt: number;
  endedAt: number;
}

/** Sends `count` queries from `from` as fast as the socket takes them, then waits for the replies to stop coming. */
async function flood(from: string, count: number): Promise<Flood> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, from, r));
  const result: Flood = { answered: 0, refused: 0, truncated: 0, unanswered: 0, seconds: 0, startedAt: performance.now(), endedAt: 0 };
  let lastReply = performance.now();
  sock.on('message', (reply) => {
    lastReply = performance.now();
    if (reply[2] & 0x02) result.truncated++;
    else if ((reply[3] & 0x0f) === 5) result.refused++;
    else if ((reply[3] & 0x0f) === 3) result.answered++;
  });
  const started = result.startedAt;
  for (let i = 0; i < count; i++) {
    sock.send(encodeQuery(NAME, 1, { id: i }), d.port, '127.0.0.1');
    // Let replies in now and then so the test's own receive buffer never overflows.
    if (i % 50 === 49) await new Promise((r) => setImmediate(r));
  }
  const sent = performance.now();
  while (performance.now() - Math.max(lastReply, sent) < 300) await new Promise((r) => setTimeout(r, 20));
  sock.close();
  result.seconds = (lastReply - started) / 1000;
  result.endedAt = performance.now();
  result.unanswered = count - result.answered - result.refused - result.truncated;
  return result;
}

/** The most a bucket can let through in `seconds`: the burst, what refills meanwhile, one for rounding. */
const allowance = (seconds: number) => BURST + Math.ceil(QPS * seconds) + 1;

const scrape = async () => (await fetch(`http://127.0.0.1:${d.daemon.adminAddress!.port}/metrics`)).text();
const metric = (text: string, action: string): number => Number(new RegExp(`aifence_ratelimited_total\\{action="${action}"\\} (\\d+)`).exec(text)?.[1] ?? NaN);

describe('rate limiting over UDP', () => {
  let refusedSeen = 0;
  let first: Flood;

  it('refuses a flooding client beyond its burst while another client is answered', async () => {
    const [f, neighbour] = await Promise.all([flood('127.0.0.2', 200), query(d.port, NAME, 1, { from: '127.0.0.3' })]);
    first = f;
    expect(neighbour.rcode).toBe(3);
    expect(f.answered).toBeGreaterThanOrEqual(BURST);
    expect(f.answered).toBeLessThanOrEqual(allowance(f.seconds));
    expect(f.refused).toBe(200 - f.answered);
    refusedSeen += f.refused;
    // The neighbour keeps being answered in full.
    const more = await flood('127.0.0.3', BURST - 1);
    expect(more.answered).toBe(BURST - 1);
  });

  it('refills the bucket at qps', async () => {
    // 127.0.0.2 was drained by the flood above; each second since earns QPS tokens, up to the burst.
    await new Promise((r) => setTimeout(r, 1000));
    const f = await flood('127.0.0.2', 20);
    const earned = (seconds: number) => Math.min(BURST, QPS * seconds);
    expect(f.answered).toBeGreaterThanOrEqual(Math.floor(earned((f.startedAt - first.endedAt) / 1000)));
    expect(f.answered).toBeLessThanOrEqual(Math.ceil(earned((f.endedAt - first.startedAt) / 1000)) + 1);
    refusedSeen += f.refused;
  });

  it('still answers a limited client over TCP', async () => {
    const f = await flood('127.0.0.2', 30);
    refusedSeen += f.refused;
    expect(f.refused).toBeGreaterThan(0);
    expect((await query(d.port, NAME, 1, { from: '127.0.0.2', tcp: true })).rcode).toBe(3);
  });

  it('never limits an exempt prefix', async () => {
    const f = await flood('127.0.0.4', 300);
    expect(f).toMatchObject({ answered: 300, refused: 0, truncated: 0 });
  });

  it('counts refused queries in the metrics', async () => {
    const text = await scrape();
    expect(metric(text, 'refused')).toBe(refusedSeen);
    expect(text).toMatch(/aifence_ratelimit_clients [1-9]/);
  });

  it('drops a flooding client beyond its burst with action drop', async () => {
    await setRateLimit(`{ qps: ${QPS}, burst: ${BURST}, action: drop, exempt: [] }`);
    const f = await flood('127.0.0.5', 200);
    expect(f.answered).toBeGreaterThanOrEqual(BURST);
    expect(f.answered).toBeLessThanOrEqual(allowance(f.seconds));
    expect(f).toMatchObject({ refused: 0, truncated: 0, unanswered: 200 - f.answered });
    expect(metric(await scrape(), 'drop')).toBe(200 - f.answered);
  });

  it('with slip, answers every 2nd limited query TC and drops the others', async () => {
    await setRateLimit(`{ qps: ${QPS}, burst: ${BURST}, action: slip, slip: 2, exempt: [] }`);
    const dropsBefore = metric(await scrape(), 'drop');
    const f = await flood('127.0.0.6', 200);
    const limited = 200 - f.answered;
    expect(f.answered).toBeLessThanOrEqual(allowance(f.seconds));
    expect(f.refused).toBe(0);
    // Tokens refilled mid-flood reset nothing: every other limited query slips.
    expect(f.truncated).toBeGreaterThanOrEqual(Math.floor(limited / 2) - 2);
    expect(f.truncated).toBeLessThanOrEqual(Math.ceil(limited / 2) + 2);
    const text = await scrape();
    expect(metric(text, 'slip')).toBe(f.truncated);
    expect(metric(text, 'drop') - dropsBefore).toBe(f.unanswered);
  });

  it('with slip 1, dig gets TC and its retry over TCP is answered', async () => {
    // One token a second: a busy machine that delays the flood below cannot refill the bucket in time for dig.
    await setRateLimit(`{ qps: 1, burst: 1, action: slip, slip: 1, exempt: [] }`);
    // Keep 127.0.0.7's bucket empty (100 queries a second against 1) while dig asks from it.
    const flooder = createSocket('udp4');
    await new Promise<void>((r) => flooder.bind(0, '127.0.0.7', r));
    let truncatedInARow = 0;
    const drained = new Promise<void>((resolve) =>
      flooder.on('message', (reply) => {
        truncatedInARow = reply[2] & 0x02 ? truncatedInARow + 1 : 0;
        if (truncatedInARow >= 5) resolve();
      }),
    );
    const timer = setInterval(() => {
      for (let i = 0; i < 2; i++) flooder.send(encodeQuery(NAME, 1), d.port, '127.0.0.1');
    }, 20);
    await Promise.race([drained, new Promise((_, reject) => setTimeout(() => reject(new Error('the flood from 127.0.0.7 was never limited')), 5000))]).catch((err) => {
      clearInterval(timer);
      flooder.close();
      throw err;
    });
    const { stdout } = await promisify(execFile)('dig', ['-b', '127.0.0.7', '@127.0.0.1', '-p', String(d.port), NAME, 'A', '+tries=1', '+time=2']).finally(() => {
      clearInterval(timer);
      flooder.close();
    });
    expect(stdout).toMatch(/Truncated, retrying in TCP mode/);
    expect(stdout).toMatch(/status: NXDOMAIN/);
  });

  it('limits nothing when turned off', async () => {
    await setRateLimit('off');
    const f = await flood('127.0.0.8', 300);
    expect(f).toMatchObject({ answered: 300, unanswered: 0 });
    await setRateLimit(`{ qps: 0 }`);
    expect((await flood('127.0.0.8', 300)).answered).toBe(300);
  });
});
