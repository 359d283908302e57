// The query log into PostgreSQL, shared by a fleet: every instance INSERTs
// its rows, marked with its name, into one table that aifence creates and
// migrates. Like the file log, observe() only copies fields into a bounded
// ring of preallocated slots; a timer sends a batch as one parameterised
// INSERT of arrays (unnest) off the answer path, names in presentation form
// (src/wire/presentation.ts), so no byte a client puts in a name reaches the
// server raw. A batch the server refuses for its data is split in halves
// until the row it refuses stands alone: that row is counted as rejected and
// every other is written. When the database is slow or away the ring fills
// and new entries are dropped and counted; a batch lost with the connection
// is dropped and counted too, and the connection is retried with back-off.
// Rows older than queryLog.retention are deleted every hour. Nothing waits
// for the database at start: the resolver serves while it connects.

import type pg from 'pg';
import type { QueryLogConfig } from '../../config/querylog.js';
import { rcodeName, typeName } from '../../../wire/mnemonics.js';
import type { QueryEvent, QueryObserver } from '../../../shared/events.js';
import type { Logger } from '../../../shared/logger.js';
import { Guard } from '../../../shared/guard.js';
import { anonymizeAddress, policyDecided } from '../querylog.js';
import { type Entry, EntryRing } from '../ring.js';
import type { AuditEvent, AuditSink } from '../audit.js';
import { type ClientNames, NAME_WAIT_MS, NO_NAMES } from '../../identity/who.js';

export const TABLE = 'aifence_queries';
/** Access requests and decisions: one row each, beside the queries. */
export const AUDIT_TABLE = 'aifence_audit';

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
  // What let an allowed query through that `service`/`list` would have blocked (report --exceptions).
  `ALTER TABLE ${TABLE} ADD COLUMN exception text`,
  `CREATE INDEX ${TABLE}_exceptions ON ${TABLE} (time, exception) WHERE exception IS NOT NULL`,
  `CREATE TABLE ${AUDIT_TABLE} (
     time timestamptz NOT NULL,
     instance text NOT NULL,
     event text NOT NULL,
     request text NOT NULL,
     client text NOT NULL,
     grp text NOT NULL,
     name text NOT NULL,
     service text,
     selector text NOT NULL,
     reason text NOT NULL,
     duration_s integer NOT NULL,
     by_whom text,
     until timestamptz,
     exception text
   )`,
  `CREATE INDEX ${AUDIT_TABLE}_time ON ${AUDIT_TABLE} (time)`,
  // Who the client was (identity): its host name at the query's time, and the device id it gave over DoH or DoT.
  `ALTER TABLE ${TABLE} ADD COLUMN client_name text, ADD COLUMN device text`,
  // And of whoever made an access request.
  `ALTER TABLE ${AUDIT_TABLE} ADD COLUMN client_name text`,
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
  /** Where a throw in a timer is caught and counted (aifence_observer_errors_total); default: one of its own. */
  guard?: Guard;
  /** The client's host name at the query's time (identity), looked up as rows are made; default: none. */
  names?: ClientNames;
}

const RETENTION_EVERY_MS = 3_600_000;

/** Audit events waiting for the database; people make them, not queries, but they are bounded all the same. */
const MAX_AUDITS = 1000;

