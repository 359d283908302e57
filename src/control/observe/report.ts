// Reading the query log back: who tried to reach which AI service, how
// often, first and last seen. Files are streamed line by line and only
// the aggregates are kept, so millions of lines need little memory.

import { createReadStream, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { csv, table } from '../../text/visible.js';

export type ReportBy = 'service' | 'client' | 'device' | 'group' | 'day' | 'instance';
export const REPORT_BY: readonly ReportBy[] = ['service', 'client', 'device', 'group', 'day', 'instance'];

export interface ReportOptions {
  by: ReportBy;
  /** Entries before this (milliseconds) are skipped. */
  since?: number;
  /** Count every verdict, not only blocked queries. */
  all?: boolean;
}

/** One row: the --by key (absent for --by service), the service, and what was seen. */
export interface ReportRow {
  /** --by client: the client's name ('-' when none was known); else the key. */
  key?: string;
  /** --by client: the client's address, beside its name. */
  address?: string;
  service: string;
  queries: number;
  /** Distinct client addresses (1 for --by client). */
  clients: number;
  first: string;
  last: string;
}

export interface Report {
  by: ReportBy;
  rows: ReportRow[];
  files: string[];
  /** Lines read, lines counted. */
  lines: number;
  matched: number;
  /** Lines that were not query log entries, with where the first one was. */
  bad: number;
  firstBad?: string;
  /** Entries the daemon noted it had dropped. */
  dropped: number;
}

/** The live file and its rotations, oldest first: path.N … path.1, path. */
export function logFiles(path: string): string[] {
  const dir = dirname(path);
  const prefix = basename(path) + '.';
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [path];
  }
  const rotated = names
    .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)))
    .map((n) => ({ n: Number(n.slice(prefix.length)), file: join(dir, n) }))
    .sort((a, b) => b.n - a.n)
    .map((r) => r.file);
  return names.includes(basename(path)) ? [...rotated, path] : rotated;
}

/** The service when the catalogue decided, `list:NAME` for an admin's list (as selectors write it), else '-'. */
export const serviceOf = (e: { service?: string; list?: string }): string => e.service ?? (e.list ? `list:${e.list}` : '-');

/** A query log entry as report reads it back. */
export interface Entry {
  time: string;
  client: string;
  /** The client's host name at the query's time (identity), when one was known. */
  clientName?: string;
  /** The device id it gave over DoH or DoT. */
  device?: string;
  group?: string;
  /** The instance that logged it (the PostgreSQL sink; absent in files). */
  instance?: string;
  verdict: string;
  /** The name in presentation form, and its type. */
  name?: string;
  type?: string;
  service?: string;
  list?: string;
  /** What let an allowed query through that `service`/`list` would have blocked. */
  exception?: string;
  /** `time` in milliseconds, set by parse. */
  at: number;
}

/** What a pass over the log files saw besides its entries. */
export interface Scan {
  /** Lines read. */
  lines: number;
  /** Lines that were not query log entries, with where the first one was. */
  bad: number;
  firstBad?: string;
  /** Entries the daemon noted it had dropped. */
  dropped: number;
}

/** Streams every entry of `files` (oldest first) to `visit`; only what `visit` keeps stays in memory. */
export async function scanLog(files: string[], visit: (e: Entry) => void): Promise<Scan> {
  const scan: Scan = { lines: 0, bad: 0, dropped: 0 };
  for (const file of files) {
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    let n = 0;
    for await (const text of lines) {
      n++;
      if (text === '') continue;
      scan.lines++;
      const e = parse(text);
      if (e === null) {
        if (scan.bad++ === 0) scan.firstBad = `${file}:${n}`;
        continue;
      }
      if ('event' in e) {
        if (e.event === 'dropped') scan.dropped += e.count;
        continue;
      }
      visit(e);
    }
  }
  return scan;
}

interface Cell {
  service: string;
  key: string;
  address: string;
  queries: number;
  clients: Set<string> | null;
  first: number;
  last: number;
}

