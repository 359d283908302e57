// Reloads and /check must not stall DNS. The daemon runs as a real process
// (`node dist/cli.js serve`) with a 300,000-name list; a probe in another
// process asks every 10 ms and records the gaps between answers. Compiling a
// list of that size takes 0.4–0.6 s, so a reload or an explanation done on the
// query thread shows up as a gap of that length; done off it, the gaps stay
// at the probe's interval plus scheduling noise. The bound (400 ms) is wide
// because the machine running the tests is busy (the whole suite on two
// cores, beside other work, showed gaps of 300–400 ms with no reload
// running), and over the 5 reloads one gap over it is forgiven: such a
// machine now and then stalls the daemon once for its own reasons, where
// work on the query thread stalls it once per reload (main's code: 700–1050
// ms per reload; 470–580 ms for a round of /checks). bench/reload.ts
// measures the real figures.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProbeSummary, startProbe } from '../support/probe.js';
import { TestUpstream } from '../support/upstream.js';

const CLI = resolve('dist/cli.js');
const NAMES = 300_000;
const LISTED = 'host7.zone7.test';
const BOUND_MS = 400;
/** POST /reload needs the admin token. */
const TOKEN = 'stall-test-token';

let upstream: TestUpstream;
let dir: string;
let daemon: ChildProcess;
let dnsPort: number;
let adminPort: number;

beforeAll(async () => {
  upstream = await TestUpstream.start();
  dir = mkdtempSync(join(tmpdir(), 'aifence-stall-'));
  const lines: string[] = [];
  for (let i = 0; i < NAMES; i++) lines.push(`host${i}.zone${i % 1000}.test`);
  writeFileSync(join(dir, 'big.txt'), lines.join('\n') + '\n');
  const config = join(dir, 'aifence.yaml');
  writeFileSync(config, `upstream: { servers: ["${upstream.address}"] }\nlists:\n  big: { source: big.txt }\n`);
  daemon = spawn(process.execPath, [CLI, 'serve', '--config', config, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AIFENCE_ADMIN_TOKEN: TOKEN },
  });
  [dnsPort, adminPort] = await new Promise<[number, number]>((ok, fail) => {
    let out = '';
    daemon.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"listen":\["127\.0\.0\.1:(\d+)"\],"admin":"127\.0\.0\.1:(\d+)"/.exec(out);
      if (m) ok([Number(m[1]), Number(m[2])]);
    });
    daemon.on('exit', () => fail(new Error(`serve exited early: ${out}`)));
  });
}, 60_000);

afterAll(async () => {
  daemon?.kill('SIGTERM');
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Nothing lost, no gap over the bound but `forgiven` of them, and even those under a second. */
function expectNoStall(summary: ProbeSummary, forgiven: number): void {
  expect(summary.lost).toBe(0);
  expect(summary.topGapsMs[forgiven] ?? 0).toBeLessThan(BOUND_MS);
  expect(summary.maxGapMs).toBeLessThan(1000);
}

/** Runs `during` while the probe asks for a listed name every 10 ms; returns what the probe saw. */
async function probeWhile(during: () => Promise<void>): Promise<ProbeSummary> {
  const probe = await startProbe(dnsPort, LISTED, 10);
  await new Promise((r) => setTimeout(r, 300)); // a baseline before the work starts
  let summary: ProbeSummary;
  try {
    await during();
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    summary = await probe.stop();
  }
  console.log(`probe: ${JSON.stringify(summary)}`);
  return summary;
}

const admin = async (method: string, path: string) => {
  const res = await fetch(`http://127.0.0.1:${adminPort}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe('no stall on the query thread (daemon and probe in separate processes)', () => {
  it(`answers every query with no gap over ${BOUND_MS} ms (but one) while a 300k-name list is reloaded 5 times`, async () => {
    const summary = await probeWhile(async () => {
      for (let i = 0; i < 5; i++) {
        // A new modification time: the list is really read and compiled again, not reused.
        const t = new Date(Date.now() + i * 1000);
        utimesSync(join(dir, 'big.txt'), t, t);
        const r = await admin('POST', '/reload');
        expect(r.body).toMatchObject({ ok: true });
      }
    });
    expect(summary.sent).toBeGreaterThan(50);
    expectNoStall(summary, 1);
  }, 90_000);

  it(`answers with no gap over ${BOUND_MS} ms while /check explains listed names, 8 at a time, 3 times`, async () => {
    const summary = await probeWhile(async () => {
      for (let round = 0; round < 3; round++) {
        const asked = Array.from({ length: 8 }, (_, k) => 1000 * round + 17 * k);
        const answers = await Promise.all(asked.map((i) => admin('GET', `/check?name=www.host${i}.zone${i % 1000}.test`)));
        answers.forEach((r, k) => {
          const i = asked[k];
          expect(r.body).toMatchObject({ verdict: 'blocked', list: 'big', line: i + 1, entry: `host${i}.zone${i % 1000}.test` });
        });
      }
    });
    // Three seconds of /check: no gap is forgiven (main's code: 470–580 ms, once per round).
    expectNoStall(summary, 0);
  }, 60_000);
});
