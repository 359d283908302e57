// `aifence report --exceptions`: every use of an exception, from the query
// log or every instance's rows in PostgreSQL. An allowed query that a block
// would have stopped carries the service it would have been blocked as and
// what let it through (a runtime exception by id, author and reason, an
// allow rule, a list's allow entry, a pause): one row per exception,
// client and service, with how often and when first and last. The client
// is its name (identity; '-' when none was known) with its address beside.

import pg from 'pg';
import { csv, table } from '../../text/visible.js';
import { type Scan, scanLog, serviceOf } from './report.js';
import { TABLE } from './sinks/postgres.js';

export interface ExceptionUse {
  exception: string;
  group: string;
  /** The client's name at the time ('-' when none was known). */
  client: string;
  address: string;
  service: string;
  queries: number;
  first: string;
  last: string;
}

export interface ExceptionReport extends Scan {
  rows: ExceptionUse[];
  /** Entries that were uses of an exception. */
  matched: number;
}

/** Rows in one order for every source: by exception, then the busiest client and service first. */
function ordered(rows: ExceptionUse[]): ExceptionUse[] {
  const who = (u: ExceptionUse) => `${u.client}\u0000${u.address}\u0000${u.service}`;
  return rows.sort((a, b) => (a.exception !== b.exception ? (a.exception < b.exception ? -1 : 1) : b.queries - a.queries || (who(a) < who(b) ? -1 : 1)));
}

export async function exceptionsFromFiles(files: string[], since = -Infinity): Promise<ExceptionReport> {
  const cells = new Map<string, { use: ExceptionUse; first: number; last: number }>();
  let matched = 0;
  const scan = await scanLog(files, (e) => {
    if (!e.exception || e.at < since) return;
    matched++;
    const service = serviceOf(e);
    const group = e.group ?? '-';
    const name = e.clientName || '-';
    const id = [e.exception, group, name, e.client, service].join('\u0000');
    const cell = cells.get(id);
    if (cell === undefined) {
      cells.set(id, { use: { exception: e.exception, group, client: name, address: e.client, service, queries: 1, first: '', last: '' }, first: e.at, last: e.at });
      return;
    }
    cell.use.queries++;
    if (e.at < cell.first) cell.first = e.at;
    if (e.at > cell.last) cell.last = e.at;
  });
  const rows = [...cells.values()].map((c) => ({ ...c.use, first: new Date(c.first).toISOString(), last: new Date(c.last).toISOString() }));
  return { ...scan, rows: ordered(rows), matched };
}

export async function exceptionsFromDb(url: string, since?: number): Promise<ExceptionReport> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, application_name: 'aifence report' });
  await client.connect();
  try {
    const params: unknown[] = [];
    let where = 'exception IS NOT NULL';
    if (since !== undefined) {
      params.push(new Date(since).toISOString());
      where += ` AND time >= $${params.length}`;
    }
    const r = await client.query<{ exception: string; grp: string; name: string; client: string; service: string; queries: string; first: Date; last: Date }>(
      `SELECT exception, COALESCE(grp, '-') AS grp, COALESCE(client_name, '-') AS name, client, COALESCE(service, 'list:' || list, '-') AS service, count(*)::bigint AS queries, min(time) AS first, max(time) AS last
       FROM ${TABLE} WHERE ${where} GROUP BY 1, 2, 3, 4, 5`,
      params,
    );
    const rows = r.rows.map((row) => ({
      exception: row.exception, group: row.grp, client: row.name, address: row.client, service: row.service, queries: Number(row.queries), first: row.first.toISOString(), last: row.last.toISOString(),
    }));
    const matched = rows.reduce((n, row) => n + row.queries, 0);
    return { rows: ordered(rows), matched, lines: matched, bad: 0, dropped: 0 };
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') throw new Error(`no ${TABLE} table at --db (has an aifence with queryLog.sink pointing there run yet?)`);
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const COLUMNS = ['exception', 'group', 'client', 'address', 'service', 'queries', 'first', 'last'] as const;

export function formatExceptions(report: ExceptionReport, format: 'table' | 'csv' | 'json'): string {
  if (format === 'json') return JSON.stringify({ rows: report.rows, lines: report.lines, matched: report.matched, bad: report.bad, dropped: report.dropped }) + '\n';
  const cells = [[...COLUMNS], ...report.rows.map((r) => COLUMNS.map((c) => String(r[c])))];
  if (format === 'csv') return csv(cells);
  return report.rows.length === 0 ? 'no use of an exception in the log\n' : table(cells, new Set([COLUMNS.indexOf('queries')]));
}
