// The query log into PostgreSQL, shared by a fleet: every instance COPYs its
// rows, marked with its name, into one table that aifence creates and
// migrates. Like the file log, observe() only copies fields into a bounded
// ring of preallocated slots; a timer sends a batch with one COPY off the
// answer path. When the database is slow or away the ring fills and new
// entries are dropped and counted; a batch whose COPY fails is dropped and
// counted too, and the connection is retried with back-off. Rows older than
// queryLog.retention are deleted every hour. Nothing waits for the database
// at start: the resolver serves while it connects.

import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { QueryLogConfig } from '../../config/querylog.js';
import { rcodeName, typeName } from '../../../wire/mnemonics.js';
import type { QueryEvent, QueryObserver } from '../../../shared/events.js';
import type { Logger } from '../../../shared/logger.js';
import { anonymizeAddress } from '../querylog.js';
import { EntryRing } from '../ring.js';

export const TABLE = 'aifence_queries';

/** Each step runs once, in order, in one transaction under an advisory lock (two instances may start together). */
const MIGRATIONS: string[] = [
  `CREATE TABLE ${TABLE} (
     time timestamptz NOT NULL,
     instance text NOT NULL,
     client text NOT NULL,
     grp text,
     name text,
     qtype text,
     verdict text NOT NULL,
     cached boolean NOT NULL,
     service text,
     list text,
     rcode text NOT NULL,
     upstream text,
     latency_ms real NOT NULL
   )`,
  `CREATE INDEX ${TABLE}_time ON ${TABLE} (time)`,
  `CREATE INDEX ${TABLE}_blocked ON ${TABLE} (time, service) WHERE verdict = 'blocked'`,
];
const LOCK_ID = 0x41_49_46_4e; // "AIFN"

/** Creates the schema or brings it up to date; safe to run from several instances at once. */
export async function migrate(client: pg.ClientBase): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_ID]);
    await client.query('CREATE TABLE IF NOT EXISTS aifence_schema (version integer NOT NULL)');
    const r = await client.query<{ version: number }>('SELECT version FROM aifence_schema');
    let version = r.rows[0]?.version ?? 0;
    if (r.rows.length === 0) await client.query('INSERT INTO aifence_schema (version) VALUES (0)');
    if (version > MIGRATIONS.length) throw new Error(`the database schema is version ${version}, newer than this aifence knows (${MIGRATIONS.length}); upgrade aifence`);
    for (; version < MIGRATIONS.length; version++) await client.query(MIGRATIONS[version]);
    await client.query('UPDATE aifence_schema SET version = $1', [version]);
    await client.query('COMMIT');
    return version;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export interface PostgresLogOptions {
  capacity?: number;
  batch?: number;
  flushMs?: number;
  retryMs?: number;
  retryMaxMs?: number;
  warnEveryMs?: number;
}

const RETENTION_EVERY_MS = 3_600_000;

export class PostgresQueryLog implements QueryObserver {
  private readonly ring: EntryRing;
  private droppedTotal = 0;
  private droppedWarned = 0;
  private lastWarn = 0;
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private sending: Promise<void> | null = null;
  private failed = false;
  private retryAt = 0;
  private retryDelay: number;
  private lastRetention = 0;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private readonly onlyBlocked: boolean;
  private readonly batch: number;
  private readonly retryMs: number;
  private readonly retryMaxMs: number;
  private readonly warnEveryMs: number;
  /** Rows written since start, for the metrics and the benchmark. */
  written = 0;

  constructor(
    private readonly config: QueryLogConfig,
    private readonly url: string,
    private readonly instance: string,
    private readonly log: Logger,
    options: PostgresLogOptions = {},
  ) {
    const capacity = options.capacity ?? 20_000;
    this.ring = new EntryRing(capacity);
    this.batch = Math.min(options.batch ?? 2000, capacity);
    this.retryMs = this.retryDelay = options.retryMs ?? 1000;
    this.retryMaxMs = Math.max(this.retryMs, options.retryMaxMs ?? 30_000);
    this.warnEveryMs = options.warnEveryMs ?? 10_000;
    this.onlyBlocked = config.mode === 'blocked';
    this.timer = setInterval(() => this.tick(), options.flushMs ?? 200).unref();
    this.tick();
  }

  get dropped(): number {
    return this.droppedTotal;
  }

  get failing(): boolean {
    return this.failed;
  }

  /** Entries waiting to be sent. */
  get pending(): number {
    return this.ring.count;
  }

  retryNow(): boolean {
    this.retryAt = 0;
    this.tick();
    return !this.failed;
  }

  observe(e: QueryEvent): void {
    if (this.closed || (this.onlyBlocked && e.verdict !== 'blocked' && e.verdict !== 'refused')) return;
    if (!this.ring.push(e)) this.droppedTotal++;
  }

