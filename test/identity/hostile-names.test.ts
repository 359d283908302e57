// Host names are hostile bytes: a lease file can hold anything a DHCP client
// sent. Every byte value (and a name too long, a formula, a bidi override)
// goes from an ISC dhcpd.leases file (escaped as dhcpd writes strings)
// through every sink that shows a client: the query log, the PostgreSQL
// sink, `aifence report` (table, CSV, JSON) from both, the console and
// `aifence check --client NAME`. Each shows one and the same text for a
// name: printable ASCII in presentation form (`\DDD`), bounded, escaped once.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderHistory, renderView } from '../../src/control/admin/console/render.js';
import { queryHistory } from '../../src/control/observe/history.js';
import { query } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { PostgresServer, postgresPresent } from '../support/servers.js';
import { TestUpstream } from '../support/upstream.js';

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, [resolve('dist/cli.js'), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
const present = postgresPresent();

/** Client address for byte b: one lease each. */
const addressOf = (b: number) => `127.1.${b}.1`;
/** The name dhcpd would have stored for byte b: `a<b>b`. */
const octal = (b: number) => `\\${b.toString(8).padStart(3, '0')}`;
const EXTRA: [string, string][] = [
  ['127.2.0.1', 'x'.repeat(300)],
  ['127.2.0.2', "=cmd|' /C calc'!A0"],
  ['127.2.0.3', 'x\u202egnp.exe'],
];
/** Any control, bidi or invisible character; and the text form of a name: printable ASCII, at most 253 bytes each written in at most 4. */
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069]/;
const FORMULA = /^[=+\-@\t\r]/;
const PRINTABLE = /^[\x21-\x7e]{1,1012}$/;

function leaseFile(): string {
  const block = (address: string, name: string) => `lease ${address} {\n  starts 1 2026/12/07 03:00:00;\n  ends never;\n  binding state active;\n  client-hostname "${name}";\n}\n`;
  const blocks = Array.from({ length: 256 }, (_, b) => block(addressOf(b), `a${octal(b)}b`));
  for (const [address, name] of EXTRA) blocks.push(block(address, [...Buffer.from(name, 'utf8')].map((c) => (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c ? octal(c) : String.fromCharCode(c))).join('')));
  return blocks.join('');
}

const clients = [...Array.from({ length: 256 }, (_, b) => addressOf(b)), ...EXTRA.map(([a]) => a)];

