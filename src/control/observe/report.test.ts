import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildReport, formatReport, logFiles } from './report.js';

const BASE = Date.UTC(2026, 10, 1);
const iso = (ms: number) => new Date(ms).toISOString();

describe('report over a large rotated log', () => {
  const SERVICES = ['deepseek', 'kimi', 'qwen'];
  const LINES = 200_000;
  const FILES = 4;
  let path: string;
  /** client -> service -> [count, first, last], counted while generating. */
  const expected = new Map<string, Map<string, [number, number, number]>>();
  /** service ('-' for allowed) -> count and clients, every verdict. */
  const everything = new Map<string, { n: number; clients: Set<string> }>();
  const countAll = (service: string, client: string) => {
    const cell = everything.get(service) ?? { n: 0, clients: new Set<string>() };
    everything.set(service, cell);
    cell.n++;
    cell.clients.add(client);
  };

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-report-'));
    path = join(dir, 'q.jsonl');
    const perFile = LINES / FILES;
    for (let f = 0; f < FILES; f++) {
      const out: string[] = [];
      for (let j = 0; j < perFile; j++) {
        const i = f * perFile + j;
        const time = BASE + i * 1000;
        const client = `10.0.${i % 7}.${i % 50}`;
        if (i % 5 === 0) {
          countAll('-', client);
          out.push(JSON.stringify({ time: iso(time), client, group: 'default', name: 'example.org', type: 'A', verdict: 'allowed', cached: false, rcode: 'NOERROR', latencyMs: 1.5 }));
          continue;
        }
        const service = SERVICES[i % 3];
        countAll(service, client);
        out.push(JSON.stringify({ time: iso(time), client, group: 'default', name: `chat.${service}.com`, type: 'A', verdict: 'blocked', cached: false, service, list: `service:${service}`, rcode: 'NXDOMAIN', latencyMs: 0.02 }));
        const byService = expected.get(client) ?? new Map<string, [number, number, number]>();
        expected.set(client, byService);
        const cell = byService.get(service) ?? [0, time, time];
        byService.set(service, [cell[0] + 1, Math.min(cell[1], time), Math.max(cell[2], time)]);
      }
      if (f === 1) out.push('{"truncated', '{"time":"2026-11-02T00:00:00.000Z","event":"dropped","count":42}');
      // Oldest in the highest number: q.jsonl.3 … q.jsonl.1, then q.jsonl.
      writeFileSync(f === FILES - 1 ? path : `${path}.${FILES - 1 - f}`, out.join('\n') + '\n');
    }
  });

  it('finds the rotated files, oldest first', () => {
    expect(logFiles(path)).toEqual([`${path}.3`, `${path}.2`, `${path}.1`, path]);
  });

  it('--by client: client × service with count, first and last, blocked only (no names in this log: every client "-", by address)', async () => {
    const report = await buildReport(logFiles(path), { by: 'client' });
    expect(report.lines).toBe(LINES + 2);
    expect(report.bad).toBe(1);
    expect(report.firstBad).toBe(`${path}.2:50001`);
    expect(report.dropped).toBe(42);
    expect(report.matched).toBe((LINES * 4) / 5);
    expect(new Set(report.rows.map((r) => r.key))).toEqual(new Set(['-']));
    const got = new Map(report.rows.map((r) => [`${r.address} ${r.service}`, [r.queries, r.first, r.last]]));
    const want = new Map([...expected].flatMap(([client, m]) => [...m].map(([s, [n, a, b]]) => [`${client} ${s}`, [n, iso(a), iso(b)]])));
    expect(got).toEqual(want);
    // Clients in order, the busiest service first within each.
    const keys = report.rows.map((r) => r.address!);
    expect(keys).toEqual([...keys].sort());
  });

  it('--by service with --all: every query, distinct clients per service', async () => {
    const report = await buildReport(logFiles(path), { by: 'service', all: true });
    expect(report.matched).toBe(LINES);
    const want = [...everything].map(([service, { n, clients }]) => [service, n, clients.size]);
    want.sort((a, b) => (b[1] as number) - (a[1] as number) || (a[0] < b[0] ? -1 : 1));
    expect(report.rows.map((r) => [r.service, r.queries, r.clients])).toEqual(want);
    expect(want.map((w) => w[0])).toContain('-');
    expect(report.rows[0].first).toBe(iso(BASE + 1000));
  });
});

