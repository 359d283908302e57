// Reloads never drop a query: lists and config are swapped while a client
// keeps asking, every answer matches either the old or the new state, and
// a broken config or list keeps the last good state serving.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TYPES, query } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

let upstream: TestUpstream;
let d: TestDaemon;
const config = (list: string) => `lists:\n  local: { source: ${list} }\n`;

beforeAll(async () => {
  upstream = await TestUpstream.start();
  d = await startDaemon(config('a.txt'), [upstream.address], { files: { 'a.txt': 'one.test\n', 'b.txt': 'two.test\n' } });
});
afterAll(async () => {
  await d.stop();
  await upstream.close();
});

const rcode = async (name: string) => (await query(d.port, name, TYPES.A, { timeoutMs: 2000 })).rcode;
// `groups` written out: the built-in default policy needs services the empty test catalogue lacks.
const writeConfig = (text: string) => writeFileSync(join(d.dir, 'aifence.yaml'), `upstream: { servers: ["${upstream.address}"], timeout: 1s }\nadmin: { listen: "127.0.0.1:0" }\ngroups: { default: {} }\n${text}`);

describe('reload', () => {
  it('answers every query while config and lists are reloaded over and over, each answer from the old or the new state', async () => {
    let stop = false;
    const seen: { one: number; two: number }[] = [];
    const client = (async () => {
      while (!stop) {
        const batch = await Promise.all(Array.from({ length: 25 }, () => Promise.all([rcode('x.one.test'), rcode('x.two.test')])));
        for (const [one, two] of batch) seen.push({ one, two });
      }
    })();
    let reloads = 0;
    while (reloads < 20 || seen.length < 2000) {
      writeConfig(config(reloads % 2 === 0 ? 'b.txt' : 'a.txt'));
      const r = await d.daemon.reload();
      expect(r.ok).toBe(true);
      reloads++;
    }
    stop = true;
    await client;
    for (const s of seen) {
      // Each name is either blocked (NXDOMAIN) or forwarded (NOERROR): never SERVFAIL, never a timeout.
      expect([0, 3]).toContain(s.one);
      expect([0, 3]).toContain(s.two);
    }
    // Both states were really served.
    expect(seen.some((s) => s.one === 3)).toBe(true);
    expect(seen.some((s) => s.two === 3)).toBe(true);
  });

  it('keeps serving the last good state when the new config is broken, and says why', async () => {
    writeConfig(config('a.txt'));
    expect((await d.daemon.reload()).ok).toBe(true);
    expect(await rcode('one.test')).toBe(3);
    writeConfig('cache: { maxTtl: forever }\n' + config('a.txt'));
    const bad = await d.daemon.reload();
    expect(bad).toMatchObject({ ok: false });
    expect(bad.ok === false && bad.error).toMatch(/cache\.maxTtl: "forever" is not a duration/);
    writeConfig(config('missing.txt'));
    const missing = await d.daemon.reload();
    expect(missing.ok === false && missing.error).toMatch(/list "local": cannot read .*missing\.txt/);
    expect(await rcode('one.test')).toBe(3);
    expect(await rcode('two.test')).toBe(0);
  });

  it('reloads by itself when a watched list file changes', async () => {
    writeConfig(config('a.txt'));
    expect((await d.daemon.reload()).ok).toBe(true);
    const watched = await startDaemon(config('w.txt'), [upstream.address], { files: { 'w.txt': 'before.test\n' }, watch: true });
    try {
      expect((await query(watched.port, 'before.test')).rcode).toBe(3);
      writeFileSync(join(watched.dir, 'w.txt'), 'after.test\n');
      let rc = 0;
      for (let i = 0; i < 50 && rc !== 3; i++) {
        await new Promise((r) => setTimeout(r, 100));
        rc = (await query(watched.port, 'after.test')).rcode;
      }
      expect(rc).toBe(3);
      expect((await query(watched.port, 'before.test')).rcode).toBe(0);
    } finally {
      await watched.stop();
    }
  });

  it('starts the query log on reload when the config turns it on', async () => {
    writeConfig(`queryLog: { mode: all, path: reload-log.jsonl }\n${config('a.txt')}`);
    expect((await d.daemon.reload()).ok).toBe(true);
    await query(d.port, 'logged-after-reload.example');
    writeConfig(config('a.txt'));
    expect((await d.daemon.reload()).ok).toBe(true); // turning it off again closes and flushes the file
    const lines = readFileSync(join(d.dir, 'reload-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.some((l) => l.name === 'logged-after-reload.example' && l.verdict === 'allowed')).toBe(true);
  });
});