export class PostgresQueryLog implements QueryObserver, AuditSink {
  readonly observerName = 'postgres';
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
  private readonly guard: Guard;
  private readonly names: ClientNames;
  /** tick() for timers: a throw stops here, counted. */
  private readonly tickSafely: () => void;
  private lastRejectWarn = 0;
  /** Access requests and decisions waiting to be written. */
  private audits: AuditEvent[] = [];
  /** Rows written since start, for the metrics and the benchmark. */
  written = 0;
  /** Rows the database refused (each alone, after its batch was split), since start. */
  rejected = 0;

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
    this.guard = options.guard ?? new Guard(log);
    this.names = options.names ?? NO_NAMES;
    this.tickSafely = this.guard.wrap(this.observerName, () => this.tick());
    this.timer = setInterval(this.tickSafely, options.flushMs ?? 200).unref();
    this.tickSafely();
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
    if (this.closed || (this.onlyBlocked && !policyDecided(e))) return;
    if (!this.ring.push(e)) this.droppedTotal++;
  }

  /** An access request or decision: its own row in aifence_audit, whatever the mode. */
  audit(e: AuditEvent): void {
    if (this.closed) return;
    if (this.audits.length >= MAX_AUDITS) this.droppedTotal++;
    else this.audits.push(e);
  }

  /** Sends what is buffered (waiting up to `ms` for the database), then disconnects. */
  async close(ms = 3000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    const deadline = Date.now() + ms;
    while ((this.ring.count > 0 || this.audits.length > 0) && !this.failed && Date.now() < deadline) {
      if (this.connecting) await this.connecting;
      else if (this.sending) await this.sending;
      else if (this.client && this.audits.length > 0) this.sendAudits();
      else if (this.client) this.send();
      else break;
    }
    this.droppedTotal += this.audits.length;
    this.audits = [];
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
      if (this.audits.length > 0) this.sendAudits();
      else if (this.ring.count > 0) this.send();
      else if (Date.now() - this.lastRetention >= RETENTION_EVERY_MS) this.sending = this.expire().finally(() => (this.sending = null));
    }
    this.warnDrops(false);
  }

  private async connect(): Promise<void> {
    // pg is loaded with the first connection: a daemon without this sink never loads it.
    const { default: driver } = await import('pg');
    const client = new driver.Client({ connectionString: this.url, connectionTimeoutMillis: 5000, application_name: `aifence ${this.instance}`, statement_timeout: 30_000 });
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
    this.tickSafely();
  }

  /** The audit events waiting, in one INSERT; lost with the connection if it fails (counted as dropped). */
  private sendAudits(): void {
    const client = this.client!;
    const batch = this.audits;
    this.audits = [];
    const col = <T>(f: (e: AuditEvent) => T): T[] => batch.map(f);
    const anonymize = this.config.anonymize;
    this.sending = client
      .query(AUDIT_INSERT, [
        col((e) => e.time), this.instance, col((e) => e.event), col((e) => e.request), col((e) => (anonymize ? anonymizeAddress(e.client) : e.client)),
        col((e) => e.group), col((e) => e.name), col((e) => e.service), col((e) => e.select), col((e) => e.reason), col((e) => e.duration),
        col((e) => e.by ?? null), col((e) => e.until ?? null), col((e) => e.exception ?? null), col((e) => (anonymize ? null : (e.clientName ?? null))),
      ])
      .then(() => {
        this.written += batch.length;
        if (!this.closed) setImmediate(this.tickSafely);
      })
      .catch((err: Error) => {
        this.droppedTotal += batch.length;
        this.fail(err, 'audit rows could not be written');
      })
      .finally(() => (this.sending = null));
  }

  /** One INSERT of up to one batch; more waiting goes on at once, so a backlog drains at batch speed. */
  private send(): void {
    const client = this.client!;
    const n = Math.min(this.ring.count, this.batch);
    const rows = new Rows(n);
    let m = 0;
    let k = 0;
    for (; k < n; k++) {
      // An entry that cannot be made a row is dropped alone, counted; the batch goes on.
      try {
        const name = this.nameOf(this.ring.at(k));
        // Its client's lease is being read again: it and the entries after it wait for the next tick.
        if (name === undefined) break;
        this.row(k, m, rows, name);
        m++;
      } catch (err) {
        this.droppedTotal++;
        this.guard.failed(this.observerName, err);
      }
    }
    this.ring.shift(k);
    if (k === 0) return;
    const before = this.written + this.rejected;
    this.sending = this.insert(client, rows, 0, m)
      .then(() => {
        if (this.ring.count > 0 && !this.closed) setImmediate(this.tickSafely);
      })
      .catch((err: Error) => {
        // The connection (or the table) failed: what was not written of this batch is lost with it.
        this.droppedTotal += m - (this.written + this.rejected - before);
        this.fail(err, 'query log rows could not be written');
      })
      .finally(() => (this.sending = null));
  }

  /**
   * Rows from..to in one statement. When the server refuses them for their
   * data, each half goes again alone, down to the single row it refuses,
   * which is counted and logged: one bad row never costs the others.
   */
  private async insert(client: pg.Client, rows: Rows, from: number, to: number): Promise<void> {
    try {
      await client.query(INSERT, rows.params(this.instance, from, to));
      this.written += to - from;
    } catch (err) {
      if (!isRowError(err)) throw err;
      if (to - from === 1) return this.reject(err as Error, rows, from);
      const half = (from + to) >>> 1;
      await this.insert(client, rows, from, half);
      await this.insert(client, rows, half, to);
    }
  }

  private reject(err: Error, rows: Rows, k: number): void {
    this.rejected++;
    const now = Date.now();
    if (now - this.lastRejectWarn < this.warnEveryMs) return;
    this.lastRejectWarn = now;
    this.log.warn(
      { err: err.message, client: rows.client[k], name: rows.name[k], rejectedTotal: this.rejected },
      'query log row refused by the database; the rest of its batch was written (at most one line every warnEvery)',
    );
  }

  private async expire(): Promise<void> {
    this.lastRetention = Date.now();
    try {
      const r = await this.client!.query(`DELETE FROM ${TABLE} WHERE time < now() - make_interval(secs => $1)`, [this.config.retention ?? 90 * 86400]);
      await this.client!.query(`DELETE FROM ${AUDIT_TABLE} WHERE time < now() - make_interval(secs => $1)`, [this.config.retention ?? 90 * 86400]);
      if (r.rowCount) this.log.info({ rows: r.rowCount, retentionDays: Math.round((this.config.retention ?? 90 * 86400) / 864) / 100 }, 'query log: old rows deleted');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'query log: deleting old rows failed; will try again');
    }
  }

  /** The entry's client name ('' for none, and always with anonymize), or undefined while a lease file that changed since the query is being read (up to NAME_WAIT_MS; never when closing). */
  private nameOf(s: Entry): string | undefined {
    if (this.config.anonymize) return '';
    const name = this.names(s.client, s.time);
    if (name !== null) return name;
    return this.closed || Date.now() - s.time > NAME_WAIT_MS ? '' : undefined;
  }

  /** The k-th waiting entry into row i of the batch's columns. */
  private row(k: number, i: number, rows: Rows, clientName: string): void {
    const s = this.ring.at(k);
    const service = s.list.startsWith('service:') ? s.list.slice(8) : null;
    rows.time[i] = s.time;
    const anonymize = this.config.anonymize;
    rows.client[i] = anonymize ? anonymizeAddress(s.client) : s.client;
    // Names identify a person as the full address does: anonymize drops them.
    rows.clientName[i] = clientName || null;
    rows.device[i] = anonymize ? null : s.device || null;
    rows.group[i] = s.group || null;
    rows.name[i] = s.nameLen > 0 ? this.ring.name(k) : null;
    rows.qtype[i] = s.nameLen > 0 ? typeName(s.qtype) : null;
    rows.verdict[i] = s.verdict;
    rows.cached[i] = s.cached;
    rows.service[i] = service;
    rows.list[i] = s.list || null;
    rows.exception[i] = s.exception || null;
    rows.rcode[i] = rcodeName(s.rcode);
    rows.upstream[i] = s.upstream || null;
    rows.latency[i] = Math.round(s.latencyMs * 100) / 100;
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

/** One array per column ($1 .. $16 of INSERT): the batch travels as 16 parameters, whatever its size. */
class Rows {
  /** Milliseconds since the epoch: to_timestamp() on the server costs less than an ISO string per row each side. */
  readonly time: number[];
  readonly client: string[];
  readonly clientName: (string | null)[];
  readonly device: (string | null)[];
  readonly group: (string | null)[];
  readonly name: (string | null)[];
  readonly qtype: (string | null)[];
  readonly verdict: string[];
  readonly cached: boolean[];
  readonly service: (string | null)[];
  readonly list: (string | null)[];
  readonly exception: (string | null)[];
  readonly rcode: string[];
  readonly upstream: (string | null)[];
  readonly latency: number[];

  constructor(n: number) {
    this.time = new Array<number>(n);
    this.client = new Array<string>(n);
    this.clientName = new Array<string | null>(n);
    this.device = new Array<string | null>(n);
    this.group = new Array<string | null>(n);
    this.name = new Array<string | null>(n);
    this.qtype = new Array<string | null>(n);
    this.verdict = new Array<string>(n);
    this.cached = new Array<boolean>(n);
    this.service = new Array<string | null>(n);
    this.list = new Array<string | null>(n);
    this.exception = new Array<string | null>(n);
    this.rcode = new Array<string>(n);
    this.upstream = new Array<string | null>(n);
    this.latency = new Array<number>(n);
  }

  params(instance: string, from: number, to: number): unknown[] {
    const all = from === 0 && to === this.time.length;
    const cut = <T>(a: T[]): T[] => (all ? a : a.slice(from, to));
    return [
      cut(this.time), instance, cut(this.client), cut(this.group), cut(this.name), cut(this.qtype), cut(this.verdict),
      cut(this.cached), cut(this.service), cut(this.list), cut(this.rcode), cut(this.upstream), cut(this.latency), cut(this.exception),
      cut(this.clientName), cut(this.device),
    ];
  }
}

const INSERT = `INSERT INTO ${TABLE} (time, instance, client, grp, name, qtype, verdict, cached, service, list, rcode, upstream, latency_ms, exception, client_name, device)
  SELECT to_timestamp(t / 1000), $2, c, g, n, q, v, ca, s, l, r, u, la, ex, cn, dv
  FROM unnest($1::float8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::boolean[], $9::text[], $10::text[], $11::text[], $12::text[], $13::real[], $14::text[], $15::text[], $16::text[])
    AS x(t, c, g, n, q, v, ca, s, l, r, u, la, ex, cn, dv)`;

const AUDIT_INSERT = `INSERT INTO ${AUDIT_TABLE} (time, instance, event, request, client, grp, name, service, selector, reason, duration_s, by_whom, until, exception, client_name)
  SELECT to_timestamp(t / 1000), $2, ev, rq, c, g, n, s, se, r, d, b, CASE WHEN u IS NULL THEN NULL ELSE to_timestamp(u / 1000) END, x, cn
  FROM unnest($1::float8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::integer[], $12::text[], $13::float8[], $14::text[], $15::text[])
    AS x0(t, ev, rq, c, g, n, s, se, r, d, b, u, x, cn)`;

/**
 * The server refused the rows for what they hold (SQLSTATE class 22, data
 * exception: a byte the encoding refuses, a value out of range; class 23,
 * a constraint), not for the connection or the table: worth splitting.
 */
function isRowError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code);
}
