// The data planes, as the control plane holds them: one in this thread with
// `workers: 1`, else one per worker thread (workers.ts is the handle on
// one), with the answer cache and the client connection counts they share.
// The assembly of the two planes: the one place besides workers.ts where the
// control plane names the data plane (scripts/check-layers.mjs).

import { isDeepStrictEqual } from 'node:util';
import { ClientCounts, clientCountsMemory } from '../../data/listen/client-counts.js';
import { DataPlane } from '../../data/plane.js';
import { AnswerCache } from '../../data/resolve/cache.js';
import type { Resolver } from '../../data/resolve/resolver.js';
import type { HostPort } from '../../net/address.js';
import type { Observers } from '../../shared/events.js';
import type { FilterSpec, FilterState, GroupTable } from '../../shared/filter.js';
import type { Logger } from '../../shared/logger.js';
import { type PlaneAddresses, type PlaneStats, sumStats } from '../../shared/plane-stats.js';
import { servingConfig } from '../../shared/serving-config.js';
import type { PassedSocket } from '../../shared/sockets.js';
import type { Config } from '../config/schema.js';
import { WorkerPlane, boundTo } from '../workers.js';

export interface PlanesOptions {
  log: Logger;
  /** Every answered query is observed here. */
  observers: Observers;
  /** The filter in force (it changes with reloads and client exceptions). */
  filter: () => { spec: FilterSpec; state: FilterState };
  /** The addresses to bind (the CLI's --listen, else config.listen). */
  listen: (config: Config) => HostPort[];
  /** Re-read the certificate when its files change. */
  watchTls: boolean;
  /** A worker that held passed sockets died: the process cannot go on serving. */
  onFatal?: () => void;
}

export class Planes {
  /** The data plane in this thread (`workers: 1`), or null when worker threads answer. */
  private local: DataPlane | null = null;
  /** The worker threads' data planes (`workers` above 1). */
  private readonly workers: WorkerPlane[] = [];
  /** Where the data plane listens (the first worker's addresses: every worker binds the same). */
  private bound: PlaneAddresses = { udp: [], tls: [], https: [], http: [] };
  /** The answer cache the workers share (its memory; the control thread never answers from it). */
  private sharedCache: AnswerCache | null = null;
  /** The verdict tables the workers were last sent, to send only changes. */
  private sentTables: GroupTable[] = [];

  constructor(private readonly options: PlanesOptions) {}

  private get log(): Logger {
    return this.options.log;
  }

