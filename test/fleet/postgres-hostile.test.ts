// Hostile names through every sink, against real processes: aifence
// instances (the built CLI), a real PostgreSQL, dnsperf and a raw upstream.
//  - The red team's burst: 1,000 blocked queries, one whose label is
//    `a\x00b` under chat.deepseek.com, 1,000 more. Every row lands, the NUL
//    one in presentation form (COPY used to drop the batch around it).
//  - Every byte value in every label position, through the file log, the
//    PostgreSQL sink, `report --discover` (CSV and table, from both) and
//    `check`: each name reads back as the bytes asked (ASCII case folded).
//  - A row the database still refuses costs only itself.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresQueryLog } from '../../src/control/observe/sinks/postgres.js';
import { QueryEvent } from '../../src/shared/events.js';
import { Guard } from '../../src/shared/guard.js';
import { createLogger } from '../../src/shared/logger.js';
import { nameText, parseNameText } from '../../src/wire/presentation.js';
import { exchange } from '../support/client.js';
import { RawUpstream } from '../support/raw-upstream.js';
import { PostgresServer, postgresPresent } from '../support/servers.js';
import { toolsPresent } from '../support/tools.js';
import { type Instance, api, startInstance, within } from './instances.js';

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, [resolve('dist/cli.js'), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
const present = postgresPresent() && toolsPresent(['dnsperf'], 'dnsperf');

const wire = (...labels: number[][]): Uint8Array => Uint8Array.from([...labels.flatMap((l) => [l.length, ...l]), 0]);
const ascii = (s: string): number[] => [...Buffer.from(s, 'latin1')];
const hex = (w: Uint8Array) => Buffer.from(w.map((b) => (b >= 0x41 && b <= 0x5a ? b | 0x20 : b))).toString('hex');

/** Every byte value, alone and inside a label, first (allowed and blocked), in the middle and last. */
function sweep(): Uint8Array[] {
  const names: Uint8Array[] = [];
  for (let b = 0; b < 256; b++) {
    for (const label of [[b], [0x61, b, 0x62]]) {
      names.push(wire(label, ascii('gpt'), ascii('example')));
      names.push(wire(label, ascii('chat'), ascii('deepseek'), ascii('com')));
      names.push(wire(ascii('gpt'), label, ascii('example')));
      names.push(wire(ascii('gpt'), ascii('example'), label));
    }
  }
  return names;
}
const blockedName = (w: Uint8Array) => nameText(w).endsWith('.chat.deepseek.com');

function queryFor(name: Uint8Array, id: number): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header[2] = 0x01;
  header.writeUInt16BE(1, 4);
  return Buffer.concat([header, name, Buffer.from([0, 1, 0, 1])]);
}

/** Asks every name (64 at a time); resolves when all were answered. */
async function askAll(port: number, names: Uint8Array[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const i = next++;
      await exchange(port, queryFor(names[i], i & 0xffff), { timeoutMs: 5000 });
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
}

/** No cell a spreadsheet runs, no raw control or bidi character. */
function expectSafeCsv(text: string): string[][] {
  expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069]/);
  const cells = parse(text) as string[][];
  for (const row of cells) for (const cell of row) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
  return cells;
}

