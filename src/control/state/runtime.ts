// Runtime state: pauses and exceptions made through the admin API. Without
// Redis it lives in this process. With `state.redis` it lives in two Redis
// hashes that every instance reads, and each change is published on a channel
// so that every instance re-reads them at once (and every 10 s regardless, in
// case a message was lost while a connection was down).
//
// Nothing on the query path touches this: a change rebuilds the verdict
// tables off to the side (through onChange). When Redis is unreachable every
// instance keeps the last state it read (also kept in dataDir, so a restart
// during the outage keeps it), reconnects with back-off, and says so in
// /readyz and the metrics; changes are refused meanwhile (503), since they
// would not reach the other instances.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Redis } from 'ioredis';
import type { StateConfig } from '../config/state.js';
import type { Logger } from '../../shared/logger.js';
import { clientAddress } from '../../net/address.js';

export interface RuntimeException {
  id: string;
  group: string;
  select: string;
  /** Epoch ms at which it lapses by itself. */
  until: number;
  reason: string;
  author: string;
  /** The instance it was made on. */
  instance: string;
  created: number;
  /** For this one client only (an approved access request); absent: the whole group. */
  client?: string;
}

export interface SharedStateStatus {
  backend: 'redis' | 'local';
  /** Redis answers (always true for local). */
  connected: boolean;
  /** When the state was last read from Redis (ISO), null before the first read. */
  lastSync: string | null;
  /** The last connection error while disconnected. */
  error?: string;
}

/** Why a change was refused: Redis is unreachable. */
export class StateUnavailable extends Error {}

/** Bounds on what is kept: an attacker with the token (or the Redis) must not grow memory or the verdict tables without limit. */
export const MAX_EXCEPTIONS = 500;
const RESYNC_MS = 10_000;

type Change = { kind: 'state' } | { kind: 'reload' };

export class RuntimeState {
  private pauseMap = new Map<string, number>();
  private exceptionMap = new Map<string, RuntimeException>();
  private client: Redis | null = null;
  private subscriber: Redis | null = null;
  private connected = false;
  private lastSync: number | null = null;
  private lastError: string | undefined;
  private syncSeq = 0;
  private appliedSeq = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Counters for the metrics. */
  readonly stats = { syncs: 0, syncErrors: 0, published: 0, received: 0 };

  constructor(
    private readonly config: StateConfig,
    private readonly log: Logger,
    /** Called when pauses or exceptions changed (from here or from another instance). */
    private readonly onChange: () => void,
    /** Called when another instance asks every instance to reload. */
    private readonly onReload: () => void,
    private readonly clock: () => number = Date.now,
    /** Where the last state read from Redis is kept across restarts; undefined: not kept. */
    private readonly snapshotFile?: string,
  ) {}

  get shared(): boolean {
    return this.config.redis !== undefined;
  }

