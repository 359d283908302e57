// `aifence report --db URL`: the same report as from the files, computed by
// PostgreSQL as one aggregation over every instance's rows.

import pg from 'pg';
import type { Report, ReportOptions } from './report.js';
import { TABLE } from './sinks/postgres.js';

const KEY: Record<ReportOptions['by'], string> = {
  service: "''",
  client: "COALESCE(client_name, '-')",
  device: "COALESCE(device, '-')",
  group: "COALESCE(grp, '-')",
  day: "to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
  instance: 'instance',
};

const SERVICE = "COALESCE(service, 'list:' || list, '-')";

export async function buildDbReport(url: string, options: ReportOptions): Promise<Report> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, application_name: 'aifence report' });
  await client.connect();
  try {
    const where: string[] = [];
    const params: unknown[] = [];
    if (!options.all) where.push("verdict = 'blocked'");
    if (options.since !== undefined) {
      params.push(new Date(options.since).toISOString());
      where.push(`time >= $${params.length}`);
    }
    const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    // --by client: a row per name and address (name first, address beside), unnamed clients last, as from the files.
    const byClient = options.by === 'client';
    const address = byClient ? 'client' : "''";
    const sql = `SELECT ${KEY[options.by]} AS key, ${address} AS address, ${SERVICE} AS service, count(*)::bigint AS queries, count(DISTINCT client)::bigint AS clients, min(time) AS first, max(time) AS last
                 FROM ${TABLE} ${filter} GROUP BY 1, 2, 3 ORDER BY (${KEY[options.by]} = '-'), ${KEY[options.by]} COLLATE "C", ${address} COLLATE "C", queries DESC, ${SERVICE} COLLATE "C"`;
    const r = await client.query<{ key: string; address: string; service: string; queries: string; clients: string; first: Date; last: Date }>(sql, params);
    const rows = r.rows.map((row) => ({
      ...(options.by === 'service' ? {} : { key: row.key }),
      ...(byClient ? { address: row.address } : {}),
      service: row.service,
      queries: Number(row.queries),
      clients: Number(row.clients),
      first: row.first.toISOString(),
      last: row.last.toISOString(),
    }));
    const matched = rows.reduce((n, row) => n + row.queries, 0);
    return { by: options.by, rows, files: [], lines: matched, matched, bad: 0, dropped: 0 };
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') throw new Error(`no ${TABLE} table at --db (has an aifence with queryLog.sink pointing there run yet?)`);
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}
