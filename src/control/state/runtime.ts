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
//
// What is read back is checked by the admin API's rules (rules.ts) before it
// is enforced: an entry written into Redis by hand or by a newer instance
// that breaks them is ignored and logged once. The exception cap holds
// fleet-wide: adding one is a Lua script that counts and writes in one step.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Redis } from 'ioredis';
import type { StateConfig } from '../config/state.js';
import type { Logger } from '../../shared/logger.js';
import { CLOCK_SKEW_MS, MAX_EXCEPTION_SECONDS, MAX_EXCEPTIONS, type PolicyView, type RuntimeException } from './rules.js';
import { ADD_SCRIPT, MAX_STORED_ENTRIES, MAX_VALUE_BYTES, READ_SCRIPT } from './scripts.js';
import { type Ignored, type Judged, type StoredHashes, fromFlat, judge, noHashes, sameHashes, storedException } from './stored.js';

export { MAX_EXCEPTIONS, type RuntimeException } from './rules.js';

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

export interface RuntimeStateOptions {
  /** Called when the pauses or exceptions in force changed (from here or from another instance). */
  onChange: () => void;
  /** Called when another instance asks every instance to reload. */
  onReload: () => void;
  /** The live policy: what is read is checked against its groups and selectors. */
  policy: () => PolicyView;
  clock?: () => number;
  /** Where the last state read from Redis is kept across restarts; undefined: not kept. */
  snapshotFile?: string;
}

const RESYNC_MS = 10_000;
/** A command Redis does not answer within this fails (a sync stuck on a hung server would hold back the next ones). */
const COMMAND_TIMEOUT_MS = 5_000;

type Change = { kind: 'state' } | { kind: 'reload' };
type StateRedis = Redis & {
  aifenceRead(pauses: string, exceptions: string, most: number, largest: number): Promise<[unknown, unknown]>;
  aifenceAdd(exceptions: string, ...args: (string | number)[]): Promise<number>;
};

export class RuntimeState {
  /** What was last read (or written here): the hashes as stored. */
  private stored: StoredHashes = noHashes();
  /** What of it is in force here. */
  private judged: Judged;
  private client: StateRedis | null = null;
  private subscriber: Redis | null = null;
  private connected = false;
  private lastSync: number | null = null;
  private lastError: string | undefined;
  private syncing = false;
  private syncAgain = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly clock: () => number;
  /** Counters for the metrics. */
  readonly stats = { syncs: 0, syncErrors: 0, published: 0, received: 0 };

  constructor(
    private readonly config: StateConfig,
    private readonly log: Logger,
    private readonly options: RuntimeStateOptions,
  ) {
    this.clock = options.clock ?? Date.now;
    this.judged = judge(this.stored, this.clock(), options.policy());
  }

  get shared(): boolean {
    return this.config.redis !== undefined;
  }

  /** Connects in the background: never waits for Redis. */
  start(): void {
    if (!this.config.redis) return;
    this.loadSnapshot();
    void this.connect();
  }