  /** Connects in the background: never waits for Redis. */
  start(): void {
    if (!this.config.redis) return;
    this.loadSnapshot();
    // Commands fail at once while disconnected rather than queue: a caller learns now that a change did not go out.
    const options = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
    };
    const client = new Redis(this.config.redis, options);
    this.client = client;
    client.on('ready', () => {
      if (!this.connected) this.log.info({ redis: redact(this.config.redis!) }, 'shared state: connected to Redis');
      this.connected = true;
      this.lastError = undefined;
      void this.sync();
    });
    client.on('error', (err: Error) => {
      // ioredis reports every failed attempt; one line per outage, the rest at back-off pace in /readyz.
      if (this.connected || this.lastError === undefined) this.log.warn({ err: err.message }, 'shared state: Redis unreachable; enforcing the last state read, reconnecting');
      this.lastError = err.message;
    });
    client.on('close', () => {
      if (this.connected) this.log.warn('shared state: Redis connection lost; enforcing the last state read, reconnecting');
      this.connected = false;
    });
    // The subscriber queues its SUBSCRIBE until connected and re-subscribes after each reconnect.
    const sub = client.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
    this.subscriber = sub;
    sub.on('error', () => undefined); // the main client reports the outage
    sub.on('ready', () => void this.sync()); // messages missed while it was down
    void sub.subscribe(this.channel).catch(() => undefined);
    sub.on('message', (_channel: string, text: string) => this.onMessage(text));
    this.timer = setInterval(() => void this.sync(), RESYNC_MS).unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.subscriber?.disconnect();
    this.client?.disconnect();
  }

  status(): SharedStateStatus {
    if (!this.shared) return { backend: 'local', connected: true, lastSync: null };
    const s: SharedStateStatus = { backend: 'redis', connected: this.connected, lastSync: this.lastSync === null ? null : new Date(this.lastSync).toISOString() };
    if (!this.connected && this.lastError) s.error = this.lastError;
    return s;
  }

  /** Pauses still running, by group (epoch ms). */
  pauses(): Map<string, number> {
    const now = this.clock();
    return new Map([...this.pauseMap].filter(([, until]) => until > now));
  }

  /** Exceptions still running, oldest first. */
  exceptions(): RuntimeException[] {
    const now = this.clock();
    return [...this.exceptionMap.values()].filter((e) => e.until > now).sort((a, b) => a.created - b.created || a.id.localeCompare(b.id));
  }

  /** Pauses `groups` until `until` (0 resumes), here and on every instance. */
  async setPause(groups: string[], until: number): Promise<void> {
    if (this.client) {
      const m = this.writable().multi();
      for (const g of groups) {
        if (until > 0) m.hset(this.key('pauses'), g, String(until));
        else m.hdel(this.key('pauses'), g);
      }
      await this.commit(m);
    }
    for (const g of groups) {
      if (until > 0) this.pauseMap.set(g, until);
      else this.pauseMap.delete(g);
    }
    this.changed();
  }

  async addException(e: Omit<RuntimeException, 'id' | 'instance' | 'created'>): Promise<RuntimeException> {
    if (this.exceptions().length >= MAX_EXCEPTIONS) throw new RangeError(`${MAX_EXCEPTIONS} runtime exceptions are in force already; revoke some, or write long-lived ones in the config`);
    const full: RuntimeException = { id: randomBytes(6).toString('hex'), ...e, instance: this.config.instance, created: this.clock() };
    if (this.client) {
      const m = this.writable().multi();
      m.hset(this.key('exceptions'), full.id, storedException(full));
      await this.commit(m);
    }
    this.exceptionMap.set(full.id, full);
    this.changed();
    return full;
  }

  /** The exception revoked, or undefined when no exception has that id. */
  async revokeException(id: string): Promise<RuntimeException | undefined> {
    const e = this.exceptionMap.get(id);
    if (this.client) {
      const m = this.writable().multi();
      m.hdel(this.key('exceptions'), id);
      await this.commit(m);
    }
    if (!e) return undefined;
    this.exceptionMap.delete(id);
    this.changed();
    return e;
  }

  /** Asks every other instance to reload its configuration. False without Redis. */
  async broadcastReload(): Promise<boolean> {
    if (!this.client) return false;
    await this.writable().publish(this.channel, JSON.stringify({ kind: 'reload', from: this.config.instance }));
    this.stats.published++;
    return true;
  }

  /** Reads both hashes; a read that returns after a newer one is ignored. */
  async sync(): Promise<void> {
    const client = this.client;
    if (!client || this.closed || client.status !== 'ready') return;
    const seq = ++this.syncSeq;
    try {
      const [pauses, exceptions] = (await client.multi().hgetall(this.key('pauses')).hgetall(this.key('exceptions')).exec()) ?? [];
      if (pauses?.[0] || exceptions?.[0]) throw pauses?.[0] ?? exceptions?.[0];
      if (seq < this.appliedSeq || this.closed) return;
      this.appliedSeq = seq;
      this.stats.syncs++;
      this.lastSync = this.clock();
      const changed = this.replace(pauses[1] as Record<string, string>, exceptions[1] as Record<string, string>);
      if (changed) {
        this.saveSnapshot();
        this.changed();
      }
    } catch (err) {
      this.stats.syncErrors++;
      this.lastError = (err as Error).message;
    }
  }

  private get channel(): string {
    return this.key('changes');
  }

  private key(name: string): string {
    return `${this.config.prefix}:${name}`;
  }

  private writable(): Redis {
    if (!this.client || !this.connected || this.client.status !== 'ready') {
      throw new StateUnavailable(`Redis (state.redis) is unreachable${this.lastError ? ` (${this.lastError})` : ''}: the change would not reach the other instances; retry when /readyz shows sharedState.connected`);
    }
    return this.client;
  }

  /** Runs the writes and the announcement in one transaction. */
  private async commit(m: ReturnType<Redis['multi']>): Promise<void> {
    m.publish(this.channel, JSON.stringify({ kind: 'state', from: this.config.instance } satisfies Change & { from: string }));
    let result: [Error | null, unknown][] | null;
    try {
      result = await m.exec();
    } catch (err) {
      throw new StateUnavailable(`Redis (state.redis) failed the change: ${(err as Error).message}`);
    }
    const failed = result?.find(([err]) => err);
    if (!result || failed) throw new StateUnavailable(`Redis (state.redis) failed the change: ${failed?.[0]?.message ?? 'transaction aborted'}`);
    this.stats.published++;
  }

  private onMessage(text: string): void {
    this.stats.received++;
    let change: Change | undefined;
    try {
      change = JSON.parse(text) as Change;
    } catch {
      return;
    }
    if (change?.kind === 'reload') {
      this.log.info('shared state: another instance asked for a reload');
      this.onReload();
    } else void this.sync();
  }

  /** Replaces the maps with what Redis holds; true when something differs. Entries that are malformed are skipped, those that lapsed removed. */
  private replace(pauses: Record<string, string>, exceptions: Record<string, string>): boolean {
    const now = this.clock();
    const nextPauses = new Map<string, number>();
    for (const [group, text] of Object.entries(pauses)) {
      const until = Number(text);
      if (Number.isFinite(until) && until > now) nextPauses.set(group, until);
    }
    const nextExceptions = new Map<string, RuntimeException>();
    const lapsed: string[] = [];
    for (const [id, text] of Object.entries(exceptions)) {
      const e = parseException(id, text);
      if (!e) continue;
      if (e.until <= now) lapsed.push(id);
      else if (nextExceptions.size < MAX_EXCEPTIONS) nextExceptions.set(id, e);
    }
    // Whoever sees a lapsed entry removes it; the hash would otherwise only grow.
    if (lapsed.length > 0) void this.client?.hdel(this.key('exceptions'), ...lapsed).catch(() => undefined);
    const same = sameMap(this.pauseMap, nextPauses) && sameKeys(this.exceptionMap, nextExceptions);
    this.pauseMap = nextPauses;
    this.exceptionMap = nextExceptions;
    return !same;
  }

  private changed(): void {
    try {
      this.onChange();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'shared state: applying a change failed');
    }
  }

  private loadSnapshot(): void {
    if (!this.snapshotFile) return;
    try {
      const s = JSON.parse(readFileSync(this.snapshotFile, 'utf8')) as { pauses: Record<string, string>; exceptions: Record<string, string> };
      this.replace(s.pauses ?? {}, s.exceptions ?? {});
    } catch {
      // none yet, or unreadable: start from nothing, as before shared state existed
    }
  }

  private saveSnapshot(): void {
    if (!this.snapshotFile) return;
    try {
      mkdirSync(dirname(this.snapshotFile), { recursive: true });
      const pauses = Object.fromEntries([...this.pauseMap].map(([g, u]) => [g, String(u)]));
      const exceptions = Object.fromEntries([...this.exceptionMap].map(([id, e]) => [id, storedException(e)]));
      writeFileSync(`${this.snapshotFile}.tmp`, JSON.stringify({ pauses, exceptions }));
      renameSync(`${this.snapshotFile}.tmp`, this.snapshotFile);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, file: this.snapshotFile }, 'shared state: cannot keep a copy on disk');
    }
  }
}

