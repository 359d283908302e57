// The console's history: totals (queries, blocked, allowed by exception),
// the top services, clients and exceptions, and the latest entries that
// match a search by client, name or service, over the last hour, day, week
// or month, read back from the query log files (in a worker thread: months
// of log never hold the query loop) or from the PostgreSQL sink (one
// aggregation per figure, on the server).

import { statSync } from 'node:fs';
import type { QueryLogConfig } from '../config/querylog.js';
import { JobRunner, siblingModule } from '../../thread/run.js';
import { type Entry, logFiles, scanLog, serviceOf } from './report.js';
import { TABLE } from './sinks/postgres.js';
import { clientLabel } from '../identity/who.js';

export const RANGES = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 } as const;
export type Range = keyof typeof RANGES;

export interface HistoryQuery {
  since: number;
  /** An address, or the start of one (10.1.2.): its clients; or part of a client's name or device id, any case. */
  client?: string;
  /** Part of a name, any case. */
  name?: string;
  /** A service id (deepseek), `service:ID` or `list:NAME`. */
  service?: string;
}

export interface HistoryRow {
  time: string;
  /** The client as one cell: `name (address)`, or the address (identity/who.ts). */
  client: string;
  group: string;
  name: string;
  type: string;
  verdict: string;
  service: string;
  exception: string;
}

export interface History {
  /** Queries answered: null when the log keeps only the policy's decisions (queryLog.mode: blocked). */
  queries: number | null;
  blocked: number;
  excepted: number;
  /** The most blocked services and clients, and the exceptions most used: [key, count]. */
  services: [string, number][];
  clients: [string, number][];
  exceptions: [string, number][];
  /** With a search: the latest matching entries, newest first. */
  matches: HistoryRow[];
}

const TOP = 10;
const MATCHES = 100;
/** Distinct keys counted per ranking; beyond it they count as "(other)", so a client spraying names cannot grow memory. */
const MAX_KEYS = 20_000;

const searching = (q: HistoryQuery): boolean => Boolean(q.client || q.name || q.service);

/** The client term: the start of its address, or part of its name or device id (any case). */
function clientMatches(e: Entry, term: string): boolean {
  if (e.client.startsWith(term)) return true;
  const t = term.toLowerCase();
  return (e.clientName ?? '').toLowerCase().includes(t) || (e.device ?? '').includes(t);
}

function matches(e: Entry, q: HistoryQuery): boolean {
  if (q.client && !clientMatches(e, q.client)) return false;
  if (q.name && !(e.name ?? '').toLowerCase().includes(q.name.toLowerCase())) return false;
  if (q.service) {
    const s = serviceOf(e);
    if (s !== q.service && s !== `list:${q.service}` && e.service !== q.service && `service:${e.service}` !== q.service && e.list !== q.service) return false;
  }
  return true;
}

function bump(map: Map<string, number>, key: string): void {
  const n = map.get(key);
  if (n !== undefined) map.set(key, n + 1);
  else if (map.size < MAX_KEYS) map.set(key, 1);
  else map.set('(other)', (map.get('(other)') ?? 0) + 1);
}

const top = (map: Map<string, number>): [string, number][] => [...map].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, TOP);

/** The history from log files (oldest first), as the worker computes it. `all`: the log holds every query. */
export async function historyFromFiles(files: string[], q: HistoryQuery, all: boolean): Promise<History> {
  const services = new Map<string, number>();
  const clients = new Map<string, number>();
  const exceptions = new Map<string, number>();
  const found: HistoryRow[] = [];
  let queries = 0;
  let blocked = 0;
  let excepted = 0;
  const search = searching(q);
  // A rotated file last written before the range holds nothing in it.
  const recent = files.filter((f) => {
    try {
      return statSync(f).mtimeMs >= q.since;
    } catch {
      return false;
    }
  });
  await scanLog(recent, (e) => {
    if (e.at < q.since || (search && !matches(e, q))) return;
    queries++;
    if (e.verdict === 'blocked') {
      blocked++;
      bump(services, serviceOf(e));
      bump(clients, clientLabel(e.client, e.clientName, e.device));
    }
    if (e.exception) {
      excepted++;
      bump(exceptions, e.exception);
    }
    if (search) {
      if (found.length === MATCHES) found.shift();
      found.push(row(e));
    }
  });
  return { queries: all ? queries : null, blocked, excepted, services: top(services), clients: top(clients), exceptions: top(exceptions), matches: found.reverse() };
}

