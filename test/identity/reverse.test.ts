// PTR names for clients no lease covers: unbound, started by the test with
// local-data-ptr records, is identity.reverse. Names arrive in the query log
// once asked (in the background), hostile bytes in presentation form, a
// static name beats the PTR; the cache holds to its bound and so do the
// questions in flight; and a PTR server that never answers costs the
// queries nothing (a probe in another process asks every 10 ms meanwhile).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ReverseNames } from '../../src/control/identity/reverse.js';
import { createLogger } from '../../src/shared/logger.js';
import { query } from '../support/client.js';
import { startDaemon } from '../support/daemon.js';
import { toolsPresent } from '../support/tools.js';
import { type Unbound, startUnbound } from '../support/unbound.js';
import { TestUpstream } from '../support/upstream.js';

const present = toolsPresent(['unbound'], 'unbound');
const PROBE = resolve('test/support/gap-probe.mjs');
const log = createLogger({ level: 'silent' });
const PTRS = [
  'local-data-ptr: "127.0.0.5 alice-laptop.corp.example"',
  'local-data-ptr: "127.0.0.6 a\\027[2J\\000b.example"',
  'local-data-ptr: "127.0.0.7 wrong.example"',
  ...Array.from({ length: 100 }, (_, i) => `local-data-ptr: "127.0.1.${i} host-${i}.example"`),
];

interface Line {
  client: string;
  clientName?: string;
  name?: string;
}
const lines = (file: string): Line[] => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);

describe.skipIf(!present)('identity.reverse: PTR names from a DNS server', () => {
  let unbound: Unbound;
  let upstream: TestUpstream;
  beforeAll(async () => {
    unbound = await startUnbound('example.test', { extra: PTRS });
    upstream = await TestUpstream.start();
  });
  afterAll(async () => {
    await unbound?.stop();
    await upstream?.close();
  });

  it('names clients in the query log by PTR once known (hostile bytes escaped), a static name first', async () => {
    const d = await startDaemon(`identity: { reverse: "${unbound.address}", hosts: { 127.0.0.7: printer-2f } }\nqueryLog: { mode: all, path: queries.jsonl }\n`, [upstream.address]);
    try {
      const file = join(d.dir, 'queries.jsonl');
      const want = new Map([
        ['127.0.0.5', 'alice-laptop.corp.example'],
        ['127.0.0.6', 'a\\027[2j\\000b.example'],
        ['127.0.0.7', 'printer-2f'],
      ]);
      for (let i = 0; i < 100; i++) {
        for (const from of want.keys()) await query(d.port, `q${i}.example.org`, 1, { from });
        await new Promise((r) => setTimeout(r, 100));
        let got: Line[] = [];
        try {
          got = lines(file);
        } catch {
          continue;
        }
        if ([...want].every(([from, name]) => got.some((l) => l.client === from && l.clientName === name))) break;
      }
      const got = lines(file);
      for (const [from, name] of want) expect(got.filter((l) => l.client === from).at(-1)?.clientName, from).toBe(name);
      // Printable ASCII only in every name written.
      for (const l of got) if (l.clientName) expect(l.clientName).toMatch(/^[\x21-\x7e]+$/);
      expect(got.some((l) => l.client === '127.0.0.7' && l.clientName === 'wrong.example')).toBe(false);
    } finally {
      await d.stop();
    }
  });

  it('keeps at most maxEntries answers and maxInFlight questions', async () => {
    const names = new ReverseNames({ host: '127.0.0.1', port: unbound.port, family: 4 }, log, { maxEntries: 20, maxInFlight: 8 });
    try {
      for (let i = 0; i < 100; i++) expect(names.nameOf(`127.0.1.${i}`)).toBe('');
      expect(names.counts.asked).toBe(8);
      for (let round = 0; round < 40 && names.counts.answered < 60; round++) {
        for (let i = 0; i < 100; i++) names.nameOf(`127.0.1.${i}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(names.counts.answered).toBeGreaterThanOrEqual(60);
      expect(names.size).toBeLessThanOrEqual(20);
      // What it does keep, it answers from.
      const known = Array.from({ length: 100 }, (_, i) => names.nameOf(`127.0.1.${i}`)).filter(Boolean);
      expect(known.length).toBeGreaterThan(0);
      for (const n of known) expect(n).toMatch(/^host-\d+\.example$/);
    } finally {
      names.close();
    }
  });

  it('a PTR server that never answers: queries from 200 new addresses and a probe every 10 ms are answered without waiting for it', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((ok) => silent.bind(0, '127.0.0.1', ok));
    let asked = 0;
    silent.on('message', () => asked++);
    const d = await startDaemon(`identity: { reverse: "127.0.0.1:${silent.address().port}" }\nqueryLog: { mode: all, path: queries.jsonl }\n`, [upstream.address]);
    const probe = spawn(process.execPath, [PROBE, String(d.port), 'probe.example.org', '10'], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      let out = '';
      probe.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      const exited = new Promise<void>((ok) => probe.on('exit', () => ok()));
      while (!out.includes('ready\n')) await new Promise((r) => setTimeout(r, 10));
      // Each new address is one PTR question (up to 32 at once), each waiting 2 s for nothing.
      for (let i = 0; i < 200; i++) await query(d.port, `n${i}.example.org`, 1, { from: `127.0.2.${i}` });
      await new Promise((r) => setTimeout(r, 2500)); // the questions time out meanwhile; more are asked
      probe.stdin!.end('stop\n');
      await exited;
      const summary = JSON.parse(out.trim().split('\n').at(-1)!) as { lost: number; maxLatencyMs: number; sent: number };
      expect(asked).toBeGreaterThan(0);
      expect(summary.lost).toBe(0);
      // A query that waited for a PTR would take its 2 s timeout; none comes near.
      expect(summary.maxLatencyMs).toBeLessThan(1000);
    } finally {
      probe.kill();
      await d.stop();
      silent.close();
    }
  }, 30_000);
});
