// A miss storm fills the answer cache and keeps evicting from it; the
// daemon's memory must stay near where it was once the cache was full.
// With an object per cached answer, 300k unique misses grew V8's old space
// by hundreds of MB. Seen from outside: the built daemon in its own process,
// its RSS read from /proc.

import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TYPES, encodeQuery } from '../support/client.js';
import { RawUpstream } from '../support/raw-upstream.js';

const CLI = resolve('dist/cli.js');
let upstream: RawUpstream;
let child: ChildProcess;
let port: number;

beforeAll(async () => {
  upstream = await RawUpstream.start();
  const dir = mkdtempSync(join(tmpdir(), 'aifence-cache-memory-'));
  writeFileSync(join(dir, 'blocked.txt'), 'blocked.test\n');
  const file = join(dir, 'aifence.yaml');
  writeFileSync(
    file,
    `upstream: { servers: ["${upstream.address}"] }\nlists:\n  local: { source: blocked.txt }\ncache: { maxEntries: 100000 }\nrateLimit: off\n`,
  );
  child = spawn(process.execPath, [CLI, 'serve', '--config', file, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  port = await new Promise<number>((resolvePort, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"listen":\["127\.0\.0\.1:(\d+)"\]/.exec(out);
      if (m) resolvePort(Number(m[1]));
    });
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', () => reject(new Error(`serve exited early: ${out}`)));
  });
});
afterAll(async () => {
  child?.kill('SIGTERM');
  await upstream?.close();
});

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** Sends `count` unique names in windows of 200, each window waiting for its answers (or 300 ms); returns how many were answered. */
async function misses(tag: string, count: number): Promise<number> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  let answered = 0;
  let waiting = 0;
  let wake: (() => void) | null = null;
  sock.on('message', () => {
    answered++;
    if (--waiting === 0) wake?.();
  });
  for (let sent = 0; sent < count; ) {
    const window = Math.min(200, count - sent);
    waiting = window;
    const done = new Promise<void>((r) => {
      wake = r;
      setTimeout(r, 300);
    });
    for (let i = 0; i < window; i++, sent++) sock.send(encodeQuery(`m${tag}n${sent}.example`, TYPES.A, { id: sent & 0xffff }), port, '127.0.0.1');
    await done;
    upstream.queries.length = 0; // the test upstream keeps what it got: not what is measured here
  }
  sock.close();
  return answered;
}

describe('the answer cache under a miss storm', () => {
  it('keeps RSS near where it was once 100k answers were cached, through 300k more unique misses', { timeout: 180_000 }, async () => {
    const pid = child.pid!;
    const started = rssMb(pid);
    // Fill the cache (and warm the JIT) first: what is measured is what eviction costs.
    expect(await misses('fill', 100_000)).toBeGreaterThan(95_000);
    const full = rssMb(pid);
    const base = started;
    expect(await misses('storm', 300_000)).toBeGreaterThan(285_000);
    const after = rssMb(pid);
    console.log(`cache miss storm: RSS ${base.toFixed(0)} MB at start, ${full.toFixed(0)} MB with a full 100k cache, ${after.toFixed(0)} MB after 300k more unique misses`);
    expect(after - full).toBeLessThan(80); // the lru-cache version grew by ~190 MB
  });
});
