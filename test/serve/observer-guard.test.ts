// An observer that throws (a bug, or an event read back wrong) concerns the
// observer only: the client gets exactly one answer per query (over TCP,
// where a second answer also spent the pipelining budget twice), the other
// observers still see the query, a sink's timer does not take the daemon
// down, and every failure is counted in aifence_observer_errors_total.

import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryEvent } from '../../src/shared/events.js';
import { Guard } from '../../src/shared/guard.js';
import { createLogger } from '../../src/shared/logger.js';
import { QueryLog } from '../../src/control/observe/querylog.js';
import { encodeQuery, tcpFrame } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

let upstream: TestUpstream;
let d: TestDaemon;
beforeAll(async () => {
  upstream = await TestUpstream.start();
  d = await startDaemon('lists:\n  ai: { source: ai.txt }\ngroups:\n  default: { block: [list:ai] }\ntcp: { maxPipelined: 4 }\n', [upstream.address], { files: { 'ai.txt': 'chat.banned.test\n' } });
});
afterAll(async () => {
  await d.stop();
  await upstream.close();
});

/** Sends `n` queries pipelined on one TCP connection; every reply that arrives within `ms`, by ID. */
function pipelined(port: number, n: number, ms: number): Promise<{ id: number; rcode: number }[]> {
  return new Promise((resolve, reject) => {
    const replies: { id: number; rcode: number }[] = [];
    const sock = connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    sock.on('connect', () => {
      for (let i = 0; i < n; i++) {
        sock.write(tcpFrame(encodeQuery(i % 2 ? 'chat.banned.test' : `allowed${i}.example`, 1, { id: 1000 + i })));
      }
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        replies.push({ id: msg.readUInt16BE(0), rcode: msg[3] & 15 });
        buf = buf.subarray(2 + msg.length);
      }
    });
    sock.on('error', reject);
    setTimeout(() => (sock.destroy(), resolve(replies)), ms);
  });
}

const metrics = async () => (await fetch(`http://127.0.0.1:${d.daemon.adminAddress!.port}/metrics`)).text();

describe('an observer that throws', () => {
  it('costs no second answer: one reply per query over pipelined TCP, the other observers still count, the failure is counted', async () => {
    let seen = 0;
    const thrower = { observerName: 'thrower', observe: () => void (seen++, JSON.parse('{broken')) };
    d.daemon.resolver.observers.add(thrower);
    try {
      const replies = await pipelined(d.port, 12, 1500);
      expect(replies.map((r) => r.id).sort()).toEqual(Array.from({ length: 12 }, (_, i) => 1000 + i));
      for (const r of replies) expect(r.rcode, `query ${r.id}`).toBe(r.id % 2 ? 3 : 0);
      expect(seen).toBe(12);
      const text = await metrics();
      expect(text).toMatch(/aifence_observer_errors_total\{observer="thrower"\} 12/);
      // The metrics observer sits before it and the console after it: both still saw every query.
      expect(text).toMatch(/aifence_queries_total\{verdict="blocked"[^}]*transport="tcp"[^}]*\} 6/);
    } finally {
      d.daemon.resolver.observers.remove(thrower);
    }
  });
});

describe('a sink whose timer meets a bad entry', () => {
  it('is caught and counted, and the daemon process lives on', async () => {
    const dir = d.dir;
    const guard = new Guard(createLogger({ level: 'silent' }));
    const qlog = new QueryLog({ mode: 'all', path: `${dir}/guarded.jsonl`, maxSize: 1 << 20, keep: 1, anonymize: false }, createLogger({ level: 'silent' }), { flushMs: 20, guard });
    const e = new QueryEvent();
    e.client = '10.0.0.1';
    e.verdict = 'blocked';
    // What a split event used to carry: a list read back from an emptied string table.
    e.list = undefined as unknown as string;
    qlog.observe(e);
    // The next entry is fine: the bad one must not hold it up (or poison every later flush).
    e.list = 'ai';
    e.client = '10.0.0.2';
    qlog.observe(e);
    const start = Date.now();
    while (qlog.written === 0 && Date.now() - start < 2000) await new Promise((r) => setTimeout(r, 20));
    expect(guard.counts.querylog).toBe(1);
    expect(qlog.written).toBe(1);
    expect(qlog.dropped).toBe(1);
    await qlog.close();
    expect(readFileSync(`${dir}/guarded.jsonl`, 'utf8')).toMatch(/^\{"time":"[^"]+","client":"10\.0\.0\.2".*\n\{"time":"[^"]+","event":"dropped","count":1\}\n$/);
  });
});
