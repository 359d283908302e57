// Access requests made on the block page, and their decisions: kept beside
// the runtime exceptions. Without Redis they live in this process and in
// dataDir (a restart keeps them); with `state.redis` in one hash every
// instance reads, so a request made on one instance's page is decided from
// any instance's console. Creating and deciding are Lua scripts, one step
// each: two instances cannot overshoot the caps or decide one request twice.
//
// What is read back is checked field by field (whoever can write to Redis
// gets no more than a requester); entries that fail are skipped. Requests
// waiting longer than a week, and decisions older than 30 days, are removed
// by whoever sees them.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Redis } from 'ioredis';
import type { StateConfig } from '../config/state.js';
import type { Logger } from '../../shared/logger.js';
import { clientAddress } from '../../net/address.js';
import { StateUnavailable } from './runtime.js';

/** The durations a requester may ask for (the page's fixed list), in seconds. */
export const REQUEST_DURATIONS = { '1h': 3600, '8h': 8 * 3600, '1d': 86400, '7d': 7 * 86400, '30d': 30 * 86400 } as const;
export type RequestDuration = keyof typeof REQUEST_DURATIONS;

/** A duration in seconds in its largest whole unit, as the config writes them (the page's list: 1h ... 30d). */
export function durationText(seconds: number): string {
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}

export type RequestStatus = 'pending' | 'approved' | 'denied';

export interface AccessRequest {
  id: string;
  /** Who asked: the address the page was reached from. */
  client: string;
  /** The client's name when it asked (identity: a lease, a static name, a PTR name), in presentation form; absent when none was known. */
  clientName?: string;
  /** The blocked name, in presentation form. */
  name: string;
  /** What an approval opens: the selector that blocked the name (`service:ID`, `list:NAME`). */
  select: string;
  /** The catalogue service, when a service decided. */
  service: string | null;
  group: string;
  reason: string;
  /** Seconds asked for. */
  duration: number;
  status: RequestStatus;
  created: number;
  /** The instance whose page took it. */
  instance: string;
  /** Decisions: when, by whom, and for an approval until when and the exception it made. */
  decided?: number;
  by?: string;
  until?: number;
  exception?: string;
}

/** Requests kept at once, over the fleet. */
export const MAX_REQUESTS = 2000;
/** Requests one client may have waiting at once. */
export const MAX_PENDING_PER_CLIENT = 10;
/** A request nobody decided within a week is dropped: the person has moved on or asked the helpdesk. */
export const PENDING_MS = 7 * 86_400_000;
/** Decisions are kept 30 days for the console and the page; the query log keeps the audit trail. */
export const DECIDED_MS = 30 * 86_400_000;
/** Reads from Redis at most this often (page views and the console ask for fresh state). */
const REFRESH_MS = 1000;
const RESYNC_MS = 10_000;
const MAX_VALUE_BYTES = 4096;

/** Why a request was not taken. */
export class RequestRefused extends Error {
  constructor(
    readonly why: 'full' | 'client-full',
    message: string,
  ) {
    super(message);
  }
}

/** KEYS: the hash. ARGV: id, entry, now, client, select, cap, per client, pending ms, decided ms. Returns {1} added, {0, existing} already waiting, {-1} full, {-2} client full. */
const CREATE_SCRIPT = `
local now, cap, perClient = tonumber(ARGV[3]), tonumber(ARGV[6]), tonumber(ARGV[7])
local pendingMs, decidedMs = tonumber(ARGV[8]), tonumber(ARGV[9])
local all = redis.call('HGETALL', KEYS[1])
local stale, live, mine = {}, 0, 0
for i = 1, #all, 2 do
  local ok, r = pcall(cjson.decode, all[i + 1])
  if ok and type(r) == 'table' and type(r.created) == 'number' then
    local waiting = r.status == 'pending'
    local since = waiting and r.created or (tonumber(r.decided) or r.created)
    if now - since > (waiting and pendingMs or decidedMs) then
      stale[#stale + 1] = all[i]
    else
      live = live + 1
      if waiting and r.client == ARGV[4] then
        if r.select == ARGV[5] then return { 0, all[i + 1] } end
        mine = mine + 1
      end
    end
  else
    live = live + 1
  end
end
if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
if live >= cap then return { -1 } end
if mine >= perClient then return { -2 } end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return { 1 }
`;

