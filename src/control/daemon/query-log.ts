// The query log's lifecycle in the daemon: opened at start as configured (a
// file, PostgreSQL, or none), replaced on a reload that changes it (the new
// one opened first, so an unwritable path fails the reload and keeps the old
// one), retried at once on a reload while failing, closed last at stop (what
// it buffers is written, names still looked up). Audit events go to it too.

import { isDeepStrictEqual } from 'node:util';
import type { Observers } from '../../shared/events.js';
import type { Guard } from '../../shared/guard.js';
import type { Logger } from '../../shared/logger.js';
import type { Config } from '../config/schema.js';
import type { ClientNames } from '../identity/who.js';
import type { AuditEvent } from '../observe/audit.js';
import { QueryLog } from '../observe/querylog.js';
import { PostgresQueryLog } from '../observe/sinks/postgres.js';

export class QueryLogs {
  private current: QueryLog | PostgresQueryLog | null = null;

  constructor(
    private readonly log: Logger,
    private readonly observers: Observers,
    private readonly guard: Guard,
    private readonly names: ClientNames,
  ) {}

  /** The query log as configured (none when its mode is off); throws when its path cannot be written. */
  private open(config: Config): QueryLog | PostgresQueryLog | null {
    if (config.queryLog.mode === 'off') return null;
    const { sink } = config.queryLog;
    const options = { guard: this.guard, names: this.names };
    return sink?.kind === 'postgres'
      ? new PostgresQueryLog(config.queryLog, sink.url, config.state.instance, this.log, options)
      : new QueryLog(config.queryLog, this.log, options);
  }

  start(config: Config): void {
    this.use(this.open(config));
  }

  /** A reload: a changed section opens the new log before the old one closes; an unchanged one that is failing tries again now. */
  async reconfigure(before: Config, config: Config): Promise<void> {
    if (!isDeepStrictEqual(before.queryLog, config.queryLog)) {
      const next = this.open(config); // an unwritable path fails the reload before the old log is closed
      await this.close();
      this.use(next);
    } else if (this.current?.failing) {
      // The admin may have freed the disk: a reload tries the file now rather than at the end of its back-off.
      this.current.retryNow();
    }
  }

  private use(log: QueryLog | PostgresQueryLog | null): void {
    this.current = log;
    if (log) this.observers.add(log);
  }

  async close(): Promise<void> {
    const log = this.current;
    if (!log) return;
    this.current = null;
    this.observers.remove(log);
    await log.close();
  }

  audit(e: AuditEvent): void {
    this.current?.audit(e);
  }

  /** Events dropped because the log fell behind. */
  get dropped(): number {
    return this.current?.dropped ?? 0;
  }

  /** Rows written, and rows the database refused. */
  get rows(): { written: number; rejected: number } {
    return { written: this.current?.written ?? 0, rejected: this.current?.rejected ?? 0 };
  }
}