const row = (e: Entry): HistoryRow => ({
  time: new Date(e.at).toISOString(),
  client: clientLabel(e.client, e.clientName, e.device),
  group: e.group ?? '',
  name: e.name ?? '',
  type: e.type ?? '',
  verdict: e.verdict,
  service: serviceOf(e),
  exception: e.exception ?? '',
});

const worker = new JobRunner(siblingModule(import.meta.url, 'history-job'));

/** The history the console shows, from where the query log goes; null when there is no log to read. */
export async function queryHistory(config: QueryLogConfig, q: HistoryQuery): Promise<History | null> {
  if (config.mode === 'off') return null;
  if (config.sink?.kind === 'postgres') return historyFromDb(config.sink.url, q, config.mode === 'all');
  return worker.run<History>({ files: logFiles(config.path), query: q, all: config.mode === 'all' });
}

async function historyFromDb(url: string, q: HistoryQuery, all: boolean): Promise<History> {
  // Loaded when the console first asks: serve starts without the driver unless the sink uses it.
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, statement_timeout: 30_000, application_name: 'aifence console' });
  await client.connect();
  try {
    const params: unknown[] = [new Date(q.since).toISOString()];
    const where = ['time >= $1'];
    const param = (v: unknown) => `$${params.push(v)}`;
    if (q.client) {
      const c = param(q.client);
      where.push(`(starts_with(client, ${c}) OR strpos(lower(client_name), lower(${c})) > 0 OR strpos(device, lower(${c})) > 0)`);
    }
    if (q.name) where.push(`strpos(lower(name), lower(${param(q.name)})) > 0`);
    if (q.service) {
      const s = param(q.service);
      where.push(`(service = ${s} OR list = ${s} OR 'service:' || service = ${s} OR 'list:' || list = ${s})`);
    }
    const w = where.join(' AND ');
    const service = "COALESCE(service, 'list:' || list, '-')";
    // One cell per client, as from the files (identity/who.ts clientLabel): `device-or-name (address)`, or the address.
    const who = "CASE WHEN COALESCE(device, client_name) IS NULL THEN client ELSE COALESCE(device, client_name) || ' (' || client || ')' END";
    const [totals, services, clients, exceptions, found] = await Promise.all([
      client.query<{ queries: string; blocked: string; excepted: string }>(
        `SELECT count(*) AS queries, count(*) FILTER (WHERE verdict = 'blocked') AS blocked, count(*) FILTER (WHERE exception IS NOT NULL) AS excepted FROM ${TABLE} WHERE ${w}`,
        params,
      ),
      client.query<{ k: string; n: string }>(`SELECT ${service} AS k, count(*) AS n FROM ${TABLE} WHERE ${w} AND verdict = 'blocked' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ${TOP}`, params),
      client.query<{ k: string; n: string }>(`SELECT ${who} AS k, count(*) AS n FROM ${TABLE} WHERE ${w} AND verdict = 'blocked' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ${TOP}`, params),
      client.query<{ k: string; n: string }>(`SELECT exception AS k, count(*) AS n FROM ${TABLE} WHERE ${w} AND exception IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ${TOP}`, params),
      searching(q)
        ? client.query<{ time: Date; client: string; grp: string | null; name: string | null; qtype: string | null; verdict: string; service: string; exception: string | null }>(
            `SELECT time, ${who} AS client, grp, name, qtype, verdict, ${service} AS service, exception FROM ${TABLE} WHERE ${w} ORDER BY time DESC LIMIT ${MATCHES}`,
            params,
          )
        : Promise.resolve({ rows: [] }),
    ]);
    const pairs = (r: { rows: { k: string; n: string }[] }): [string, number][] => r.rows.map((x) => [x.k, Number(x.n)]);
    const t = totals.rows[0];
    return {
      queries: all ? Number(t.queries) : null,
      blocked: Number(t.blocked),
      excepted: Number(t.excepted),
      services: pairs(services),
      clients: pairs(clients),
      exceptions: pairs(exceptions),
      matches: found.rows.map((r) => ({ time: r.time.toISOString(), client: r.client, group: r.grp ?? '', name: r.name ?? '', type: r.qtype ?? '', verdict: r.verdict, service: r.service, exception: r.exception ?? '' })),
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}
