// One lease file, watched: re-read (in a job thread) whenever the DHCP
// server changes it, no reload needed. What it said stays known as
// intervals per address, so the name used for a query is the one leased at
// the query's time, not at the time the log line is written: a lease that
// ends, is released or passes to another host keeps its name for the time
// it was in force (until the change the file showed, at the file's mtime).
// Intervals that ended more than HISTORY_MS ago are forgotten. Between a
// change to the file and the read of it, what it said is stale for queries
// asked since: the file says so (`changedSince`), and the log holds their
// lines until the read (identity.ts) rather than name the previous holder.

import { type Stats, promises as fs } from 'node:fs';
import type { LeaseSource } from '../config/identity.js';
import type { Logger } from '../../shared/logger.js';
import { watchFiles } from '../../shared/watch.js';
import { JobRunner, siblingModule } from '../../thread/run.js';
import { type Lease, type ParsedLeases, parseLeases } from './leases.js';

/** The largest lease file read: a Kea journal of ~400,000 rows. Larger is refused, with the old leases kept. */
export const MAX_LEASE_FILE = 64 * 1024 ** 2;
/** Files up to this size (a few thousand leases, about a millisecond of parsing) are read in place; larger ones in a job thread. */
const READ_IN_PLACE = 256 * 1024;
/** Addresses kept per file; an office has thousands. */
const MAX_ADDRESSES = 500_000;
/** How long an ended lease still names its address for queries made while it was in force. */
const HISTORY_MS = 10 * 60_000;
/** Intervals remembered per address (a busy pool hands an address round a few times an hour at most). */
const MAX_INTERVALS = 8;

export interface LeaseRead extends ParsedLeases {
  /** The file's mtime: when the DHCP server wrote what was read. */
  mtime: number;
}

/** Reads and parses one lease file; throws (with the path) when it cannot be read or is over MAX_LEASE_FILE. */
export async function readLeaseFile(source: LeaseSource, now: number): Promise<LeaseRead> {
  const handle = await fs.open(source.path, 'r');
  try {
    const stat: Stats = await handle.stat();
    if (stat.size > MAX_LEASE_FILE) throw new Error(`${source.path} is ${stat.size} bytes, over the ${MAX_LEASE_FILE} read (is the DHCP server's lease file cleanup running?)`);
    const bytes = await handle.readFile();
    return { ...parseLeases(source.format, bytes, now), mtime: stat.mtimeMs };
  } finally {
    await handle.close();
  }
}

interface Interval {
  name: string;
  start: number;
  end: number;
}

const job = new JobRunner(siblingModule(import.meta.url, 'lease-job'));

export class LeaseFile {
  /** Per address, its leases oldest first; the last may be in force. */
  private readonly intervals = new Map<string, Interval[]>();
  private unwatch: () => void = () => undefined;
  private reading: Promise<void> | null = null;
  private again = false;
  /** When a change to the file was first heard and not yet read (0: what was read is current). */
  private changed = 0;
  private closed = false;
  /** Reads so far (tests wait for one). */
  reads = 0;
  /** Leases in force as last read. */
  leases = 0;