export async function buildReport(files: string[], options: ReportOptions): Promise<Report> {
  const cells = new Map<string, Cell>();
  let matched = 0;
  const since = options.since ?? -Infinity;
  const scan = await scanLog(files, (e) => {
    if (!options.all && e.verdict !== 'blocked') return;
    const t = e.at;
    if (t < since) return;
    matched++;
    const service = serviceOf(e);
    const key = keyOf(e, options.by);
    // --by client: one row per name and address, so a name that moved (DHCP) shows each address it had.
    const address = options.by === 'client' ? e.client : '';
    const id = `${key}\u0000${address}\u0000${service}`;
    let cell = cells.get(id);
    if (cell === undefined) {
      cell = { service, key, address, queries: 0, clients: options.by === 'client' ? null : new Set(), first: t, last: t };
      cells.set(id, cell);
    }
    cell.queries++;
    cell.clients?.add(e.client);
    if (t < cell.first) cell.first = t;
    if (t > cell.last) cell.last = t;
  });
  const report: Report = { by: options.by, rows: [], files, matched, ...scan };
  report.rows = [...cells.values()].sort(byKeyThenQueries).map((c) => ({
    ...(options.by === 'service' ? {} : { key: c.key }),
    ...(options.by === 'client' ? { address: c.address } : {}),
    service: c.service,
    queries: c.queries,
    clients: c.clients?.size ?? 1,
    first: new Date(c.first).toISOString(),
    last: new Date(c.last).toISOString(),
  }));
  return report;
}

function keyOf(e: Entry, by: ReportBy): string {
  switch (by) {
    case 'service':
      return '';
    case 'client':
      return e.clientName || '-';
    case 'device':
      return e.device || '-';
    case 'group':
      return e.group ?? '-';
    case 'day':
      return e.time.slice(0, 10);
    case 'instance':
      return e.instance ?? '-';
  }
}

/** By key (clients, groups, days in order; unnamed clients last), then address, then the busiest service first. */
function byKeyThenQueries(a: Cell, b: Cell): number {
  if (a.key !== b.key) return a.key === '-' ? 1 : b.key === '-' ? -1 : a.key < b.key ? -1 : 1;
  if (a.address !== b.address) return a.address < b.address ? -1 : 1;
  return b.queries - a.queries || (a.service < b.service ? -1 : a.service > b.service ? 1 : 0);
}

function parse(text: string): Entry | { event: string; count: number } | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  // Notes of drops carry a count; audit events (access requests and decisions) are the log's too, not queries.
  if (typeof o.event === 'string') return typeof o.count === 'number' ? { event: o.event, count: o.count } : o.event.startsWith('access-') ? { event: o.event, count: 0 } : null;
  const at = typeof o.time === 'string' ? Date.parse(o.time) : NaN;
  if (Number.isNaN(at) || typeof o.client !== 'string' || typeof o.verdict !== 'string') return null;
  return { ...(o as unknown as Entry), at };
}

/** The report as a table, CSV or one JSON document. */
export function formatReport(report: Report, format: 'table' | 'csv' | 'json'): string {
  const keyed = report.by !== 'service';
  const byClient = report.by === 'client';
  if (format === 'json') {
    const rows = report.rows.map(({ key, ...rest }) => (keyed ? { [report.by]: key, ...rest } : rest));
    return JSON.stringify({ by: report.by, rows, lines: report.lines, matched: report.matched, bad: report.bad, dropped: report.dropped }) + '\n';
  }
  const header = [...(keyed ? [report.by] : []), ...(byClient ? ['address'] : []), 'service', 'queries', ...(byClient ? [] : ['clients']), 'first', 'last'];
  const cells = report.rows.map((r) => [
    ...(keyed ? [r.key ?? ''] : []),
    ...(byClient ? [r.address ?? ''] : []),
    r.service,
    String(r.queries),
    ...(byClient ? [] : [String(r.clients)]),
    r.first,
    r.last,
  ]);
  if (format === 'csv') return csv([header, ...cells]);
  const numeric = new Set(header.flatMap((h, i) => (h === 'queries' || h === 'clients' ? [i] : [])));
  return table([header, ...cells], numeric);
}