describe.skipIf(!present)('host names with hostile bytes, through every sink', () => {
  let upstream: TestUpstream;
  let postgres: PostgresServer;
  let file: TestDaemon;
  let db: TestDaemon;
  let log: string;
  const config = (sink: string) => `
lists:
  ai: { source: ai.txt }
groups:
  default: { block: [list:ai] }
identity:
  leases: [{ path: dhcpd.leases, format: isc }]
queryLog: { mode: blocked, path: queries.jsonl${sink} }
`;
  beforeAll(async () => {
    upstream = await TestUpstream.start();
    postgres = await PostgresServer.start();
    const files = { 'ai.txt': 'chat.ai.example\n', 'dhcpd.leases': leaseFile() };
    file = await startDaemon(config(''), [upstream.address], { files });
    db = await startDaemon(config(`, sink: "${postgres.url}"`), [upstream.address], { files });
    log = join(file.dir, 'queries.jsonl');
    for (const from of clients) {
      await query(file.port, 'chat.ai.example', 1, { from });
      await query(db.port, 'chat.ai.example', 1, { from });
    }
    await file.stop();
    await db.stop();
  }, 120_000);
  afterAll(async () => {
    await upstream?.close();
    await postgres?.stop();
  });

  const nameByClient = () => new Map(readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { client: string; clientName?: string }).map((l) => [l.client, l.clientName]));

  it('the query log: every name printable ASCII, bounded, one text per byte (up to ASCII case)', () => {
    const names = nameByClient();
    expect(names.size).toBe(clients.length);
    for (const c of clients) expect(names.get(c), c).toMatch(PRINTABLE);
    expect(new Set(Array.from({ length: 256 }, (_, b) => names.get(addressOf(b)))).size).toBe(256 - 26);
    expect(names.get(addressOf(0))).toBe('a\\000b');
    expect(names.get(addressOf(0x1b))).toBe('a\\027b');
    expect(names.get(addressOf(0x2e))).toBe('a.b');
    expect(names.get(addressOf(0x5c))).toBe('a\\\\b');
    expect(names.get(addressOf(0xff))).toBe('a\\255b');
    expect(names.get('127.2.0.1')).toBe('x'.repeat(253));
    expect(names.get('127.2.0.2')).toBe("=cmd|'\\032/c\\032calc'!a0");
    expect(names.get('127.2.0.3')).toBe('x\\226\\128\\174gnp.exe');
  });

  it('the PostgreSQL sink: the same text in client_name, every row written', async () => {
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    try {
      const r = await client.query<{ client: string; client_name: string }>('SELECT client, client_name FROM aifence_queries');
      expect(r.rows).toHaveLength(clients.length);
      const names = nameByClient();
      for (const row of r.rows) expect(row.client_name, row.client).toBe(names.get(row.client));
    } finally {
      await client.end();
    }
  });

  it('report --by client from the file and from PostgreSQL: table, CSV and JSON show that text, nothing a terminal or spreadsheet acts on', async () => {
    const names = nameByClient();
    for (const source of [['--log', log], ['--db', postgres.url]]) {
      const table = (await cli('report', ...source, '--by', 'client')).stdout;
      expect(table).not.toMatch(RAW);
      const csv = (await cli('report', ...source, '--by', 'client', '--format', 'csv')).stdout;
      expect(csv).not.toMatch(RAW);
      const cells = parse(csv) as string[][];
      expect(cells).toHaveLength(clients.length + 1);
      for (const row of cells.slice(1)) {
        expect(row[0], row[1]).not.toMatch(FORMULA);
        // CSV shows the name as it is, but for a leading quote on what a spreadsheet would run.
        expect(row[0].replace(/^'(?=[=+\-@])/, '')).toBe(names.get(row[1]));
      }
      const json = JSON.parse((await cli('report', ...source, '--by', 'client', '--format', 'json')).stdout) as { rows: { client: string; address: string }[] };
      for (const row of json.rows) expect(row.client).toBe(names.get(row.address));
    }
  }, 60_000);

  it('the console: the blocked-clients ranking and the history show the names HTML-escaped, no raw control character', async () => {
    const html = renderView(file.daemon.consoleData());
    expect(html).not.toMatch(RAW);
    const history = await queryHistory({ mode: 'blocked', path: log, maxSize: 1 << 30, keep: 1, anonymize: false }, { since: 0, client: 'a\\027b' });
    const page = renderHistory(history, '30d', { since: 0, client: 'a\\027b' }, log);
    expect(page).not.toMatch(RAW);
    expect(page).toContain(`<td>a\\027b (${addressOf(0x1b)})</td>`);
    // Searched by part of its name: the ranking and the entry name the formula client, HTML-escaped.
    const formula = renderHistory(await queryHistory({ mode: 'blocked', path: log, maxSize: 1 << 30, keep: 1, anonymize: false }, { since: 0, client: '=CMD' }), '30d', { since: 0, client: '=CMD' }, log);
    expect(formula).toContain("<td>=cmd|&#39;\\032/c\\032calc&#39;!a0 (127.2.0.2)</td><td class=\"n\">1</td>");
  });

  it('check --client NAME takes a name as the log writes it, and says which address it stands for', async () => {
    const config = join(file.dir, 'aifence.yaml');
    const { stdout } = await cli('check', '--config', config, '--offline', '--client', 'a\\027b', 'chat.ai.example');
    expect(stdout).toContain(`# client a\\027b: lease of ${addressOf(0x1b)}`);
    expect(stdout).toMatch(/^chat\.ai\.example\tblocked\tdefault/m);
    expect(stdout.replace(/\t/g, ' ')).not.toMatch(RAW);
  });
});