  /** Sends what is buffered (waiting up to `ms` for the database), then disconnects. */
  async close(ms = 3000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    const deadline = Date.now() + ms;
    while (this.ring.count > 0 && !this.failed && Date.now() < deadline) {
      if (this.connecting) await this.connecting;
      else if (this.sending) await this.sending;
      else if (this.client) this.send();
      else break;
    }
    if (this.sending) await this.sending;
    if (this.ring.count > 0) this.drop(this.ring.count);
    this.warnDrops(true);
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }

  private tick(): void {
    if (this.closed && this.ring.count === 0) return;
    if (!this.client) {
      if (!this.connecting && Date.now() >= this.retryAt) this.connecting = this.connect().finally(() => (this.connecting = null));
    } else if (!this.sending) {
      if (this.ring.count > 0) this.send();
      else if (Date.now() - this.lastRetention >= RETENTION_EVERY_MS) this.sending = this.expire().finally(() => (this.sending = null));
    }
    this.warnDrops(false);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5000, application_name: `aifence ${this.instance}`, statement_timeout: 30_000 });
    client.on('error', (err) => this.fail(err, 'query log database connection lost'));
    try {
      await client.connect();
      await migrate(client);
    } catch (err) {
      await client.end().catch(() => undefined);
      this.fail(err as Error, 'query log database unreachable');
      return;
    }
    if (this.failed) this.log.warn({ droppedTotal: this.droppedTotal }, 'query log database writing again');
    else this.log.info({ table: TABLE }, 'query log database connected');
    this.client = client;
    this.failed = false;
    this.retryDelay = this.retryMs;
    this.tick();
  }

  /** One COPY of up to one batch; more waiting goes on at once, so a backlog drains at COPY speed. */
  private send(): void {
    const client = this.client!;
    const n = Math.min(this.ring.count, this.batch);
    let text = '';
    for (let k = 0; k < n; k++) text += this.row(k);
    this.ring.shift(n);
    this.sending = pipeline(Readable.from([text]), client.query(copyFrom(`COPY ${TABLE} (time, instance, client, grp, name, qtype, verdict, cached, service, list, rcode, upstream, latency_ms) FROM STDIN`)))
      .then(() => {
        this.written += n;
        if (this.ring.count > 0 && !this.closed) setImmediate(() => this.tick());
      })
      .catch((err: Error) => {
        this.droppedTotal += n;
        this.fail(err, 'query log rows could not be written');
      })
      .finally(() => (this.sending = null));
  }

  private async expire(): Promise<void> {
    this.lastRetention = Date.now();
    try {
      const r = await this.client!.query(`DELETE FROM ${TABLE} WHERE time < now() - make_interval(secs => $1)`, [this.config.retention ?? 90 * 86400]);
      if (r.rowCount) this.log.info({ rows: r.rowCount, retentionDays: Math.round((this.config.retention ?? 90 * 86400) / 864) / 100 }, 'query log: old rows deleted');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'query log: deleting old rows failed; will try again');
    }
  }

  /** One row in COPY text format. */
  private row(k: number): string {
    const s = this.ring.at(k);
    const name = s.nameLen > 0 ? copyText(this.ring.name(k)) : '\\N';
    const client = this.config.anonymize ? anonymizeAddress(s.client) : s.client;
    const service = s.list.startsWith('service:') ? copyText(s.list.slice(8)) : '\\N';
    return `${new Date(s.time).toISOString()}\t${this.instance}\t${client}\t${s.group ? copyText(s.group) : '\\N'}\t${name}\t${s.nameLen > 0 ? typeName(s.qtype) : '\\N'}\t${s.verdict}\t${s.cached ? 't' : 'f'}\t${service}\t${s.list ? copyText(s.list) : '\\N'}\t${rcodeName(s.rcode)}\t${s.upstream || '\\N'}\t${Math.round(s.latencyMs * 100) / 100}\n`;
  }

  private fail(err: Error, what: string): void {
    const client = this.client;
    this.client = null;
    void client?.end().catch(() => undefined);
    this.retryAt = Date.now() + this.retryDelay;
    const fields = { err: err.message, retryInMs: this.retryDelay, droppedTotal: this.droppedTotal };
    if (this.failed) this.log.warn(fields, `${what} yet; retrying`);
    else this.log.error(fields, `${what}; entries wait in memory while there is room, then are dropped and counted; retrying`);
    this.failed = true;
    this.retryDelay = Math.min(this.retryDelay * 2, this.retryMaxMs);
  }

  private drop(n: number): void {
    this.ring.shift(n);
    this.droppedTotal += n;
  }

  private warnDrops(force: boolean): void {
    const now = Date.now();
    const fresh = this.droppedTotal - this.droppedWarned;
    if (fresh === 0 || (!force && now - this.lastWarn < this.warnEveryMs)) return;
    this.lastWarn = now;
    this.droppedWarned = this.droppedTotal;
    this.log.warn({ dropped: fresh, droppedTotal: this.droppedTotal }, 'query log entries dropped: the database is not keeping up or unreachable');
  }
}

/** Escapes a value for COPY's text format (backslash, tab, newline, carriage return). */
function copyText(s: string): string {
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : s;
}