describe.runIf(present)('hostile names through the file log, PostgreSQL, reports and check (real processes)', () => {
  let upstream: RawUpstream;
  let db: PostgresServer;
  let sql: pg.Client;
  let dir: string;
  let filed: Instance;
  let pgsink: Instance;
  const count = async (instance: string) => Number((await sql.query('SELECT count(*) AS n FROM aifence_queries WHERE instance = $1', [instance])).rows[0].n);

  beforeAll(async () => {
    upstream = await RawUpstream.start();
    db = await PostgresServer.start();
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    dir = mkdtempSync(join(tmpdir(), 'aifence-hostile-'));
    // No groups: the default policy blocks service:deepseek from the packaged catalogue.
    const base = `upstream: { servers: ["${upstream.address}"], timeout: 1s }\n`;
    [filed, pgsink] = await Promise.all([
      startInstance(dir, 'file', `${base}state: { instance: file }\nqueryLog: { mode: all, path: ${join(dir, 'queries.jsonl')} }\n`),
      startInstance(dir, 'pg', `${base}state: { instance: burst }\nqueryLog: { mode: all, sink: "${db.url}" }\n`),
    ]);
    // The sink connects while the daemon serves: wait for its table before the burst.
    await within(20_000, async () => (await sql.query("SELECT to_regclass('aifence_queries') AS t")).rows[0].t !== null, 'sink ready');
  }, 60_000);

  afterAll(async () => {
    await Promise.all([filed?.stop(), pgsink?.stop()]);
    await sql?.end();
    await db?.stop();
    await upstream?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the 2,001-query burst (a NUL label in the middle) loses no row; the NUL one is logged as a\\000b.chat.deepseek.com', async () => {
    const file = join(dir, 'burst.txt');
    const lines = [...Array.from({ length: 1000 }, (_, i) => `q${i}.chat.deepseek.com A`), 'a\\000b.chat.deepseek.com A', ...Array.from({ length: 1000 }, (_, i) => `r${i}.chat.deepseek.com A`)];
    writeFileSync(file, lines.join('\n') + '\n');
    // At 20,000 q/s the burst lands in one batch (one flush every 200 ms). dnsperf may miss a reply on a busy machine; the daemon's rows are what is counted.
    await run('dnsperf', ['-s', '127.0.0.1', '-p', String(pgsink.port), '-d', file, '-n', '1', '-c', '1', '-T', '1', '-q', '100', '-Q', '20000', '-t', '5']);
    await within(10_000, async () => (await count('burst')) >= 2001, 'all 2,001 rows').catch(() => undefined);
    const rows = (await sql.query<{ name: string }>("SELECT name FROM aifence_queries WHERE instance = 'burst'")).rows.map((r) => r.name);
    expect(rows.length).toBe(2001);
    expect(rows).toContain('a\\000b.chat.deepseek.com');
    expect(new Set(rows)).toEqual(new Set(lines.map((l) => l.slice(0, -2))));
    const metrics = (await api(pgsink, 'GET', '/metrics')).body as string;
    expect(metrics).toMatch(/aifence_querylog_written_total 2001\n/);
    expect(metrics).toMatch(/aifence_querylog_rejected_total 0\n/);
    expect(metrics).toMatch(/aifence_querylog_dropped_total 0\n/);
  });

  it('every byte in every label position: the file log and PostgreSQL read back the bytes asked', async () => {
    const names = sweep();
    const before = await count('burst');
    await Promise.all([askAll(filed.port, names), askAll(pgsink.port, names)]);
    const expected = names.map(hex).sort();
    await within(15_000, async () => (await count('burst')) >= before + names.length, 'rows land').catch(() => undefined);
    const fromDb = (await sql.query<{ name: string; verdict: string }>("SELECT name, verdict FROM aifence_queries WHERE instance = 'burst' ORDER BY time OFFSET $1", [before])).rows;
    expect(fromDb.map((r) => hex(parseNameText(r.name))).sort()).toEqual(expected);
    for (const r of fromDb) expect(r.verdict, r.name).toBe(blockedName(parseNameText(r.name)) ? 'blocked' : 'allowed');

    await filed.stop(); // flushes the file
    const logged = readFileSync(join(dir, 'queries.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { name: string; verdict: string });
    for (const l of logged) expect(l.name).toMatch(/^[\x21-\x7e]+$/);
    expect(logged.map((l) => hex(parseNameText(l.name))).sort()).toEqual(expected);
    // The two spellings never meet: the one label chat.deepseek.com and the three-label name.
    expect(logged.filter((l) => l.name === 'chat.deepseek.com')).toEqual([]);
  });

  it('report --discover from the file and from PostgreSQL: names in presentation form, no formula cell, no raw control byte', async () => {
    const fromFile = expectSafeCsv((await cli('report', '--log', join(dir, 'queries.jsonl'), '--discover', '--format', 'csv')).stdout);
    const fromDb = expectSafeCsv((await cli('report', '--db', db.url, '--discover', '--format', 'csv')).stdout);
    for (const cells of [fromFile, fromDb]) {
      // A leading ' is csv-stringify's formula escape only before = + - @ (a name may begin with ' itself).
      const listed = cells.slice(1).map((r) => r[0].replace(/^'(?=[=+\-@])/, ''));
      // Allowed names with a "gpt" label: the first-label sweep is there, = + - @ first included.
      expect(listed).toContain('=.gpt.example');
      expect(listed).toContain('a\\000b.gpt.example');
      expect(listed).toContain('\\027.gpt.example');
      for (const name of listed) expect(() => parseNameText(name), name).not.toThrow();
    }
    const table = (await cli('report', '--db', db.url, '--discover')).stdout;
    expect(table).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  });

  it('check reads the log\'s form back: the same name, decided as the daemon decided it', async () => {
    const names = sweep();
    // A line starting with # is a comment in check's files, and / marks a URL: such bytes are written escaped.
    const texts = names.map((w) => nameText(w).replace(/^#/, '\\035').replaceAll('/', '\\047'));
    writeFileSync(join(dir, 'names.txt'), texts.join('\n') + '\n');
    const { stdout } = await cli('check', '-c', join(dir, 'pg', 'aifence.yaml'), '-f', join(dir, 'names.txt'), '--json').catch((err) => {
      throw new Error(err.stderr);
    });
    const results = stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; verdict: string });
    expect(results.map((r) => hex(parseNameText(r.name)))).toEqual(names.map(hex));
    results.forEach((r, i) => expect(r.verdict, r.name).toBe(blockedName(names[i]) ? 'blocked' : 'allowed'));
    // One label whose bytes are chat.deepseek.com is another name: allowed, named with its escaped dots.
    const one = JSON.parse((await cli('check', '-c', join(dir, 'pg', 'aifence.yaml'), 'chat\\.deepseek\\.com', '--json')).stdout);
    expect(one).toMatchObject({ name: 'chat\\.deepseek\\.com', verdict: 'allowed' });
  });

  it('a row the database still refuses costs only itself: counted, the rest of its batch written', async () => {
    const said: string[] = [];
    const log = createLogger({ level: 'warn', destination: { write: (line: string) => void said.push(line) } });
    const sink = new PostgresQueryLog({ mode: 'all', path: '', maxSize: 0, keep: 0, anonymize: false }, db.url, 'refused', log, { flushMs: 20, guard: new Guard(log) });
    await within(10_000, async () => !sink.failing && sink.pending === 0, 'connected');
    const e = new QueryEvent();
    const msg = queryFor(wire(ascii('chat'), ascii('deepseek'), ascii('com')), 1);
    const nul = queryFor(wire([0x61, 0, 0x62], ascii('chat'), ascii('deepseek'), ascii('com')), 1);
    e.msg = msg;
    e.questionEnd = msg.length;
    e.qtype = 1;
    e.verdict = 'blocked';
    e.list = 'service:deepseek';
    for (let i = 0; i < 2001; i++) {
      e.time = Date.now();
      e.client = `10.0.${i >> 8}.${i & 255}`;
      // A group name is never a client's to choose; a NUL here is what the server still refuses (22021).
      e.group = i === 1000 ? 'bad\u0000group' : 'default';
      e.msg = i === 1000 ? nul : msg;
      e.questionEnd = e.msg.length;
      sink.observe(e);
    }
    await within(10_000, async () => sink.written + sink.rejected === 2001, 'all sent');
    expect(sink.written).toBe(2000);
    expect(sink.rejected).toBe(1);
    expect(sink.dropped).toBe(0);
    expect(await count('refused')).toBe(2000);
    await sink.close();
    // The daemon's own log names the refused row, its name in presentation form.
    const refused = said.map((l) => JSON.parse(l)).find((l) => /refused by the database/.test(l.msg));
    expect(refused).toMatchObject({ client: '10.0.3.232', name: 'a\\000b.chat.deepseek.com', rejectedTotal: 1 });
    expect(refused.err).toMatch(/0x00/);
  });
});