  constructor(
    readonly source: LeaseSource,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The first read, then watching; a file that cannot be read yet is logged and watched for. */
  async start(watch: boolean): Promise<void> {
    await this.read();
    if (watch && !this.closed) {
      this.unwatch = watchFiles([this.source.path], () => void this.read(), 50, () => {
        if (this.changed === 0) this.changed = this.clock();
      });
    }
  }

  close(): void {
    this.closed = true;
    this.unwatch();
  }

  /** When the file changed and has not been read since (0: what was read is current): a lease at or after it may be another's. */
  get changedSince(): number {
    return this.changed;
  }

  /** Reads the file again; a read already running is followed by one more. */
  read(): Promise<void> {
    if (this.reading !== null) {
      this.again = true;
      return this.reading;
    }
    this.reading = this.readOnce().finally(() => {
      this.reading = null;
      if (this.again && !this.closed) {
        this.again = false;
        void this.read();
      }
    });
    return this.reading;
  }

  private async readOnce(): Promise<void> {
    const { path, format } = this.source;
    // A change heard from now on is not in this read: the next read takes it (`again`).
    const started = this.clock();
    try {
      await this.readAndApply(path, format);
    } finally {
      // Read (or failed to): what is known is as current as it gets, unless the file changed again meanwhile.
      if (this.changed !== 0 && this.changed <= started) this.changed = 0;
    }
  }

  private async readAndApply(path: string, format: LeaseSource['format']): Promise<void> {
    let read: LeaseRead;
    try {
      // A small file is read here at once: a client asks DNS right after its lease, and its first lines should carry its name.
      const size = (await fs.stat(path)).size;
      read = size <= READ_IN_PLACE ? await readLeaseFile(this.source, this.clock()) : await job.run<LeaseRead>({ source: this.source, now: this.clock() });
    } catch (err) {
      this.log.warn({ path, format, err: (err as Error).message }, 'lease file not read; the names known keep their leases, and the file is watched');
      return;
    }
    if (this.closed) return;
    this.apply(read.leases, this.reads === 0 ? -Infinity : read.mtime);
    this.reads++;
    this.leases = read.leases.length;
    const fields = { path, format, leases: read.leases.length, named: read.leases.filter((l) => l.name !== '').length };
    if (read.bad > 0) this.log.warn({ ...fields, unreadable: read.bad, firstUnreadableLine: read.firstBad }, 'lease file read; unreadable entries skipped');
    else this.log.info(fields, 'lease file read');
  }

  /**
   * What the file now says, as of `changed` (its mtime; -Infinity for the
   * first read, which knows nothing before it): a lease already known goes
   * on (renewed); a new one starts at its own start, else at `changed`; one
   * no longer there, or passed to another name, ends at `changed`.
   */
  apply(leases: readonly Lease[], changed: number): void {
    const now = this.clock();
    const seen = new Set<string>();
    for (const l of leases) {
      if (seen.size >= MAX_ADDRESSES && !this.intervals.has(l.address)) continue;
      seen.add(l.address);
      let list = this.intervals.get(l.address);
      if (list === undefined) {
        list = [];
        this.intervals.set(l.address, list);
      }
      const last = list[list.length - 1];
      if (last !== undefined && last.end > changed && last.name === l.name) {
        last.end = l.end;
        continue;
      }
      if (last !== undefined && last.end > changed) last.end = changed;
      list.push({ name: l.name, start: Number.isFinite(l.start) ? l.start : changed, end: l.end });
      if (list.length > MAX_INTERVALS) list.shift();
    }
    for (const [address, list] of this.intervals) {
      const last = list[list.length - 1];
      if (!seen.has(address) && last.end > changed) last.end = changed;
      // Forget what ended long enough ago that no query still waiting to be logged can fall in it.
      while (list.length > 0 && list[0].end < now - HISTORY_MS) list.shift();
      if (list.length === 0) this.intervals.delete(address);
    }
    if (seen.size >= MAX_ADDRESSES) this.log.warn({ path: this.source.path, kept: MAX_ADDRESSES }, 'lease file holds more addresses than are kept; the rest are not named');
  }

  /** The name leased to `address` at `time`; undefined when no lease covered it, '' when the lease named no host. */
  nameAt(address: string, time: number): string | undefined {
    const list = this.intervals.get(address);
    if (list === undefined) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const l = list[i];
      if (l.start <= time && time < l.end) return l.name;
    }
    return undefined;
  }

  /** Every address whose lease at `time` names `name`, newest lease first. */
  addressesOf(name: string, time: number): { address: string; start: number }[] {
    const out: { address: string; start: number }[] = [];
    for (const [address, list] of this.intervals) {
      for (const l of list) if (l.start <= time && time < l.end && sameHost(l.name, name)) out.push({ address, start: l.start });
    }
    return out.sort((a, b) => b.start - a.start);
  }
}

/** `alice-laptop` is the host `alice-laptop` and `alice-laptop.corp.example` (ASCII case aside). */
export function sameHost(known: string, asked: string): boolean {
  if (known === '' || asked === '') return false;
  const k = known.toLowerCase();
  const a = asked.toLowerCase();
  return k === a || k.startsWith(`${a}.`);
}
