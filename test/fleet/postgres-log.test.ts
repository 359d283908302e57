// Two aifence processes writing their query logs to one real PostgreSQL:
// the schema is created once, every row carries its instance's name,
// anonymisation is honoured, old rows are deleted, and `aifence report --db`
// counts each instance's blocked queries.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/control/observe/sinks/postgres.js';
import { PostgresServer, postgresPresent } from '../support/servers.js';
import { TestUpstream } from '../support/upstream.js';
import { curl } from '../support/curl.js';
import { type Instance, api, rcodeOf, startInstance, within } from './instances.js';

const run = promisify(execFile);
const present = postgresPresent();

describe.runIf(present)('query log to PostgreSQL (two processes)', () => {
  let upstream: TestUpstream;
  let db: PostgresServer;
  let sql: pg.Client;
  let dir: string;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    upstream = await TestUpstream.start();
    db = await PostgresServer.start();
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    // An old row and a recent one from an earlier run: retention must delete the first only.
    await migrate(sql);
    await sql.query(`INSERT INTO aifence_queries (time, instance, client, verdict, cached, rcode, latency_ms) VALUES
      (now() - interval '200 days', 'old', '10.0.0.1', 'blocked', false, 'NXDOMAIN', 0),
      (now() - interval '2 days', 'recent', '10.0.0.1', 'allowed', false, 'NOERROR', 0)`);
    dir = mkdtempSync(join(tmpdir(), 'aifence-pg-fleet-'));
    // a also has a block page taking access requests: they and their decisions are audit rows.
    const page = 'blockPage: { http: ["127.0.0.1:0"], answer: { ipv4: 127.0.0.1 }, requests: on }\n';
    const config = (name: string, anonymize: boolean) =>
      `upstream: { servers: ["${upstream.address}"], timeout: 1s }\nstate: { instance: ${name} }\nqueryLog: { mode: all, sink: "${db.url}", retention: 30d, anonymize: ${anonymize} }\nidentity: { hosts: { 127.0.0.1: office-pc } }\nlists:\n  ai: { source: ai.txt }\ngroups:\n  default: { block: [list:ai] }\n${anonymize ? '' : page}`;
    const files = { 'ai.txt': 'chat.banned.test\n' };
    [a, b] = await Promise.all([startInstance(dir, 'a', config('site1-a', false), files), startInstance(dir, 'b', config('site1-b', true), files)]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await sql?.end();
    await db?.stop();
    await upstream?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('both write their rows, named, to one table; report --db counts each instance\'s blocked queries', async () => {
    for (let n = 0; n < 3; n++) expect(await rcodeOf(a, 'chat.banned.test')).toBe(3);
    for (let n = 0; n < 5; n++) expect(await rcodeOf(b, 'chat.banned.test')).toBe(3);
    expect(await rcodeOf(a, 'www.example.org')).toBe(0);
    const count = async (instance: string) => Number((await sql.query('SELECT count(*) AS n FROM aifence_queries WHERE instance = $1', [instance])).rows[0].n);
    await within(5000, async () => (await count('site1-a')) === 4 && (await count('site1-b')) === 5, 'rows land');

    const rows = (await sql.query("SELECT instance, client, client_name, name, qtype, verdict, list, rcode FROM aifence_queries WHERE instance LIKE 'site1-%' ORDER BY instance, time")).rows;
    expect(rows[0]).toEqual({ instance: 'site1-a', client: '127.0.0.1', client_name: 'office-pc', name: 'chat.banned.test', qtype: 'A', verdict: 'blocked', list: 'ai', rcode: 'NXDOMAIN' });
    expect(rows.find((r) => r.instance === 'site1-a' && r.verdict === 'allowed')).toMatchObject({ name: 'www.example.org', rcode: 'NOERROR' });
    // b anonymises: its clients are networks, and their names are dropped.
    expect(new Set(rows.filter((r) => r.instance === 'site1-b').map((r) => `${r.client} ${r.client_name}`))).toEqual(new Set(['127.0.0.0 null']));
    // Migrated once, whoever came first.
    expect((await sql.query('SELECT version FROM aifence_schema')).rows).toEqual([{ version: 9 }]);
    const byClient = JSON.parse((await run(process.execPath, [resolve('dist/cli.js'), 'report', '--db', db.url, '--by', 'client', '--format', 'json'])).stdout);
    expect(byClient.rows.map((r: { client: string; address: string; queries: number }) => [r.client, r.address, r.queries])).toEqual([
      ['office-pc', '127.0.0.1', 3],
      ['-', '127.0.0.0', 5],
    ]);

    const { stdout } = await run(process.execPath, [resolve('dist/cli.js'), 'report', '--db', db.url, '--by', 'instance', '--format', 'json']);
    const report = JSON.parse(stdout);
    expect(report.rows).toEqual([
      { instance: 'site1-a', service: 'list:ai', queries: 3, clients: 1, first: expect.any(String), last: expect.any(String) },
      { instance: 'site1-b', service: 'list:ai', queries: 5, clients: 1, first: expect.any(String), last: expect.any(String) },
    ]);
    const table = (await run(process.execPath, [resolve('dist/cli.js'), 'report', '--db', db.url])).stdout;
    expect(table).toMatch(/list:ai\s+8\s+2/);
  });

  it('report --db --discover finds AI-looking names asked through any instance', async () => {
    expect(await rcodeOf(a, 'gpt-helper.example.org')).toBe(0);
    expect(await rcodeOf(b, 'gpt-helper.example.org')).toBe(0);
    await within(5000, async () => Number((await sql.query("SELECT count(*) AS n FROM aifence_queries WHERE name = 'gpt-helper.example.org'")).rows[0].n) === 2, 'rows land');
    const { stdout } = await run(process.execPath, [resolve('dist/cli.js'), 'report', '--db', db.url, '--discover', '--format', 'json']);
    const rows = JSON.parse(stdout).rows;
    expect(rows.map((r: { name: string }) => r.name)).toEqual(['gpt-helper.example.org']);
    expect(rows[0]).toMatchObject({ queries: 2, clients: 2 }); // 127.0.0.1 from a, 127.0.0.0 (anonymised) from b
  });

  it('an access request and its approval are audit rows, with who decided', async () => {
    const port = Number(/"http":\["127\.0\.0\.1:(\d+)"\]/.exec(a.output())![1]);
    const target = ['--resolve', `chat.banned.test:${port}:127.0.0.1`, `http://chat.banned.test:${port}`];
    const form = await curl(['-H', 'Accept: text/html', target[0], target[1], `${target[2]}/`]);
    const token = /name="token" value="([^"]+)"/.exec(form.body)![1];
    const sent = await curl([target[0], target[1], '-H', `Origin: ${target[2]}`, '--data', `token=${token}&reason=ticket+4711%3B+DROP+TABLE+x&duration=7d`, `${target[2]}/request`]);
    expect(sent.status).toBe(303);
    const id = (await api(a, 'GET', '/requests')).body.requests[0].id;
    expect((await api(a, 'POST', `/requests/${id}/approve`)).status).toBe(200);
    const audit = async () => (await sql.query('SELECT event, request, client, client_name, grp, name, selector, reason, duration_s, by_whom, until IS NOT NULL AS has_until, exception IS NOT NULL AS has_exception FROM aifence_audit ORDER BY time')).rows;
    await within(5000, async () => (await audit()).length === 2, 'audit rows land');
    const rows = await audit();
    expect(rows[0]).toEqual({ event: 'access-request', request: id, client: '127.0.0.1', client_name: 'office-pc', grp: 'default', name: 'chat.banned.test', selector: 'list:ai', reason: 'ticket 4711; DROP TABLE x', duration_s: 604800, by_whom: null, has_until: false, has_exception: false });
    expect(rows[1]).toMatchObject({ event: 'access-approved', request: id, client_name: 'office-pc', by_whom: `token holder at 127.0.0.1`, has_until: true, has_exception: true });
  });

  it('deletes rows older than queryLog.retention', async () => {
    await within(5000, async () => Number((await sql.query("SELECT count(*) AS n FROM aifence_queries WHERE instance = 'old'")).rows[0].n) === 0, 'old row deleted');
    expect(Number((await sql.query("SELECT count(*) AS n FROM aifence_queries WHERE instance = 'recent'")).rows[0].n)).toBe(1);
  });

  it('records the exception behind an allowed query and the list it would have been blocked by; report --db --exceptions counts it', async () => {
    const made = await api(a, 'POST', '/exceptions', { group: 'default', select: 'list:ai', until: '1h', reason: 'pg ticket' });
    expect(made.status).toBe(201);
    for (let n = 0; n < 2; n++) expect(await rcodeOf(a, 'chat.banned.test')).toBe(0);
    const label = `exception ${made.body.id} (token holder at 127.0.0.1: pg ticket)`;
    await within(5000, async () => Number((await sql.query('SELECT count(*) AS n FROM aifence_queries WHERE exception = $1', [label])).rows[0].n) === 2, 'rows land');
    const row = (await sql.query('SELECT verdict, list, service, exception FROM aifence_queries WHERE exception IS NOT NULL LIMIT 1')).rows[0];
    expect(row).toEqual({ verdict: 'allowed', list: 'ai', service: null, exception: label });
    const { stdout } = await run(process.execPath, [resolve('dist/cli.js'), 'report', '--db', db.url, '--exceptions', '--format', 'json']);
    expect(JSON.parse(stdout).rows).toEqual([{ exception: label, group: 'default', client: 'office-pc', address: '127.0.0.1', service: 'list:ai', queries: 2, first: expect.any(String), last: expect.any(String) }]);
  });

  it("serves the console's history from the sink: every instance's rows, totals and a search", async () => {
    const page = await api(a, 'GET', '/console/history?range=7d&service=list:ai');
    expect(page.status).toBe(200);
    const html = page.body as string;
    expect(html).toContain('from the PostgreSQL sink, every instance');
    // 3 blocked through a, 5 through b, and the 2 the exception let through a: every instance's rows.
    expect(html).toMatch(/data-queries="10" data-blocked="8" data-excepted="2"/);
    expect(html).toMatch(/<tr data-key="list:ai"><td>list:ai<\/td><td class="n">8<\/td><\/tr>/);
    expect(html).toContain('chat.banned.test');
    expect((await api(a, 'GET', '/console/history?range=1y')).status).toBe(400);
  });
});