/** KEYS: the hash. ARGV: id, the decided entry. Returns {2, entry} decided now, {1, current} decided before, {0} no such request. */
const DECIDE_SCRIPT = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return { 0 } end
local ok, r = pcall(cjson.decode, current)
if not ok or type(r) ~= 'table' or r.status ~= 'pending' then return { 1, current } end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return { 2, ARGV[2] }
`;

/** KEYS: the hash. ARGV: the most fields read. */
const READ_SCRIPT = `
local n = redis.call('HLEN', KEYS[1])
if n > tonumber(ARGV[1]) then return redis.error_reply('TOOLARGE ' .. KEYS[1] .. ' holds ' .. n .. ' fields') end
return redis.call('HGETALL', KEYS[1])
`;

type RequestRedis = Redis & {
  aifenceRequestCreate(key: string, ...args: (string | number)[]): Promise<[number, string?]>;
  aifenceRequestDecide(key: string, id: string, entry: string): Promise<[number, string?]>;
  aifenceRequestRead(key: string, most: number): Promise<string[]>;
};

export class AccessRequestStore {
  private entries = new Map<string, AccessRequest>();
  private client: RequestRedis | null = null;
  private lastRead = 0;
  private reading: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly config: StateConfig,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
    /** Where requests are kept without Redis (and the last read with it). */
    private readonly file?: string,
  ) {
    this.load();
  }

  get shared(): boolean {
    return this.config.redis !== undefined;
  }

  /** Connects in the background (with Redis); never waits for it. */
  async start(): Promise<void> {
    if (!this.config.redis) return;
    const { Redis } = await import('ioredis');
    const client = new Redis(this.config.redis, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      commandTimeout: 5000,
      retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
    }) as RequestRedis;
    client.defineCommand('aifenceRequestCreate', { numberOfKeys: 1, lua: CREATE_SCRIPT });
    client.defineCommand('aifenceRequestDecide', { numberOfKeys: 1, lua: DECIDE_SCRIPT });
    client.defineCommand('aifenceRequestRead', { numberOfKeys: 1, lua: READ_SCRIPT });
    client.on('error', () => undefined); // the runtime state's connection reports the outage
    client.on('ready', () => void this.refresh(true));
    this.client = client;
    this.timer = setInterval(() => void this.refresh(true), RESYNC_MS).unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.client?.disconnect();
  }

  /** Every request kept, newest first. */
  list(): AccessRequest[] {
    const now = this.clock();
    return [...this.entries.values()].filter((r) => !expired(r, now)).sort((a, b) => b.created - a.created || a.id.localeCompare(b.id));
  }

  get(id: string): AccessRequest | undefined {
    const r = this.entries.get(id);
    return r === undefined || expired(r, this.clock()) ? undefined : r;
  }

  /** Reads what Redis holds (at most once a second unless `force`); without Redis, nothing to do. */
  refresh(force = false): Promise<void> {
    const client = this.client;
    if (!client || this.closed || client.status !== 'ready') return Promise.resolve();
    if (this.reading) return this.reading;
    if (!force && this.clock() - this.lastRead < REFRESH_MS) return Promise.resolve();
    this.reading = (async () => {
      try {
        const flat = await client.aifenceRequestRead(this.key, MAX_REQUESTS * 2);
        const next = new Map<string, AccessRequest>();
        for (let i = 0; i + 1 < flat.length; i += 2) {
          const r = parseRequest(flat[i], flat[i + 1]);
          if (r) next.set(r.id, r);
        }
        this.entries = next;
        this.lastRead = this.clock();
        this.save();
      } catch (err) {
        this.log.debug({ err: (err as Error).message }, 'access requests: reading Redis failed; showing the last read');
      } finally {
        this.reading = null;
      }
    })();
    return this.reading;
  }

  /**
   * Takes a request, or finds the one this client has waiting for the same
   * thing. Throws RequestRefused when the caps are reached, StateUnavailable
   * when Redis does not answer (the request would reach no other instance).
   */
  async create(fields: Omit<AccessRequest, 'id' | 'status' | 'created' | 'instance'>): Promise<{ request: AccessRequest; existing: boolean }> {
    const now = this.clock();
    const request: AccessRequest = { id: randomBytes(6).toString('hex'), ...fields, status: 'pending', created: now, instance: this.config.instance };
    const entry = JSON.stringify(request);
    if (this.client) {
      let result: [number, string?];
      try {
        result = await this.writable().aifenceRequestCreate(this.key, request.id, entry, now, request.client, request.select, MAX_REQUESTS, MAX_PENDING_PER_CLIENT, PENDING_MS, DECIDED_MS);
      } catch (err) {
        if (err instanceof StateUnavailable) throw err;
        throw new StateUnavailable(`Redis (state.redis) failed the request: ${(err as Error).message}`);
      }
      const [code, existing] = result;
      if (code === 0) {
        const r = existing === undefined ? null : parseRequest(JSON.parse(existing).id, existing);
        if (r) {
          this.entries.set(r.id, r);
          return { request: r, existing: true };
        }
      }
      if (code === -1) throw full();
      if (code === -2) throw clientFull();
      this.entries.set(request.id, request);
      return { request, existing: false };
    }
    for (const r of this.list()) {
      if (r.status === 'pending' && r.client === request.client && r.select === request.select) return { request: r, existing: true };
    }
    this.prune(now);
    if (this.entries.size >= MAX_REQUESTS) throw full();
    if (this.list().filter((r) => r.status === 'pending' && r.client === request.client).length >= MAX_PENDING_PER_CLIENT) throw clientFull();
    this.entries.set(request.id, request);
    this.save();
    return { request, existing: false };
  }

  /**
   * Records a decision on a request still waiting: the decided request, or
   * `{ before }` when it was decided already (by someone else, maybe on
   * another instance), or undefined when there is no such request.
   */
  async decide(id: string, decision: Pick<AccessRequest, 'status' | 'by' | 'until' | 'exception'>): Promise<{ decided: AccessRequest } | { before: AccessRequest } | undefined> {
    const current = this.entries.get(id);
    if (this.client) {
      const base = current ?? (await this.refresh(true), this.entries.get(id));
      if (base === undefined) return undefined;
      const next: AccessRequest = { ...base, ...decision, decided: this.clock() };
      let result: [number, string?];
      try {
        result = await this.writable().aifenceRequestDecide(this.key, id, JSON.stringify(next));
      } catch (err) {
        if (err instanceof StateUnavailable) throw err;
        throw new StateUnavailable(`Redis (state.redis) failed the decision: ${(err as Error).message}`);
      }
      const [code, text] = result;
      if (code === 0) {
        this.entries.delete(id);
        return undefined;
      }
      const r = text === undefined ? null : parseRequest(id, text);
      if (r) this.entries.set(id, r);
      return code === 2 ? { decided: next } : r ? { before: r } : undefined;
    }
    if (current === undefined || expired(current, this.clock())) return undefined;
    if (current.status !== 'pending') return { before: current };
    const next: AccessRequest = { ...current, ...decision, decided: this.clock() };
    this.entries.set(id, next);
    this.save();
    return { decided: next };
  }

  /** Undoes an approval whose exception could not be made: the request waits again. */
  async reopen(request: AccessRequest): Promise<void> {
    const pending: AccessRequest = { ...request, status: 'pending' };
    delete pending.decided;
    delete pending.by;
    delete pending.until;
    delete pending.exception;
    if (this.client) await this.writable().hset(this.key, request.id, JSON.stringify(pending)).catch(() => undefined);
    this.entries.set(request.id, pending);
    this.save();
  }

  private get key(): string {
    return `${this.config.prefix}:requests`;
  }

  private writable(): RequestRedis {
    if (!this.client || this.client.status !== 'ready') {
      throw new StateUnavailable('Redis (state.redis) is unreachable: the request would reach no other instance; retry when /readyz shows sharedState.connected');
    }
    return this.client;
  }

  private prune(now: number): void {
    for (const [id, r] of this.entries) if (expired(r, now)) this.entries.delete(id);
  }

  private load(): void {
    if (!this.file) return;
    let stored: unknown;
    try {
      stored = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch {
      return; // none yet, or unreadable: start empty
    }
    if (typeof stored !== 'object' || stored === null) return;
    for (const [id, text] of Object.entries(stored).slice(0, MAX_REQUESTS)) {
      const r = typeof text === 'string' ? parseRequest(id, text) : null;
      if (r) this.entries.set(id, r);
    }
  }

  private save(): void {
    if (!this.file) return;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const out = Object.fromEntries([...this.entries].map(([id, r]) => [id, JSON.stringify(r)]));
      writeFileSync(`${this.file}.tmp`, JSON.stringify(out), { mode: 0o600 });
      renameSync(`${this.file}.tmp`, this.file);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, file: this.file }, 'access requests: cannot keep them on disk');
    }
  }
}

const full = () => new RequestRefused('full', `${MAX_REQUESTS} access requests are kept already; an admin must decide some first`);
const clientFull = () => new RequestRefused('client-full', `this device has ${MAX_PENDING_PER_CLIENT} requests waiting already`);

function expired(r: AccessRequest, now: number): boolean {
  return r.status === 'pending' ? now - r.created > PENDING_MS : now - (r.decided ?? r.created) > DECIDED_MS;
}

const ID = /^[0-9a-f]{12}$/;
const GROUP = /^[a-z0-9][a-z0-9_-]*$/i;
const INSTANCE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const line = (v: unknown, max: number) => typeof v === 'string' && v.length > 0 && v.length <= max && !/[\u0000-\u001f\u007f]/.test(v);
const time = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;

/** A stored request, checked field by field; null when any field is not what aifence writes. */
export function parseRequest(id: string, text: string): AccessRequest | null {
  if (typeof text !== 'string' || text.length > MAX_VALUE_BYTES) return null;
  let r: Partial<AccessRequest>;
  try {
    r = JSON.parse(text) as Partial<AccessRequest>;
  } catch {
    return null;
  }
  if (typeof r !== 'object' || r === null || r.id !== id || !ID.test(id)) return null;
  if (typeof r.client !== 'string' || clientAddress(r.client) !== r.client) return null;
  if (!line(r.name, 1100) || !line(r.select, 200) || !(r.service === null || line(r.service, 100)) || !line(r.group, 100) || !GROUP.test(r.group!)) return null;
  if (!line(r.reason, 500) || !Object.values(REQUEST_DURATIONS).includes(r.duration as never)) return null;
  if (r.status !== 'pending' && r.status !== 'approved' && r.status !== 'denied') return null;
  if (!time(r.created) || !line(r.instance, 63) || !INSTANCE.test(r.instance!)) return null;
  if (r.status !== 'pending' && (!time(r.decided) || !line(r.by, 500))) return null;
  if (r.status === 'approved' && (!time(r.until) || !line(r.exception, 12))) return null;
  // A name is what identity writes: printable ASCII, bounded (253 bytes, each at most 4 characters).
  if (r.clientName !== undefined && !(line(r.clientName, 1012) && /^[\x21-\x7e]+$/.test(r.clientName))) return null;
  const { client, clientName, name, select, service, group, reason, duration, status, created, instance, decided, by, until, exception } = r as AccessRequest;
  const out: AccessRequest = { id, client, name, select, service: service ?? null, group, reason, duration, status, created, instance };
  if (clientName !== undefined) out.clientName = clientName;
  if (status !== 'pending') Object.assign(out, { decided, by });
  if (status === 'approved') Object.assign(out, { until, exception });
  return out;
}
