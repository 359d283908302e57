// The query log: one JSON line per answered query (or per blocked one),
// written off the hot path. observe() only copies fields into a bounded
// ring of preallocated slots; a timer or a full batch serialises them and
// makes one write. When the disk cannot keep up the ring fills and new
// entries are dropped and counted, so logging never delays an answer.
// A disk that fails (full, removed, read-only) is retried with back-off
// until it takes writes again; meanwhile entries wait in the ring, and those
// that do not fit (or were in a failed write) are dropped and counted.

import { type WriteStream, createWriteStream, existsSync, mkdirSync, openSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { dirname } from 'node:path';
import type { QueryLogConfig } from '../config/querylog.js';
import { addressBytes } from '../../net/address.js';
import { rcodeName, typeName } from '../../wire/mnemonics.js';
import type { QueryEvent, QueryObserver } from '../../shared/events.js';
import type { AuditEvent, AuditSink } from './audit.js';
import { durationText } from '../state/requests.js';
import { type Entry, EntryRing } from './ring.js';
import { type ClientNames, NAME_WAIT_MS, NO_NAMES } from '../identity/who.js';
import type { Logger } from '../../shared/logger.js';
import { Guard } from '../../shared/guard.js';

export interface QueryLogOptions {
  /** Entries held while the disk is busy; beyond it new entries are dropped. */
  capacity?: number;
  /** Entries that trigger a write before the timer does. */
  batch?: number;
  flushMs?: number;
  /** The write stream's buffer; tests make it tiny to stall the stream. */
  highWaterMark?: number;
  /** Shortest time between two warnings about drops. */
  warnEveryMs?: number;
  /** First wait before re-opening a file that failed; doubles on each failure up to retryMaxMs. */
  retryMs?: number;
  retryMaxMs?: number;
  /** Where a throw in a timer or stream callback is caught and counted (aifence_observer_errors_total); default: one of its own. */
  guard?: Guard;
  /** The client's host name at the query's time (identity), looked up as lines are written; default: none. */
  names?: ClientNames;
}


/** The client's network: /24 for IPv4 (IPv4-mapped IPv6 too), /56 for IPv6. */
export function anonymizeAddress(address: string): string {
  const b = addressBytes(address);
  if (b === null) return address;
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `${b[12]}.${b[13]}.${b[14]}.0`;
  const groups: string[] = [];
  for (let i = 0; i < 7; i += 2) groups.push(((b[i] << 8) | (i === 6 ? 0 : b[i + 1])).toString(16));
  // The URL parser writes the canonical compressed form (2001:db8:1:200::).
  return new URL(`http://[${groups.join(':')}::]`).hostname.slice(1, -1);
}

/**
 * What `mode: blocked` keeps: the policy saying no (blocked, refused) and
 * every use of an exception (an allowed query that a rule, an exception or a
 * pause let through), so that each exception is accounted for.
 */
export const policyDecided = (e: QueryEvent): boolean => e.verdict === 'blocked' || e.verdict === 'refused' || e.exception !== '';

/** Audit events waiting for the next write; they are few (people, not queries), but bounded all the same. */
const MAX_AUDITS = 1000;

/** An audit event as one log line (keys in a fixed order; every string through JSON.stringify). */
export function auditLine(e: AuditEvent, anonymize: boolean): string {
  const o: Record<string, unknown> = {
    time: new Date(e.time).toISOString(),
    event: e.event,
    request: e.request,
    client: anonymize ? anonymizeAddress(e.client) : e.client,
    // As in query lines: a name identifies a person as the full address does.
    ...(e.clientName === undefined || anonymize ? {} : { clientName: e.clientName }),
    group: e.group,
    name: e.name,
    ...(e.service === null ? {} : { service: e.service }),
    select: e.select,
    reason: e.reason,
    duration: durationText(e.duration),
  };
  if (e.by !== undefined) o.by = e.by;
  if (e.until !== undefined) o.until = new Date(e.until).toISOString();
  if (e.exception !== undefined) o.exception = e.exception;
  return JSON.stringify(o);
}

export class QueryLog implements QueryObserver, AuditSink {
  readonly observerName = 'querylog';
  private readonly ring: EntryRing;
  private droppedTotal = 0;
  /** Drops not yet noted in the file. */
  private droppedUnnoted = 0;
  private droppedWarned = 0;
  private lastWarn = 0;
  private stream: WriteStream;
  private size: number;
  private stalled = false;
  private failed = false;
  /** When the next re-open is due while failed, and the wait after the next failure. */
  private retryAt = 0;
  private retryDelay: number;
  private readonly retryMs: number;
  private readonly retryMaxMs: number;
  /** Re-opened after a failure, no write has succeeded yet. */
  private recovering = false;
  /** After a re-open, the first write (the note of what was dropped) alone, until it is known to have landed. */
  private probe: Promise<void> | null = null;
  private closed = false;
  private flushQueued = false;
  /** Streams of rotated files still writing their last bytes. */
  private readonly retired = new Set<Promise<void>>();
  private readonly timer: NodeJS.Timeout;
  private readonly onlyBlocked: boolean;
  private readonly batch: number;
  private readonly warnEveryMs: number;
  private readonly highWaterMark: number;
  private readonly guard: Guard;
  private readonly names: ClientNames;
  /** Called from timers and stream events: a throw stops here, counted. */
  private readonly flushSafely: () => void;
  /** Audit lines waiting for the next write. */
  private audits: string[] = [];
  /** Lines written since start (the metrics' aifence_querylog_written_total). */
  written = 0;
  /** A file refuses no line: always 0 (the PostgreSQL sink counts rows its database refuses). */
  readonly rejected = 0;

  constructor(
    private readonly config: QueryLogConfig,
    private readonly log: Logger,
    options: QueryLogOptions = {},
  ) {
    const capacity = options.capacity ?? 10_000;
    this.ring = new EntryRing(capacity);
    // A batch is serialised in one go on the event loop: small enough (~1 ms) not to hold answers up.
    this.batch = Math.min(options.batch ?? 500, capacity);
    this.warnEveryMs = options.warnEveryMs ?? 10_000;
    // A few batches may queue in the stream before backpressure holds entries in the ring.
    this.highWaterMark = options.highWaterMark ?? 1 << 20;
    this.retryMs = this.retryDelay = options.retryMs ?? 5_000;
    this.retryMaxMs = Math.max(this.retryMs, options.retryMaxMs ?? 60_000);
    // Refusals are kept with blocks: both are the policy saying no.
    this.onlyBlocked = config.mode === 'blocked';
    this.guard = options.guard ?? new Guard(log);
    this.names = options.names ?? NO_NAMES;
    this.flushSafely = this.guard.wrap(this.observerName, () => this.flush());
    // A path that cannot be written fails here, at start, not query by query.
    try {
      mkdirSync(dirname(config.path), { recursive: true });
      this.stream = this.open();
      this.size = statSync(config.path).size;
    } catch (err) {
      throw new Error(`queryLog.path ${config.path} cannot be written (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    this.timer = setInterval(this.guard.wrap(this.observerName, () => this.tick()), options.flushMs ?? 200).unref();
  }

  /** Entries dropped since start because the disk could not keep up (or the file could not be written). */
  get dropped(): number {
    return this.droppedTotal;
  }

  /** The file cannot be written at the moment; re-opening is retried with back-off. */
  get failing(): boolean {
    return this.failed;
  }

  /**
   * Re-opens the file now if it failed, whatever the back-off says (a reload
   * asks this: the admin may have freed the disk). True when it is open.
   */
  retryNow(): boolean {
    if (!this.failed || this.closed) return !this.failed;
    try {
      mkdirSync(dirname(this.config.path), { recursive: true });
      const stream = this.open();
      // A stream that failed is destroyed already; one ended by a failed rotation still finishes its last writes.
      if (!this.stream.writableEnded) this.stream.destroy();
      this.stream = stream;
      this.size = statSync(this.config.path).size;
    } catch (err) {
      this.retryAt = Date.now() + this.retryDelay;
      this.log.warn({ err: (err as Error).message, path: this.config.path, retryInMs: this.retryDelay }, 'query log still cannot be opened');
      this.retryDelay = Math.min(this.retryDelay * 2, this.retryMaxMs);
      return false;
    }
    // Back-off is reset only by a write that succeeds: a full disk opens fine and fails on the first write.
    this.failed = false;
    this.recovering = true;
    this.queueFlush();
    return true;
  }

  observe(e: QueryEvent): void {
    if (this.closed || (this.onlyBlocked && !policyDecided(e))) return;
    if (!this.ring.push(e)) {
      this.droppedTotal++;
      this.droppedUnnoted++;
      return;
    }
    // A stalled or failed file is flushed by its drain or retry: no timer per query meanwhile.
    if (this.ring.count >= this.batch && !this.stalled && !this.failed && !this.probe) this.queueFlush();
  }

  /** An access request or decision: written with the next batch, whatever the mode (it is the policy's audit trail). */
  audit(e: AuditEvent): void {
    if (this.closed) return;
    if (this.audits.length >= MAX_AUDITS) {
      this.droppedTotal++;
      this.droppedUnnoted++;
      return;
    }
    this.audits.push(auditLine(e, this.config.anonymize));
    if (!this.stalled && !this.failed && !this.probe) this.queueFlush();
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(this.flushSafely);
  }

  /**
   * Serialises up to one batch and writes it, unless the stream is still
   * draining the last write. More than a batch waiting continues on the next
   * turn of the event loop, so queries are answered in between.
   */
  flush(): void {
    this.flushQueued = false;
    // While failed, entries wait in the ring for the file to come back; observe() counts what does not fit.
    if (this.failed || this.stalled || this.probe || (this.ring.count === 0 && this.droppedUnnoted === 0 && this.audits.length === 0)) return;
    if (this.size >= this.config.maxSize) {
      this.rotate();
      if (this.failed) return;
    }
    // A re-opened file on a disk still full opens fine and fails on the first write: let that be the note of
    // what was dropped, alone, so that waiting entries are not lost with it.
    const probing = this.recovering && this.droppedUnnoted > 0;
    let text = '';
    const n = probing ? 0 : Math.min(this.batch, this.ring.count);
    let lines = 0;
    if (!probing && this.audits.length > 0) {
      text += this.audits.join('\n') + '\n';
      lines += this.audits.length;
      this.audits = [];
    }
    let k = 0;
    for (; k < n; k++) {
      // An entry that cannot be written is dropped alone, counted; the batch goes on.
      try {
        const name = this.nameOf(this.ring.at(k));
        // Its client's lease is being read again: it and the entries after it wait for the next tick.
        if (name === undefined) break;
        text += this.line(k, name) + '\n';
        lines++;
      } catch (err) {
        this.droppedTotal++;
        this.droppedUnnoted++;
        this.guard.failed(this.observerName, err);
      }
    }
    this.ring.shift(k);
    if (this.ring.count > 0 && !probing && k === n) this.queueFlush();
    // Nothing to write (every entry waits, no audit line, no drop to note).
    if (!probing && lines === 0 && this.droppedUnnoted === 0) return;
    const noted = this.droppedUnnoted;
    if (noted > 0) {
      text += JSON.stringify({ time: new Date().toISOString(), event: 'dropped', count: noted }) + '\n';
      this.droppedUnnoted = 0;
    }
    if (probing) this.probe = new Promise((resolve) => this.write(text, lines, noted, resolve));
    else this.write(text, lines, noted);
  }

  /** Writes everything still buffered and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    while (!this.failed && (this.ring.count > 0 || this.droppedUnnoted > 0 || this.audits.length > 0)) {
      // once() rejects when the stream fails while we wait; the loop then ends on `failed`.
      if (this.probe) await this.probe;
      else if (this.stalled) await once(this.stream, 'drain').catch(() => undefined);
      else this.flush();
    }
    if (this.ring.count > 0) this.drop(this.ring.count); // the file failed: what is left is lost
    this.warnDrops(true);
    this.stream.end();
    await Promise.all([...this.retired, this.ended(this.stream)]);
  }

  /**
   * The entry's client name ('' for none, and always with anonymize: a name
   * identifies a person as the full address does), or undefined while a
   * lease file that changed since the query is being read (up to
   * NAME_WAIT_MS; never when closing).
   */
  private nameOf(s: Entry): string | undefined {
    if (this.config.anonymize) return '';
    const name = this.names(s.client, s.time);
    if (name !== null) return name;
    return this.closed || Date.now() - s.time > NAME_WAIT_MS ? '' : undefined;
  }

  /** One entry as JSON. Addresses and mnemonics need no escaping; names and config strings go through JSON.stringify. */
  private line(k: number, clientName: string): string {
    const s = this.ring.at(k);
    let line = `{"time":"${new Date(s.time).toISOString()}","client":"${this.config.anonymize ? anonymizeAddress(s.client) : s.client}"`;
    if (clientName) line += `,"clientName":${JSON.stringify(clientName)}`;
    if (s.device && !this.config.anonymize) line += `,"device":${JSON.stringify(s.device)}`;
    if (s.group) line += `,"group":${JSON.stringify(s.group)}`;
    if (s.nameLen > 0) line += `,"name":${JSON.stringify(this.ring.name(k))},"type":"${typeName(s.qtype)}"`;
    line += `,"verdict":"${s.verdict}","cached":${s.cached}`;
    if (s.list.startsWith('service:')) line += `,"service":${JSON.stringify(s.list.slice(8))}`;
    if (s.list) line += `,"list":${JSON.stringify(s.list)}`;
    if (s.exception) line += `,"exception":${JSON.stringify(s.exception)}`;
    line += `,"rcode":"${rcodeName(s.rcode)}"`;
    if (s.upstream) line += `,"upstream":"${s.upstream}"`;
    // UDP, most queries, goes without saying.
    if (s.transport !== 'udp') line += `,"transport":"${s.transport}"`;
    return line + `,"latencyMs":${Math.round(s.latencyMs * 100) / 100}}`;
  }

  /** `entries` log lines and a note of `noted` earlier drops: counted as dropped (and noted again later) if the write fails. */
  private write(text: string, entries: number, noted: number, landed?: () => void): void {
    this.size += Buffer.byteLength(text);
    const stream = this.stream;
    const accepted = stream.write(text, (err) => {
      if (err) {
        this.droppedTotal += entries;
        this.droppedUnnoted += entries + noted;
        // Failed here and now, before anything else is written to this stream (its 'error' event comes later).
        if (stream === this.stream) this.fail(err, 'query log cannot be written');
      } else {
        this.written += entries;
        if (this.recovering && stream === this.stream) {
          this.recovering = false;
          this.retryDelay = this.retryMs;
          this.log.warn({ path: this.config.path, droppedTotal: this.droppedTotal }, 'query log writing again');
        }
      }
      if (landed) {
        this.probe = null;
        landed();
        this.queueFlush();
      }
    });
    if (!accepted) {
      this.stalled = true;
      this.stream.once('drain', () => {
        this.stalled = false;
        this.flushSafely();
      });
    }
  }

  /** Once the file has reached maxSize: path -> path.1 -> … -> path.keep, the oldest goes. Writes still queued on the old stream land in path.1. */
  private rotate(): void {
    const { path, keep } = this.config;
    const old = this.stream;
    old.end();
    const ending = this.ended(old).finally(() => this.retired.delete(ending));
    this.retired.add(ending);
    try {
      if (existsSync(`${path}.${keep}`)) unlinkSync(`${path}.${keep}`);
      for (let n = keep - 1; n >= 1; n--) if (existsSync(`${path}.${n}`)) renameSync(`${path}.${n}`, `${path}.${n + 1}`);
      if (keep > 0) renameSync(path, `${path}.1`);
      else unlinkSync(path);
      this.stream = this.open();
      this.size = 0;
    } catch (err) {
      this.fail(err as Error, 'query log rotation failed');
    }
  }

  /** Opened synchronously, so renames during rotation always move the file this stream writes. */
  private open(): WriteStream {
    const stream = createWriteStream(this.config.path, { fd: openSync(this.config.path, 'a'), highWaterMark: this.highWaterMark });
    // A rotated stream that fails loses only its own last writes (counted by their callbacks).
    stream.on('error', (err) => {
      if (stream === this.stream) this.fail(err, 'query log cannot be written');
    });
    return stream;
  }

  private fail(err: Error, what: string): void {
    if (this.failed) return;
    this.failed = true;
    this.stalled = false;
    this.retryAt = Date.now() + this.retryDelay;
    const fields = { err, path: this.config.path, retryInMs: this.retryDelay, droppedTotal: this.droppedTotal };
    // The first failure is an error; a retry that fails again (a disk still full) only a warning, at back-off pace.
    if (this.recovering) this.log.warn(fields, `${what} yet; retrying`);
    else this.log.error(fields, `${what}; entries wait in memory while there is room, then are dropped and counted; retrying`);
    this.recovering = false;
    this.retryDelay = Math.min(this.retryDelay * 2, this.retryMaxMs);
  }

  private ended(stream: WriteStream): Promise<void> {
    return finished(stream).catch(() => undefined);
  }

  private drop(n: number): void {
    this.ring.shift(n);
    this.droppedTotal += n;
    this.droppedUnnoted += n;
  }

  private tick(): void {
    if (this.failed && Date.now() >= this.retryAt) this.retryNow();
    this.flush();
    this.warnDrops(false);
  }

  /** One warning per period with the drops since the last one, never one per drop. */
  private warnDrops(force: boolean): void {
    const now = Date.now();
    const fresh = this.droppedTotal - this.droppedWarned;
    if (fresh === 0 || (!force && now - this.lastWarn < this.warnEveryMs)) return;
    this.lastWarn = now;
    this.droppedWarned = this.droppedTotal;
    const why = this.failed ? 'the file cannot be written' : 'the disk is not keeping up';
    this.log.warn({ dropped: fresh, droppedTotal: this.droppedTotal, path: this.config.path }, `query log entries dropped: ${why}`);
  }
}
