// 40,000 distinct source addresses against the built daemon with
// `workers: 2`, from a separate process (test/support/many-sources.mjs):
// each worker's string table resets several times (8,192 strings), and no
// query is logged with an undefined client, group, list or upstream.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonProcess, spawnDaemon } from '../support/process.js';
import { RawUpstream } from '../support/raw-upstream.js';

const run = promisify(execFile);
const SOURCES = 40_000;

let upstream: RawUpstream;
let daemon: DaemonProcess;
beforeAll(async () => {
  upstream = await RawUpstream.start();
  daemon = await spawnDaemon(
    `workers: 2\nupstream: { servers: ["${upstream.address}"] }\nqueryLog: { mode: all, path: queries.jsonl }\nlists:\n  a: { source: a.txt }\n  b: { source: b.txt }\ngroups:\n  default: { block: [list:a, list:b] }\n`,
    { 'a.txt': 'blocked-a.test\n', 'b.txt': 'blocked-b.test\n' },
  );
});
afterAll(async () => {
  if (daemon?.child.exitCode === null) daemon.stop();
  await upstream?.close();
});

describe('many distinct sources with workers: 2', () => {
  it('logs every answered query with its client, group and list: no undefined field', async () => {
    const names = ['blocked-a.test', 'allowed-1.example', 'blocked-b.test', 'allowed-2.example'].join(',');
    const { stdout } = await run(process.execPath, [resolve('test/support/many-sources.mjs'), String(daemon.port), String(SOURCES), names, '200'], { timeout: 240_000 });
    const { answered } = JSON.parse(stdout) as { sent: number; answered: number };
    expect(answered).toBeGreaterThan(SOURCES * 0.99);
    const exited = new Promise((r) => daemon.child.once('exit', r));
    daemon.stop();
    await exited; // SIGTERM: the log is flushed before exit
    const text = readFileSync(join(daemon.dir, 'queries.jsonl'), 'utf8');
    expect(text).not.toContain('undefined');
    const entries = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === undefined);
    const clients = new Set<unknown>();
    for (const e of entries) {
      expect(e.client, JSON.stringify(e)).toMatch(/^127\.\d+\.\d+\.\d+$/);
      expect(e.group, JSON.stringify(e)).toBe('default');
      const blocked = String(e.name).startsWith('blocked-');
      expect(e.verdict, JSON.stringify(e)).toBe(blocked ? 'blocked' : 'allowed');
      if (blocked) expect(e.list, JSON.stringify(e)).toBe(String(e.name).slice(8, 9));
      clients.add(e.client);
    }
    // Events the ring could not hand over while the control thread fell behind are dropped and counted, never mislabelled.
    expect(entries.length).toBeGreaterThan(SOURCES * 0.95);
    expect(clients.size).toBeGreaterThan(SOURCES * 0.95);
    console.log(`many sources: ${answered} answered, ${entries.length} logged, ${clients.size} distinct clients`);
  }, 300_000);
});