describe('report formats, --since, --by group and day', () => {
  let path: string;
  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-report-small-'));
    path = join(dir, 'q.jsonl');
    const line = (day: number, hour: number, client: string, group: string, service: string | null, who: { clientName?: string; device?: string } = {}) =>
      JSON.stringify({
        time: iso(BASE + day * 86_400_000 + hour * 3_600_000),
        client,
        ...who,
        group,
        name: 'x',
        type: 'A',
        verdict: service ? 'blocked' : 'allowed',
        cached: false,
        ...(service ? { service, list: `service:${service}` } : {}),
        rcode: 'NOERROR',
        latencyMs: 0,
      });
    writeFileSync(
      path,
      [
        line(0, 9, '10.20.0.5', 'external', 'deepseek', { clientName: 'alice-laptop' }),
        line(0, 10, '10.20.0.6', 'external', 'deepseek', { clientName: 'alice-laptop', device: 'alice-phone' }),
        line(1, 11, '10.20.0.5', 'external', 'openai', { clientName: 'bob-desk' }),
        line(1, 12, '10.30.0.9', 'research', 'deepseek'),
        line(1, 13, '10.30.0.9', 'research', null),
        JSON.stringify({ time: iso(BASE + 2 * 86_400_000), client: '10.30.0.9', group: 'research', verdict: 'blocked', cached: false, list: 'ads', rcode: 'NXDOMAIN', latencyMs: 0 }),
        'not json at all',
        '',
      ].join('\n'),
    );
  });

  it('table: aligned columns, numbers to the right', async () => {
    const report = await buildReport([path], { by: 'group' });
    expect(report.bad).toBe(1);
    expect(formatReport(report, 'table')).toBe(
      [
        'group     service   queries  clients  first                     last',
        'external  deepseek        2        2  2026-11-01T09:00:00.000Z  2026-11-01T10:00:00.000Z',
        'external  openai          1        1  2026-11-02T11:00:00.000Z  2026-11-02T11:00:00.000Z',
        'research  deepseek        1        1  2026-11-02T12:00:00.000Z  2026-11-02T12:00:00.000Z',
        'research  list:ads        1        1  2026-11-03T00:00:00.000Z  2026-11-03T00:00:00.000Z',
        '',
      ].join('\n'),
    );
  });

  it('csv: a header and one row a line', async () => {
    const report = await buildReport([path], { by: 'day' });
    expect(formatReport(report, 'csv')).toBe(
      [
        'day,service,queries,clients,first,last',
        '2026-11-01,deepseek,2,2,2026-11-01T09:00:00.000Z,2026-11-01T10:00:00.000Z',
        '2026-11-02,deepseek,1,1,2026-11-02T12:00:00.000Z,2026-11-02T12:00:00.000Z',
        '2026-11-02,openai,1,1,2026-11-02T11:00:00.000Z,2026-11-02T11:00:00.000Z',
        '2026-11-03,list:ads,1,1,2026-11-03T00:00:00.000Z,2026-11-03T00:00:00.000Z',
        '',
      ].join('\n'),
    );
  });

  it('json: one document with rows keyed by the --by column; --by client puts the name first (as logged at the time), the address beside', async () => {
    const report = await buildReport([path], { by: 'client', all: true });
    expect(JSON.parse(formatReport(report, 'json'))).toEqual({
      by: 'client',
      rows: [
        // 10.20.0.5 was alice-laptop on day 0 and bob-desk on day 1 (DHCP moved it): each under its own name.
        { client: 'alice-laptop', address: '10.20.0.5', service: 'deepseek', queries: 1, clients: 1, first: '2026-11-01T09:00:00.000Z', last: '2026-11-01T09:00:00.000Z' },
        { client: 'alice-laptop', address: '10.20.0.6', service: 'deepseek', queries: 1, clients: 1, first: '2026-11-01T10:00:00.000Z', last: '2026-11-01T10:00:00.000Z' },
        { client: 'bob-desk', address: '10.20.0.5', service: 'openai', queries: 1, clients: 1, first: '2026-11-02T11:00:00.000Z', last: '2026-11-02T11:00:00.000Z' },
        { client: '-', address: '10.30.0.9', service: '-', queries: 1, clients: 1, first: '2026-11-02T13:00:00.000Z', last: '2026-11-02T13:00:00.000Z' },
        { client: '-', address: '10.30.0.9', service: 'deepseek', queries: 1, clients: 1, first: '2026-11-02T12:00:00.000Z', last: '2026-11-02T12:00:00.000Z' },
        { client: '-', address: '10.30.0.9', service: 'list:ads', queries: 1, clients: 1, first: '2026-11-03T00:00:00.000Z', last: '2026-11-03T00:00:00.000Z' },
      ],
      lines: 7,
      matched: 6,
      bad: 1,
      dropped: 0,
    });
  });

  it('table --by client: name, then address; --by device: one row per device id, "-" for none', async () => {
    expect(formatReport(await buildReport([path], { by: 'client' }), 'table')).toBe(
      [
        'client        address    service   queries  first                     last',
        'alice-laptop  10.20.0.5  deepseek        1  2026-11-01T09:00:00.000Z  2026-11-01T09:00:00.000Z',
        'alice-laptop  10.20.0.6  deepseek        1  2026-11-01T10:00:00.000Z  2026-11-01T10:00:00.000Z',
        'bob-desk      10.20.0.5  openai          1  2026-11-02T11:00:00.000Z  2026-11-02T11:00:00.000Z',
        '-             10.30.0.9  deepseek        1  2026-11-02T12:00:00.000Z  2026-11-02T12:00:00.000Z',
        '-             10.30.0.9  list:ads        1  2026-11-03T00:00:00.000Z  2026-11-03T00:00:00.000Z',
        '',
      ].join('\n'),
    );
    const byDevice = await buildReport([path], { by: 'device' });
    expect(byDevice.rows.map((r) => [r.key, r.service, r.queries, r.clients])).toEqual([
      ['alice-phone', 'deepseek', 1, 1],
      ['-', 'deepseek', 2, 2],
      ['-', 'list:ads', 1, 1],
      ['-', 'openai', 1, 1],
    ]);
  });

  it('--since skips older entries', async () => {
    const report = await buildReport([path], { by: 'service', since: BASE + 86_400_000 });
    expect(report.rows.map((r) => [r.service, r.queries])).toEqual([
      ['deepseek', 1],
      ['list:ads', 1],
      ['openai', 1],
    ]);
  });

  it('a missing log gives no files', () => {
    expect(logFiles(join(path, '..', 'none.jsonl'))).toEqual([]);
  });
});