  /** ioredis is loaded here, not with the module: a daemon without state.redis never loads it (a quarter of serve's start-up imports). */
  private async connect(): Promise<void> {
    const { Redis } = await import('ioredis');
    if (this.closed) return;
    // Commands fail at once while disconnected rather than queue: a caller learns now that a change did not go out.
    const options = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      commandTimeout: COMMAND_TIMEOUT_MS,
      retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
    };
    const client = new Redis(this.config.redis!, options) as StateRedis;
    client.defineCommand('aifenceRead', { numberOfKeys: 2, lua: READ_SCRIPT });
    client.defineCommand('aifenceAdd', { numberOfKeys: 1, lua: ADD_SCRIPT });
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
    const sub = client.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined });
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
    return new Map([...this.judged.pauses].filter(([, until]) => until > now));
  }

  /** Exceptions still running, oldest first. */
  exceptions(): RuntimeException[] {
    const now = this.clock();
    return [...this.judged.exceptions.values()].filter((e) => e.until > now).sort((a, b) => a.created - b.created || a.id.localeCompare(b.id));
  }

  /** Stored entries this instance does not enforce (out of range, unknown group or selector, unreadable). */
  get ignored(): number {
    return this.judged.ignored.size;
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
    const pauses = { ...this.stored.pauses };
    for (const g of groups) {
      if (until > 0) pauses[g] = String(until);
      else delete pauses[g];
    }
    this.adopt({ ...this.stored, pauses });
  }

  async addException(e: Omit<RuntimeException, 'id' | 'instance' | 'created'>): Promise<RuntimeException> {
    const full: RuntimeException = { id: randomBytes(6).toString('hex'), ...e, instance: this.config.instance, created: this.clock() };
    const atCap = new RangeError(`${MAX_EXCEPTIONS} runtime exceptions are in force already${this.client ? ' (over every instance sharing this Redis)' : ''}; revoke some, or write long-lived ones in the config`);
    if (this.client) {
      const now = this.clock();
      let added: number;
      try {
        added = await this.writable().aifenceAdd(
          this.key('exceptions'),
          full.id,
          storedException(full),
          now,
          now + MAX_EXCEPTION_SECONDS * 1000 + CLOCK_SKEW_MS,
          MAX_EXCEPTIONS,
          MAX_STORED_ENTRIES,
          MAX_VALUE_BYTES,
          this.channel,
          this.changeMessage,
        );
      } catch (err) {
        if (err instanceof StateUnavailable) throw err;
        throw new StateUnavailable(`Redis (state.redis) failed the change: ${(err as Error).message}`);
      }
      if (added !== 1) throw atCap;
      this.stats.published++;
    } else if (this.exceptions().length >= MAX_EXCEPTIONS) {
      throw atCap;
    }
    const exceptions = { ...this.stored.exceptions, [full.id]: storedException(full) };
    if (!this.client) for (const id of this.judged.lapsed) delete exceptions[id]; // Redis drops them on each read; here, now
    this.adopt({ ...this.stored, exceptions });
    return full;
  }

  /** The exception revoked (in force or not), or undefined when no exception has that id. */
  async revokeException(id: string): Promise<RuntimeException | undefined> {
    const e = this.judged.readable.get(id);
    if (this.client) {
      const m = this.writable().multi();
      m.hdel(this.key('exceptions'), id);
      await this.commit(m);
    }
    if (!e) return undefined;
    const exceptions = { ...this.stored.exceptions };
    delete exceptions[id];
    this.adopt({ ...this.stored, exceptions });
    return e;
  }

  /** Asks every other instance to reload its configuration. False without Redis. */
  async broadcastReload(): Promise<boolean> {
    if (!this.client) return false;
    await this.writable().publish(this.channel, JSON.stringify({ kind: 'reload', from: this.config.instance }));
    this.stats.published++;
    return true;
  }

  /**
   * Checks what is stored against the policy again (a reload may have added
   * or removed groups and selectors); true when what is in force changed.
   */
  revalidate(): boolean {
    return this.rejudge();
  }

  /** Reads both hashes. A read asked for while one runs is folded into one more after it. */
  async sync(): Promise<void> {
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    try {
      do {
        this.syncAgain = false;
        await this.syncOnce();
      } while (this.syncAgain && !this.closed);
    } finally {
      this.syncing = false;
    }
  }

  private async syncOnce(): Promise<void> {
    const client = this.client;
    if (!client || this.closed || client.status !== 'ready') return;
    try {
      const [pauses, exceptions] = await client.aifenceRead(this.key('pauses'), this.key('exceptions'), MAX_STORED_ENTRIES, MAX_VALUE_BYTES);
      if (this.closed) return;
      this.stats.syncs++;
      this.lastSync = this.clock();
      this.readError = undefined;
      const lapsed = this.adopt({ pauses: fromFlat(pauses), exceptions: fromFlat(exceptions) });
      // Whoever sees a lapsed entry removes it; the hash would otherwise only grow.
      if (lapsed.length > 0) void client.hdel(this.key('exceptions'), ...lapsed).catch(() => undefined);
    } catch (err) {
      this.stats.syncErrors++;
      const message = (err as Error).message;
      this.lastError = message;
      // Connection trouble is reported by the client's events; a refusal to read is reported here, once.
      if (message.includes('TOOLARGE') && this.readError !== message) {
        this.readError = message;
        this.log.warn({ err: message.replace(/^.*TOOLARGE /, '') }, 'shared state: Redis holds more than any instance writes; not read, enforcing the last state read');
      }
    }
  }

  /** The last refusal to read, so that it is logged once and not every resync. */
  private readError: string | undefined;

  private get channel(): string {
    return this.key('changes');
  }

  private get changeMessage(): string {
    return JSON.stringify({ kind: 'state', from: this.config.instance } satisfies Change & { from: string });
  }

  private key(name: string): string {
    return `${this.config.prefix}:${name}`;
  }

  private writable(): StateRedis {
    if (!this.client || !this.connected || this.client.status !== 'ready') {
      throw new StateUnavailable(`Redis (state.redis) is unreachable${this.lastError ? ` (${this.lastError})` : ''}: the change would not reach the other instances; retry when /readyz shows sharedState.connected`);
    }
    return this.client;
  }

  /** Runs the writes and the announcement in one transaction. */
  private async commit(m: ReturnType<Redis['multi']>): Promise<void> {
    m.publish(this.channel, this.changeMessage);
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
      this.options.onReload();
    } else void this.sync();
  }

  /**
   * Takes `stored` as the state (read from Redis or the snapshot, or changed
   * here): kept on disk when it differs, judged, and applied when what is in
   * force changed. Returns the exceptions that lapsed.
   */
  private adopt(stored: StoredHashes): string[] {
    const differs = !sameHashes(this.stored, stored);
    this.stored = stored;
    if (differs) this.saveSnapshot();
    if (this.rejudge()) this.changed();
    return this.judged.lapsed;
  }

  /** Judges the stored state now; logs entries newly ignored (once each); true when what is in force changed. */
  private rejudge(): boolean {
    const before = this.judged;
    const after = judge(this.stored, this.clock(), this.options.policy());
    this.judged = after;
    for (const [key, entry] of after.ignored) if (!before.ignored.has(key)) this.reportIgnored(entry);
    return !sameMap(before.pauses, after.pauses) || !sameKeys(before.exceptions, after.exceptions);
  }

  private reportIgnored(e: Ignored): void {
    this.log.warn(
      { hash: this.key(e.hash), field: e.field.slice(0, 200), value: e.value, why: e.why },
      `shared state: ${e.hash === 'pauses' ? 'pause' : 'exception'} stored in Redis ignored: ${e.why} (the admin API would refuse it)`,
    );
  }

  private changed(): void {
    try {
      this.options.onChange();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'shared state: applying a change failed');
    }
  }

  private loadSnapshot(): void {
    const file = this.options.snapshotFile;
    if (!file) return;
    let s: Partial<StoredHashes>;
    try {
      s = JSON.parse(readFileSync(file, 'utf8')) as Partial<StoredHashes>;
    } catch {
      return; // none yet, or unreadable: start from nothing, as before shared state existed
    }
    const flat = (r: unknown) => fromFlat(r !== null && typeof r === 'object' ? Object.entries(r).flat() : []);
    this.stored = { pauses: flat(s.pauses), exceptions: flat(s.exceptions) };
    this.rejudge();
  }

  private saveSnapshot(): void {
    const file = this.options.snapshotFile;
    if (!file || !this.shared) return;
    try {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(`${file}.tmp`, JSON.stringify(this.stored));
      renameSync(`${file}.tmp`, file);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, file }, 'shared state: cannot keep a copy on disk');
    }
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
