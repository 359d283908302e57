// A real flood against a real daemon, each in its own process: dnsperf
// sends 5,000 queries a second from 127.0.0.2 to `aifence serve`, while this
// process asks from 127.0.0.3 every 10 ms. The flooder gets its burst and
// its rate, no more; the neighbour gets every answer, promptly.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeQuery, exchange } from '../support/client.js';
import { toolsPresent } from '../support/tools.js';
import { TestUpstream } from '../support/upstream.js';

const CLI = resolve('dist/cli.js');
// In CI a missing dnsperf fails the run (.ci/run installs it); elsewhere the test says it was skipped.
const hasDnsperf = toolsPresent(['dnsperf'], 'dnsperf');
const QPS = 100;
const BURST = 200;
const SECONDS = 2;

let upstream: TestUpstream;
let dir: string;
let child: ChildProcess;
let port = 0;
let adminPort = 0;
let log = '';

beforeAll(async () => {
  upstream = await TestUpstream.start();
  dir = mkdtempSync(join(tmpdir(), 'aifence-rl-'));
  writeFileSync(join(dir, 'blocked.txt'), 'rl.test\n');
  writeFileSync(
    join(dir, 'aifence.yaml'),
    `upstream: { servers: ["${upstream.address}"] }\nlists:\n  local: { source: blocked.txt }\nrateLimit: { qps: ${QPS}, burst: ${BURST}, action: drop, exempt: [] }\n`,
  );
  writeFileSync(join(dir, 'queries.txt'), 'flood.rl.test A\n'.repeat(1000));
  child = spawn(process.execPath, [CLI, 'serve', '--config', join(dir, 'aifence.yaml'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((ready, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      const m = /"listen":\["127\.0\.0\.1:(\d+)"\],"admin":"127\.0\.0\.1:(\d+)"/.exec(log);
      if (m) {
        port = Number(m[1]);
        adminPort = Number(m[2]);
        ready();
      }
    });
    child.on('exit', () => reject(new Error(`serve exited early: ${log}`)));
  });
});
afterAll(async () => {
  child?.kill('SIGTERM');
  await upstream.close();
});

describe('rate limiting against a flood from another process', () => {
  it.runIf(hasDnsperf)('holds the flooder to its burst and rate while a neighbour is answered every time', async () => {
    const flood = promisify(execFile)('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-a', '127.0.0.2', '-d', join(dir, 'queries.txt'), '-l', String(SECONDS), '-Q', '5000', '-c', '1', '-q', '20000', '-t', '1']);
    const latencies: number[] = [];
    let unanswered = 0;
    const until = performance.now() + SECONDS * 1000;
    while (performance.now() < until) {
      const sent = performance.now();
      try {
        await exchange(port, encodeQuery('neighbour.rl.test', 1), { from: '127.0.0.3', timeoutMs: 1000 });
        latencies.push(performance.now() - sent);
      } catch {
        unanswered++;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const { stdout } = await flood;
    const sent = Number(/Queries sent:\s+(\d+)/.exec(stdout)?.[1]);
    const completed = Number(/Queries completed:\s+(\d+)/.exec(stdout)?.[1]);
    // It did flood, and got its burst and its rate over the run (with a second of slack for a busy machine).
    expect(sent).toBeGreaterThan(3000);
    expect(completed).toBeGreaterThanOrEqual(BURST);
    expect(completed).toBeLessThanOrEqual(BURST + QPS * (SECONDS + 1));
    // The neighbour: every probe answered, none held up for long.
    expect(unanswered).toBe(0);
    expect(latencies.length).toBeGreaterThan(50);
    expect(Math.max(...latencies)).toBeLessThan(600);
    const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    expect(Number(/aifence_ratelimited_total\{action="drop"\} (\d+)/.exec(metrics)?.[1])).toBe(sent - completed);
    // The log names the client, once at the start and then at most every 10 s: not once per query.
    const lines = log.split('\n').filter((l) => l.includes('clients over their rate'));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(JSON.parse(lines[0])).toMatchObject({ client: '127.0.0.2', action: 'drop' });
  });
});
