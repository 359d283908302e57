// A TCP client that pipelines without end and never reads its answers costs
// the daemon bounded memory, and its connection is reset. Seen from outside:
// the built daemon in its own process, its RSS read from /proc.

import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TYPES, encodeQuery, query } from '../support/client.js';
import { type DaemonProcess, rssKb, spawnDaemon } from '../support/process.js';
import { TestUpstream } from '../support/upstream.js';

let upstream: TestUpstream;
let daemon: DaemonProcess;
let port: number;

beforeAll(async () => {
  upstream = await TestUpstream.start();
  const config = `upstream: { servers: ["${upstream.address}"] }\nlists:\n  local: { source: blocked.txt }\ntcp: { idleTimeout: 1s }\n`;
  daemon = await spawnDaemon(config, { 'blocked.txt': 'blocked.test\n' });
  port = daemon.port;
});
afterAll(async () => {
  daemon?.stop();
  await upstream?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function frames(count: number, from: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const msg = encodeQuery(`n${from + i}.blocked.test`, TYPES.A, { id: i & 0xffff });
    const frame = Buffer.alloc(msg.length + 2);
    frame.writeUInt16BE(msg.length, 0);
    msg.copy(frame, 2);
    parts.push(frame);
  }
  return Buffer.concat(parts);
}

/** Pipelines `count` queries on one connection and reads every answer (warms the daemon up). */
async function pipelineAndRead(count: number): Promise<number> {
  const sock = connect({ host: '127.0.0.1', port });
  let buf = Buffer.alloc(0);
  let answers = 0;
  await new Promise<void>((done, fail) => {
    sock.on('connect', () => sock.write(frames(count, 0)));
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        buf = buf.subarray(2 + buf.readUInt16BE(0));
        answers++;
      }
      if (answers === count) done();
    });
    sock.on('error', fail);
  });
  sock.destroy();
  return answers;
}

describe('a TCP client that never reads', () => {
  it('costs bounded memory however much it pipelines, and is reset by the idle deadline', { timeout: 40_000 }, async () => {
    const pid = daemon.child.pid!;
    // Warm up (JIT, buffers, the first GCs) so the comparison is about this client alone.
    for (let i = 0; i < 3; i++) expect(await pipelineAndRead(20_000)).toBe(20_000);
    await sleep(300);
    const before = rssKb(pid);

    const sock = connect({ host: '127.0.0.1', port });
    sock.pause(); // never reads: its receive buffer fills, then ours
    let closedAt = 0;
    sock.on('close', () => (closedAt = performance.now()));
    sock.on('error', () => undefined);
    await new Promise((r) => sock.once('connect', r));
    const started = performance.now();
    for (let i = 0; i < 5; i++) sock.write(frames(40_000, i * 40_000)); // 200,000 queries
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 100);
    try {
      await sleep(1000);
      // Everyone else is still served, over UDP and TCP.
      expect((await query(port, 'other.blocked.test')).rcode).toBe(3);
      expect((await query(port, 'other.blocked.test', TYPES.A, { tcp: true })).rcode).toBe(3);
      await sleep(1500);
    } finally {
      clearInterval(sampler);
    }
    const growthMb = (peak - before) / 1024;
    // The server reset the connection: once the client looks, it is gone.
    sock.resume();
    const deadline = performance.now() + 8000;
    while (closedAt === 0 && performance.now() < deadline) await sleep(50);
    sock.destroy();
    const closedAfter = closedAt > 0 ? `closed after ${((closedAt - started) / 1000).toFixed(1)} s` : 'not closed';
    console.log(`never-reading client: RSS ${before} kB before, peak +${growthMb.toFixed(1)} MB; ${closedAfter}`);
    expect(growthMb).toBeLessThan(8);
    expect(closedAt).toBeGreaterThan(0);
    // Reset by its idle deadline (1 s after its last answer went out), not by the client.
    expect(closedAt - started).toBeLessThan(8000);
  });
});