/**
 * An exception as stored. One for a single client is stored with the group
 * `GROUP@ADDRESS`, a group no instance has: an instance that does not know
 * client exceptions (an older one, in a rolling upgrade), or a reader that
 * keeps only the fields it knows, enforces it nowhere rather than for the
 * whole group.
 */
function storedException(e: RuntimeException): string {
  return JSON.stringify(e.client === undefined ? e : { ...e, group: `${e.group}@${e.client}` });
}

function parseException(id: string, text: string): RuntimeException | null {
  if (text.length > 4096) return null;
  try {
    const e = JSON.parse(text) as Partial<RuntimeException>;
    const str = (v: unknown) => typeof v === 'string' && v.length <= 1000;
    if (e.id !== id || !str(e.group) || !str(e.select) || !str(e.reason) || !str(e.author) || !str(e.instance)) return null;
    if (typeof e.until !== 'number' || typeof e.created !== 'number') return null;
    const at = e.group!.indexOf('@');
    if (at >= 0 || e.client !== undefined) {
      const client = e.group!.slice(at + 1);
      if (at < 0 || e.client !== client || clientAddress(client) !== client) return null;
      return { ...(e as RuntimeException), group: e.group!.slice(0, at), client };
    }
    return e as RuntimeException;
  } catch {
    return null;
  }
}

const sameMap = (a: Map<string, number>, b: Map<string, number>) => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
const sameKeys = <T>(a: Map<string, T>, b: Map<string, T>) => a.size === b.size && [...a.keys()].every((k) => b.has(k));

/** The URL without its password, for the log. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis';
  }
}