  /**
   * Starts them: in this thread with `workers: 1`, else one per worker
   * thread; `passed`: the passed sockets each one adopts (by plane). The
   * first worker binds the configured addresses (port 0: the kernel picks);
   * the others bind the same ones, ports resolved. What started before a
   * failure is held here, for `stop`.
   */
  async start(config: Config, passed: PassedSocket[][]): Promise<void> {
    const listen = this.options.listen(config);
    const watchTls = this.options.watchTls;
    if (config.workers === 1) {
      this.local = await DataPlane.start(servingConfig(config), this.options.filter().state, { listen, reusePort: false, watchTls, share: 1, passed: passed[0] }, this.log);
      // The resolver tells the observers directly (the same guard and list): no channel in between.
      this.local.resolver.observers = this.options.observers;
      this.bound = this.local.addresses;
      return;
    }
    this.sharedCache = new AnswerCache(config.cache);
    // tcp.maxPerClient holds over every worker: the kernel spreads one client's connections over them.
    const clients = clientCountsMemory(config.workers, config.tcp.maxConnections);
    const clientCounts = new ClientCounts(clients, -1);
    const hooks = {
      log: this.log,
      observers: this.options.observers,
      current: () => ({ filter: this.options.filter().spec, tables: this.tables(), cache: this.sharedCache!.memory }),
      // A worker that died holding the cache's lock must not leave the others waiting for it; its connections died with it.
      exited: (index: number) => {
        this.sharedCache?.releaseIfHeldBy(index + 1);
        clientCounts.forgetWorker(index);
      },
      lostPassedSockets: (index: number) => {
        this.log.error({ worker: index }, 'worker thread exited, closing the sockets the service manager passed (every thread shares their descriptors): exiting so that it restarts aifence with them; they queue queries meanwhile');
        this.options.onFatal?.();
      },
    };
    const first = {
      index: 0,
      config: servingConfig(config),
      listen,
      ...hooks.current(),
      clients,
      share: 1 / config.workers,
      watchTls,
      logLevel: this.log.level,
      passed: passed[0],
    };
    this.sentTables = first.tables;
    this.workers.push(await WorkerPlane.start(first, hooks));
    this.bound = this.workers[0].addresses;
    const rest = boundTo(first, this.bound);
    const others = await Promise.allSettled(Array.from({ length: config.workers - 1 }, (_, i) => WorkerPlane.start({ ...rest, index: i + 1, passed: passed[i + 1] }, hooks)));
    for (const o of others) if (o.status === 'fulfilled') this.workers.push(o.value);
    const failed = others.find((o) => o.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** The in-process resolver (`workers: 1`; tests look inside it). */
  get resolver(): Resolver {
    if (this.local === null) throw new Error('the resolver runs in worker threads (workers > 1): use planeStats()');
    return this.local.resolver;
  }

  /** The data plane answers in this thread (its resolver reports to this thread's guard directly). */
  get inProcess(): boolean {
    return this.local !== null;
  }

  /** Where the planes listen (every worker binds the same addresses). */
  get addresses(): PlaneAddresses {
    return this.bound;
  }

  /** Bound and every plane running: `workers` of them, or the one in this thread. */
  listening(workers: number): boolean {
    return this.bound.udp.length > 0 && (this.local !== null || this.workers.length === workers);
  }

  /** Query events the workers could not hand over while this thread fell behind. */
  get droppedEvents(): number {
    return this.workers.reduce((n, w) => n + w.droppedEvents, 0);
  }

  /** The live verdict tables and their lifts, by group (the clients' own tables after the config's groups). */
  private tables(): GroupTable[] {
    return this.options.filter().state.groups.map((g) => ({ verdicts: g.verdicts, lifts: g.lifts }));
  }

  /** The swap: every plane serves the filter in force from its next query (one reference in each). */
  setFilter(): void {
    const filter = this.options.filter();
    this.local?.setFilter(filter.state);
    if (this.workers.length === 0) return;
    this.sentTables = this.tables();
    for (const w of this.workers) w.setFilter(filter.spec, this.sentTables);
  }

  /** Tells the workers about verdict tables recompiled since last told (pauses, exceptions, schedules). */
  publishVerdicts(): void {
    if (this.workers.length === 0) return;
    const now = this.tables();
    const sent = this.sentTables;
    if (now.length === sent.length && now.every((t, i) => t.verdicts === sent[i].verdicts && t.lifts === sent[i].lifts)) return;
    this.sentTables = now;
    for (const w of this.workers) w.setVerdicts(this.options.filter().spec.generation, now);
  }

  /** Upstream servers, cache and rate limits, and the certificate, in every plane; new cache limits: a new shared cache for every worker (the old one goes when the last lets go of it). */
  configure(before: Config, config: Config): void {
    const serving = servingConfig(config);
    this.local?.configure(serving);
    const cacheChanged = this.sharedCache !== null && !isDeepStrictEqual(before.cache, config.cache);
    if (cacheChanged) this.sharedCache = new AnswerCache(config.cache);
    for (const w of this.workers) w.configure(serving, cacheChanged ? this.sharedCache!.memory : undefined);
  }

  /** Counters summed over the planes: fresh in-process; with workers, as last heard (`refresh` asks). */
  stats(): PlaneStats {
    if (this.local !== null) return this.local.stats();
    return this.withSharedCache(sumStats(this.workers.flatMap((w) => w.known ?? [])));
  }

  /** Asks every worker for its counters now. */
  async refresh(): Promise<PlaneStats> {
    if (this.local !== null) return this.local.stats();
    return this.withSharedCache(sumStats(await Promise.all(this.workers.map((w) => w.stats()))));
  }

  /** Every worker reports the one shared cache: its figures once, not summed. */
  private withSharedCache(stats: PlaneStats): PlaneStats {
    const c = this.sharedCache;
    if (c !== null) stats.cache = { entries: c.size, hits: c.hits, misses: c.misses, bytes: c.bytes };
    return stats;
  }

  /** Stops reading, lets queries in flight finish (up to drainMs), then ends the workers together. */
  async stop(drainMs: number): Promise<void> {
    await Promise.all([this.local?.stop(drainMs), ...this.workers.map((w) => w.stop(drainMs))]);
    // Only now: a worker sharing a passed socket ends only once none of them reads it (src/data/worker.ts).
    await Promise.all(this.workers.map((w) => w.end()));
  }
}
