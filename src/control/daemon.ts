// The control plane: config, compiled filter, admin API, query log,
// metrics, runtime state and timers; the data plane (listeners, resolver,
// cache, upstream) runs in-process with `workers: 1` or as one data plane per
// worker thread. Reloading without dropping a query; taking it all down
// gracefully.

import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Catalogue } from './catalogue/index.js';
import { CatalogueUpdates, registerCatalogueMetrics } from './catalogue/updates.js';
import { CheckInputError, type CheckResult, checkClient, checkNames, checkTarget } from './policy/explain.js';
import { loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { logPolicy } from './config/summary.js';
import { logConflicts } from './policy/conflicts.js';
import type { HostPort } from '../net/address.js';
import { HttpError } from './admin/http-error.js';
import { AdminServer, type AdminTarget, type Readiness, type ReloadResult } from './admin/server.js';
import { type AdminAuth, adminAuth } from './admin/token.js';
import type { Logger } from '../shared/logger.js';
import { Metrics } from './observe/metrics.js';
import { QueryLog } from './observe/querylog.js';
import { PostgresQueryLog } from './observe/sinks/postgres.js';
import { type ConsoleData, renderHistory } from './admin/console/render.js';
import { type HistoryQuery, RANGES, type Range, queryHistory } from './observe/history.js';
import { ConsoleStats } from './admin/console/stats.js';
import { viewOf } from './state/exceptions.js';
import { type Filter, buildFilter, configuredGroupOf, withClientGroups } from './policy/filter.js';
import { parseCidr } from '../net/address.js';
import type { Rule } from './config/schema.js';
import { RuntimeExceptions } from './state/exceptions.js';
import { RuntimeState, StateUnavailable } from './state/runtime.js';
import { registerStateMetrics } from './state/metrics.js';
import type { Resolver } from '../data/resolve/resolver.js';
import type { UpstreamPool } from '../data/resolve/upstream.js';
import { DataPlane } from '../data/plane.js';
import { type PlaneAddresses, type PlaneStats, sumStats } from '../shared/plane-stats.js';
import { AnswerCache } from '../data/resolve/cache.js';
import { ClientCounts, clientCountsMemory } from '../data/listen/client-counts.js';
import { servingConfig } from '../shared/serving-config.js';
import type { GroupTable } from '../shared/filter.js';
import { Observers } from '../shared/events.js';
import { Guard, sumCounts } from '../shared/guard.js';
import { WorkerPlane, boundTo } from './workers.js';
import { explainListenError } from '../data/listen/listen-error.js';
import { loadPackagedCatalogue } from './catalogue/offload.js';
import { RemoteLists, prepareRemoteLists } from './remote-lists.js';
import { watchFiles } from '../shared/watch.js';
import { AccessRequestStore } from './state/requests.js';
import { AccessDesk, requestView } from './state/access.js';
import type { AuditEvent } from './observe/audit.js';
import { type BlockPage, startBlockPage } from './blockpage/index.js';
import { pageFacts } from './blockpage/facts.js';
import { registerBlockPageMetrics } from './blockpage/metrics.js';
import { type DescribedSocket, type ListenAddresses, adoptedSummary, assignSockets } from './activation.js';
import type { PassedSocket } from '../shared/sockets.js';
import { FilterSnapshots } from './snapshot.js';
import type { ListSet } from '../match/types.js';
import { Identity } from './identity/identity.js';
import type { ClientNames } from './identity/who.js';
import type { StartupClock } from '../shared/startup.js';

export interface DaemonOptions {
  log: Logger;
  /** Replaces `config.listen` (the CLI's --listen). */
  listen?: HostPort[];
  /** How long shutdown waits for queries in flight. */
  drainMs?: number;
  /** The packaged AI-service catalogue; default: the package's blocklists/, re-read on every reload. A signed bundle (config `catalogue`) replaces it. */
  catalogue?: Catalogue;
  /** Wall-clock milliseconds, for exceptions that expire, schedules and pauses; injectable for tests. */
  clock?: () => number;
  /** The config file: re-read on reload and watched; without it a reload rebuilds from the config given at start. */
  configFile?: string;
  /** Reload when the config or a list file changes (default: true). */
  watch?: boolean;
  /** Sockets the service manager passed (systemd socket activation): adopted instead of bound. */
  passed?: DescribedSocket[];
  /** The process cannot go on serving (a worker that held passed sockets died): serve exits so that its service manager restarts it. */
  onFatal?: () => void;
  /** serve's clock: the start notes when each phase ended, and logs them (`phases`). */
  startup?: StartupClock;
}

/** How long after a reload its snapshot is written (a later reload in the meantime replaces it). */
const RELOAD_SNAPSHOT_DELAY_MS = 2000;

/** How long shutdown waits for queries in flight, unless told otherwise. */
const DEFAULT_DRAIN_MS = 3000;

export class Daemon implements AdminTarget {
  private draining = false;
  private policyTimer: NodeJS.Timeout | undefined;
  private unwatch: () => void = () => undefined;
  private reloading: Promise<ReloadResult> | null = null;
  private reloadAgain = false;
  /** Pauses and runtime exceptions, kept across reloads, shared through Redis when configured. */
  private readonly runtime: RuntimeState;
  /** Who paused each group, as this instance heard it (the console shows it; the log line is the record). */
  private readonly pausedBy = new Map<string, string>();
  /** Blocked attempts of the last hour, for the console's charts. */
  private readonly consoleStats: ConsoleStats;
  private admin: AdminServer | null = null;
  /** Access requests from the block page, and the decisions on them. */
  readonly desk: AccessDesk;
  /** The block page's listeners and certificates (config blockPage), or null. */
  private page: BlockPage | null = null;
  private remote: RemoteLists;
  private queryLog: QueryLog | PostgresQueryLog | null = null;
  /** Signed catalogue updates; set right after construction. */
  private updates!: CatalogueUpdates;
  /** The packaged catalogue as last read (off the query thread); set right after construction. */
  private packaged!: Packaged;
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
  /** Every answered query is observed here: metrics, the console, the query log. */
  private readonly observers: Observers;
  /** Catches and counts what an observer or its timer throws on this thread (aifence_observer_errors_total). */
  private readonly guard: Guard;
  /** The compiled-filter snapshot in dataDir; set right after construction. */
  private snapshots!: FilterSnapshots;
  /** Names for client addresses (identity: leases, static names, PTR); set at start, replaced when its config changes. */
  private identity: Identity | null = null;
  /** The client's host name at a query's time, for the query log, its sinks and the console (block page requests too). */
  readonly clientName: ClientNames = (address, time) => (this.identity === null ? '' : this.identity.nameAt(address, time));
  readonly metrics: Metrics;

  private constructor(
    private config: Config,
    private filter: Filter,
    private readonly options: DaemonOptions,
    private readonly clock: () => number,
  ) {
    this.guard = new Guard(options.log);
    this.observers = new Observers(this.guard);
    const stats = () => this.planeStats();
    this.metrics = new Metrics({
      cacheEntries: () => stats().cache.entries,
      cacheHits: () => stats().cache.hits,
      cacheMisses: () => stats().cache.misses,
      listEntries: () => this.filter.lists.reports.map((r) => ({ list: r.name, entries: r.entries })),
      upstreamTimeouts: () => stats().upstreamTimeouts,
      upstreamDropped: () => stats().upstream,
      // Dropped before the log too: events a worker could not hand over while this thread fell behind.
      queryLogDropped: () => (this.queryLog?.dropped ?? 0) + this.workers.reduce((n, w) => n + w.droppedEvents, 0),
      pausedGroups: () => this.livePauses().map((p) => p.group),
      rateLimit: () => stats().rateLimit,
      cacheBytes: () => stats().cache.bytes,
      resolverTotals: () => stats().resolver,
      tcp: () => ({ open: stats().tcp.open, closed: { ...stats().tcp.closed } }),
      queryLogRows: () => ({ written: this.queryLog?.written ?? 0, rejected: this.queryLog?.rejected ?? 0 }),
      // In-process, the plane's resolver reports to this thread's guard; workers have their own (the event ring's).
      observerErrors: () => (this.local !== null ? { ...this.guard.counts } : sumCounts(this.guard.counts, stats().observerErrors)),
      filter: () => this.filter,
    });
    this.observers.add(this.metrics);
    this.remote = this.remoteListsFor(config);
    this.runtime = new RuntimeState(config.state, options.log, {
      onChange: () => this.applyRuntime(),
      onReload: () => void this.reload(),
      policy: () => this.filter.policy,
      clock,
      snapshotFile: join(config.dataDir, 'shared-state.json'),
    });
    registerStateMetrics(this.metrics.registry, this.runtime, () => this.filter.state.groups.map((g) => g.name));
    this.consoleStats = new ConsoleStats(clock, this.clientName);
    this.observers.add(this.consoleStats);
    const requests = new AccessRequestStore(config.state, options.log, clock, join(config.dataDir, 'access-requests.json'));
    this.desk = new AccessDesk(requests, () => this.exceptions, (e) => this.audit(e), clock, this.clientName);
    registerBlockPageMetrics(this.metrics.registry, {
      views: () => (this.page ? { html: this.page.server.stats.html, json: this.page.server.stats.json } : null),
      certificates: () => (this.page ? { cached: this.page.certificates.size, minted: this.page.certificates.stats.minted } : null),
      requests: () => this.desk.counts,
      pending: () => this.desk.pending,
    });
  }

  private updatesFor(config: Config): CatalogueUpdates {
    return newUpdates(config, this.options, this.packaged, () => void this.reload(), this.clock);
  }

  private remoteListsFor(config: Config): RemoteLists {
    return new RemoteLists(config.remoteLists, this.log, () => void this.reload());
  }

  /** The in-process resolver (`workers: 1`; tests look inside it). */
  get resolver(): Resolver {
    if (this.local === null) throw new Error('the resolver runs in worker threads (workers > 1): use planeStats()');
    return this.local.resolver;
  }

  get upstream(): UpstreamPool {
    return this.resolver.upstream;
  }

  private get log(): Logger {
    return this.options.log;
  }

  static async start(config: Config, options: DaemonOptions): Promise<Daemon> {
    const started = performance.now();
    const clock = options.clock ?? Date.now;
    // A passed socket that matches no listen address fails the start before anything is compiled.
    const sockets = assignSockets(options.passed ?? [], listenAddresses(config, options), config.workers);
    // URL lists load from their copies on disk; downloads happen in the background once serving.
    prepareRemoteLists(config.remoteLists, options.log);
    let daemon: Daemon | undefined;
    // A snapshot of the filter from the last compile, when its fingerprints match: serving at once.
    // Otherwise the catalogue's thread ends right after reading it: its heap is gone before the lists compile.
    const snapshots = new FilterSnapshots(config.dataDir, options.log);
    const snapshot = await snapshots.open(config, options.catalogue, (files) => loadPackagedCatalogue(files, { retire: true }));
    const packaged = { current: snapshot.packaged.catalogue, key: snapshot.packaged.key };
    const updates = newUpdates(config, options, packaged, () => void daemon?.reload(), clock);
    const catalogue = updates.current();
    const compiled = snapshots.compiledFor(snapshot, catalogue);
    const mark = options.startup?.mark;
    mark?.(compiled ? 'snapshot' : 'catalogue');
    const filter = await buildFilter(config, catalogue, clock(), { compiled, retire: true, mark });
    warnRejects(filter, options.log);
    daemon = new Daemon(config, filter, options, clock);
    daemon.updates = updates;
    daemon.packaged = packaged;
    daemon.snapshots = snapshots;
    const running = daemon;
    registerCatalogueMetrics(daemon.metrics.registry, {
      status: () => running.updates.status(running.filter.catalogue),
      results: () => running.updates.results,
    });
    daemon.runtime.start();
    daemon.applyRuntime();
    try {
      await daemon.desk.store.start();
      daemon.identity = await Identity.start(config.identity, options.log, { watch: options.watch !== false, reverse: true });
      daemon.openQueryLog(config);
      await daemon.startPlanes(config, sockets);
      mark?.('listening');
      daemon.admin = await AdminServer.start(config.admin, daemon).catch((err: unknown) => {
        throw config.admin.listen ? explainListenError(err, config.admin.listen, 'admin API (http)') : err;
      });
      if (config.blockPage) daemon.page = await startBlockPage(config.blockPage, daemon.pageTarget(config.blockPage), () => daemon!.filter, options.log);
    } catch (err) {
      await daemon.stop();
      throw err;
    }
    daemon.watch();
    daemon.remote.start();
    daemon.updates.start();
    if (compiled) {
      snapshots.adopted(filter.lists);
      void daemon.verifySnapshot(filter.lists);
    } else daemon.writeSnapshot(config, filter);
    options.log.info(
      {
        listen: daemon.addresses.map((a) => `${a.address}:${a.port}`),
        ...daemon.encryptedAddresses(),
        admin: daemon.adminAddress ? `${daemon.adminAddress.address}:${daemon.adminAddress.port}` : null,
        upstream: config.upstream.servers.map(serverText),
        ...(config.upstream.zones.length > 0 ? { zones: Object.fromEntries(config.upstream.zones.map((z) => [z.name, z.servers.map(serverText)])) } : {}),
        workers: config.workers,
        lists: filter.lists.reports.length,
        entries: totalEntries(filter),
        catalogue: `${filter.catalogue.info.origin} ${filter.catalogue.info.version}, reviewed ${filter.catalogue.info.reviewed}`,
        matcherBytes: filter.state.matcher.byteSize,
        filter: compiled ? 'snapshot' : 'compiled',
        ...(options.passed?.length ? { adopted: adoptedSummary(options.passed) } : {}),
        startMs: Math.round(performance.now() - started),
        ...(options.startup ? { phases: { ...options.startup.phases(), serving: options.startup.elapsed() } } : {}),
      },
      'aifence serving',
    );
    logPolicy(config, options.log);
    logConflicts(filter.policy, options.log);
    return daemon;
  }

  /**
   * The data plane: in this thread with `workers: 1`, else one per worker
   * thread; `passed`: the passed sockets each one adopts (by plane). The
   * first worker binds the configured addresses (port 0: the kernel picks);
   * the others bind the same ones, ports resolved.
   */
  private async startPlanes(config: Config, passed: PassedSocket[][]): Promise<void> {
    const listen = this.options.listen ?? config.listen;
    const watchTls = this.options.watch !== false;
    if (config.workers === 1) {
      this.local = await DataPlane.start(servingConfig(config), this.filter.state, { listen, reusePort: false, watchTls, share: 1, passed: passed[0] }, this.log);
      // The resolver tells the observers directly (the same guard and list): no channel in between.
      this.local.resolver.observers = this.observers;
      this.bound = this.local.addresses;
      return;
    }
    this.sharedCache = new AnswerCache(config.cache);
    // tcp.maxPerClient holds over every worker: the kernel spreads one client's connections over them.
    const clients = clientCountsMemory(config.workers, config.tcp.maxConnections);
    const clientCounts = new ClientCounts(clients, -1);
    const hooks = {
      log: this.log,
      observers: this.observers,
      current: () => ({ filter: this.filter.spec, tables: this.tables(), cache: this.sharedCache!.memory }),
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

  /** The live verdict tables and their lifts, by group (the clients' own tables after the config's groups). */
  private tables(): GroupTable[] {
    return this.filter.state.groups.map((g) => ({ verdicts: g.verdicts, lifts: g.lifts }));
  }

  /** Tells the workers about verdict tables recompiled since last told (pauses, exceptions, schedules). */
  private publishVerdicts(): void {
    if (this.workers.length === 0) return;
    const now = this.tables();
    const sent = this.sentTables;
    if (now.length === sent.length && now.every((t, i) => t.verdicts === sent[i].verdicts && t.lifts === sent[i].lifts)) return;
    this.sentTables = now;
    for (const w of this.workers) w.setVerdicts(this.filter.spec.generation, now);
  }

  /** Counters summed over the data planes: fresh in-process; with workers, as last heard (refreshStats asks). */
  planeStats(): PlaneStats {
    if (this.local !== null) return this.local.stats();
    return this.withSharedCache(sumStats(this.workers.flatMap((w) => w.known ?? [])));
  }

  /** Asks every worker for its counters now (before a scrape or the console), and reads the access requests (at most once a second). */
  async refreshStats(): Promise<PlaneStats> {
    await this.desk.store.refresh();
    if (this.local !== null) return this.local.stats();
    return this.withSharedCache(sumStats(await Promise.all(this.workers.map((w) => w.stats()))));
  }

  /** Every worker reports the one shared cache: its figures once, not summed. */
  private withSharedCache(stats: PlaneStats): PlaneStats {
    const c = this.sharedCache;
    if (c !== null) stats.cache = { entries: c.size, hits: c.hits, misses: c.misses, bytes: c.bytes };
    return stats;
  }

  /** The bound UDP addresses (the TCP listeners share them). */
  get addresses(): AddressInfo[] {
    return this.bound.udp;
  }

  /** The DoT listeners' bound addresses. */
  get tlsAddresses(): AddressInfo[] {
    return this.bound.tls;
  }

  /** The DoH listeners' bound addresses: HTTPS, and plain HTTP for a reverse proxy. */
  get httpsAddresses(): AddressInfo[] {
    return this.bound.https;
  }

  get httpAddresses(): AddressInfo[] {
    return this.bound.http;
  }

  /** DoH requests and connections turned away, over every DoH listener. */
  get dohStats(): { refused: number; rejected: number } {
    return this.planeStats().doh;
  }

  private encryptedAddresses(): Record<string, string[]> {
    const show = (list: AddressInfo[]) => list.map((a) => `${a.address}:${a.port}`);
    const out: Record<string, string[]> = {};
    if (this.tlsAddresses.length > 0) out.listenTls = show(this.tlsAddresses);
    if (this.httpsAddresses.length > 0) out.listenHttps = show(this.httpsAddresses);
    if (this.httpAddresses.length > 0) out.listenHttp = show(this.httpAddresses);
    return out;
  }

  /** TCP connections (DoT's included) refused or cut short, and why, over every listener. */
  get tcpStats(): PlaneStats['tcp']['closed'] {
    return this.planeStats().tcp.closed;
  }

  get adminAddress(): AddressInfo | null {
    return this.admin?.address ?? null;
  }

  /** Where the block page listens (empty without one). */
  get blockPageAddresses(): { http: AddressInfo[]; https: AddressInfo[] } {
    return this.page?.server.addresses ?? { http: [], https: [] };
  }

  /** What the block page asks of the daemon: the config and the filter in force at each request. */
  private pageTarget(started: NonNullable<Config['blockPage']>) {
    return {
      // A reload may drop the section: the page keeps the texts it started with until a restart closes it.
      config: () => this.config.blockPage ?? started,
      facts: (wire: Buffer, client: string) => pageFacts(this.filter, this.config, wire, client, this.clock()),
      desk: this.desk,
      clock: this.clock,
    };
  }

  /** An access request or a decision: the daemon's log, the query log (file or PostgreSQL); the metrics count it in the desk. */
  private audit(e: AuditEvent): void {
    const { time, event, ...fields } = e;
    this.log.info({ ...fields, at: new Date(time).toISOString() }, event === 'access-request' ? 'access requested' : event === 'access-approved' ? 'access request approved' : 'access request denied');
    this.queryLog?.audit(e);
  }

  /** Access requests for the admin API: listed, approved (an exception for that client and service), denied. */
  get requests() {
    return {
      list: () => this.desk.list(),
      approve: (id: string, who: string, duration?: string) => this.desk.approve(id, who, duration),
      deny: (id: string, who: string) => this.desk.deny(id, who),
    };
  }

  /** The admin API's credentials: the configured token, or one generated into dataDir (the log says where, never what). */
  adminAuth(): AdminAuth {
    return adminAuth(this.config.admin, this.config.dataDir, this.log);
  }

  /**
   * Re-reads config, catalogue and lists, builds everything beside the live
   * state and swaps it in; queries never wait: the catalogue and the lists
   * are read and compiled in worker threads (src/thread/run.ts), and the
   * compiled matcher comes back in shared memory. A failed reload keeps serving
   * the last good state and says why. Reloads asked for while one runs are
   * folded into one more.
   */
  reload(by?: string): Promise<ReloadResult> {
    if (by !== undefined) this.log.info({ admin: by }, 'reload asked through the admin API');
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = this.reloadOnce().finally(() => {
      this.reloading = null;
      if (this.reloadAgain) {
        this.reloadAgain = false;
        void this.reload();
      }
    });
    return this.reloading;
  }

  private async reloadOnce(): Promise<ReloadResult> {
    const started = performance.now();
    try {
      const config = this.options.configFile ? loadConfig(this.options.configFile) : this.config;
      const remoteChanged = !isDeepStrictEqual(config.remoteLists, this.config.remoteLists);
      if (remoteChanged) prepareRemoteLists(config.remoteLists, this.log);
      const catalogueChanged = !isDeepStrictEqual(config.catalogue, this.config.catalogue);
      // In place: the catalogue updates read it through this object.
      Object.assign(this.packaged, await readPackaged(this.options));
      const updates = catalogueChanged ? this.updatesFor(config) : this.updates;
      const filter = await buildFilter(config, updates.current(), this.clock());
      warnRejects(filter, this.log);
      // New lease files, static names or PTR server: read beside the live ones, swapped with the rest.
      const identity = isDeepStrictEqual(config.identity, this.config.identity) ? null : await Identity.start(config.identity, this.log, { watch: this.options.watch !== false, reverse: true });
      try {
        await this.applyServing(config);
      } catch (err) {
        identity?.close();
        throw err;
      }
      if (identity !== null) {
        this.identity?.close();
        this.identity = identity;
      }
      this.filter = filter;
      this.config = config;
      this.runtime.revalidate(); // the new groups and selectors decide what of the stored state is in force
      this.applyRuntime();
      this.swapFilter();
      this.watch();
      this.writeSnapshot(config, filter, RELOAD_SNAPSHOT_DELAY_MS);
      if (catalogueChanged) {
        this.updates.stop();
        this.updates = updates;
        updates.start();
      }
      if (remoteChanged) {
        this.remote.stop();
        this.remote = this.remoteListsFor(config);
        this.remote.start();
      }
      const result: ReloadResult = {
        ok: true,
        lists: filter.lists.reports.length,
        entries: totalEntries(filter),
        ms: Math.round(performance.now() - started),
      };
      this.metrics.reloaded(true);
      this.log.info(result, 'reloaded');
      logPolicy(config, this.log);
      logConflicts(filter.policy, this.log);
      return result;
    } catch (err) {
      this.metrics.reloaded(false);
      this.log.error({ err: (err as Error).message }, 'reload failed; still serving the last good configuration');
      return { ok: false, error: (err as Error).message };
    }
  }

  /** The query log as configured (none when its mode is off); throws when its path cannot be written. */
  private newQueryLog(config: Config): QueryLog | PostgresQueryLog | null {
    if (config.queryLog.mode === 'off') return null;
    const { sink } = config.queryLog;
    const options = { guard: this.guard, names: this.clientName };
    return sink?.kind === 'postgres'
      ? new PostgresQueryLog(config.queryLog, sink.url, config.state.instance, this.log, options)
      : new QueryLog(config.queryLog, this.log, options);
  }

  private openQueryLog(config: Config): void {
    this.useQueryLog(this.newQueryLog(config));
  }

  private useQueryLog(log: QueryLog | PostgresQueryLog | null): void {
    this.queryLog = log;
    if (log) this.observers.add(log);
  }

  private async closeQueryLog(): Promise<void> {
    const log = this.queryLog;
    if (!log) return;
    this.queryLog = null;
    this.observers.remove(log);
    await log.close();
  }

  /** Upstream servers, cache limits, rate limits and the query log take effect on reload; listen and admin addresses and tcp limits need a restart. */
  private async applyServing(config: Config): Promise<void> {
    const before = this.config;
    if (!isDeepStrictEqual(before.queryLog, config.queryLog)) {
      const next = this.newQueryLog(config); // an unwritable path fails the reload before the old log is closed
      await this.closeQueryLog();
      this.useQueryLog(next);
    } else if (this.queryLog?.failing) {
      // The admin may have freed the disk: a reload tries the file now rather than at the end of its back-off.
      this.queryLog.retryNow();
    }
    // Upstream servers, cache and rate limits, and the certificate, in every data plane.
    const serving = servingConfig(config);
    this.local?.configure(serving);
    // New cache limits: a new shared cache for every worker (the old one goes when the last lets go of it).
    const cacheChanged = this.sharedCache !== null && !isDeepStrictEqual(before.cache, config.cache);
    if (cacheChanged) this.sharedCache = new AnswerCache(config.cache);
    for (const w of this.workers) w.configure(serving, cacheChanged ? this.sharedCache!.memory : undefined);
    for (const key of ['listen', 'admin', 'tcp', 'state', 'listenTls', 'listenHttps', 'listenHttp', 'tls', 'doh', 'workers'] as const) {
      if (!isDeepStrictEqual(before[key], config[key])) this.log.warn({ key }, `${key} changed: takes effect at the next restart`);
    }
    // The page's texts and `requests` apply at once; where it listens and the CA it holds need a restart.
    const listening = (c: Config) => (c.blockPage ? { http: c.blockPage.http, https: c.blockPage.https, ca: c.blockPage.ca } : null);
    if (!isDeepStrictEqual(listening(before), listening(config))) this.log.warn({ key: 'blockPage' }, 'blockPage listeners or CA changed: take effect at the next restart');
  }

  /** The swap: the data planes serve the new filter from their next query (one reference in each). */
  private swapFilter(): void {
    this.local?.setFilter(this.filter.state);
    if (this.workers.length === 0) return;
    this.sentTables = this.tables();
    for (const w of this.workers) w.setFilter(this.filter.spec, this.sentTables);
  }

  /**
   * Keeps the lists just compiled in dataDir for the next start (in the
   * background; nothing if they were reused). After a reload, 2 s later: a
   * burst of reloads writes once, and the query thread serialises nothing meanwhile.
   */
  private writeSnapshot(config: Config, filter: Filter, delayMs = 0): void {
    this.snapshots.write(filter.lists, config, filter.catalogue, filter.catalogue === this.packaged.current ? this.packaged.key : null, delayMs);
  }

  /** After a start from the snapshot: checks it in the background; stale, the lists compile as a reload would. */
  private async verifySnapshot(lists: ListSet): Promise<void> {
    const stale = await this.snapshots.check(lists);
    // Unless a reload has replaced them meanwhile (the files changed, and were watched).
    if (stale !== null && !this.draining && this.filter.lists === lists) await this.reload();
  }

  /** Re-arms file watching on the config and every list file. */
  private watch(): void {
    this.unwatch();
    if (this.options.watch === false || this.draining) return;
    // Downloaded lists are not watched: their refresh reloads when they change.
    const downloaded = new Set(this.config.remoteLists.map((r) => r.file));
    const files = this.config.lists.map((l) => l.source).filter((s): s is string => s !== undefined && !downloaded.has(s));
    if (this.options.configFile) files.push(this.options.configFile);
    this.unwatch = watchFiles(files, () => {
      this.log.info('config or list file changed: reloading');
      void this.reload();
    });
  }

  /**
   * Applies exceptions that lapsed, schedules that opened or closed and
   * pauses that ended since the last look, then sets a timer for the next
   * change: no reload needed.
   */
  refreshPolicy(): void {
    clearTimeout(this.policyTimer);
    const policy = this.filter.policy;
    const now = this.clock();
    for (const c of policy.refresh(now)) {
      const rule = c.rule && { select: c.rule.select, until: c.rule.untilText, reason: c.rule.reason, schedule: c.rule.schedule?.text };
      this.log.info({ group: c.group, kind: c.kind, ...rule }, c.kind === 'pause' ? `blocking pause ${c.change}` : `policy rule ${c.change}`);
    }
    this.publishVerdicts();
    const next = policy.nextChange(now);
    // Capped so that a clock that jumps (suspend, NTP step) is caught within the hour.
    if (next !== undefined) this.policyTimer = setTimeout(() => this.refreshPolicy(), Math.min(next - now, 3_600_000)).unref();
  }

  async pause(group: string | undefined, minutes: number, by = 'unknown'): Promise<{ group: string; until: string | null }[]> {
    const groups = this.filter.policy.groups;
    const targets = group === undefined ? groups : groups.filter((g) => g.name === group);
    if (targets.length === 0) throw new HttpError(404, `no group '${group}'; groups: ${groups.map((g) => g.name).join(', ')}`);
    const until = minutes > 0 ? this.clock() + minutes * 60_000 : 0;
    await this.runtime.setPause(targets.map((g) => g.name), until).catch(unavailable);
    for (const g of targets) this.pausedBy.set(g.name, by);
    this.log.warn({ groups: targets.map((g) => g.name), minutes, admin: by }, minutes > 0 ? 'blocking paused' : 'blocking resumed');
    return targets.map((g) => ({ group: g.name, until: until > 0 ? new Date(until).toISOString() : null }));
  }

  /** Runtime exceptions: listed, added and revoked through the admin API. */
  get exceptions(): RuntimeExceptions {
    return new RuntimeExceptions(this.runtime, this.filter.policy, this.clock, unavailable, (fields, message) => this.log.warn(fields, message), (client) => this.groupOf(client));
  }

  /** The configured group a client's queries are decided by (its own table aside), or null when it may not query. */
  private groupOf(client: string): string | null {
    const g = configuredGroupOf(this.filter)(client);
    return g === null ? null : this.filter.policy.groups[g].name;
  }

  /** Asks every instance sharing the state to reload too; false without shared state. */
  broadcastReload(by = 'unknown'): Promise<boolean> {
    this.log.info({ admin: by }, 'reload of every instance asked through the admin API');
    return this.runtime.broadcastReload().catch(unavailable);
  }

  /** Applies the runtime state (pauses, exceptions) to the live policy's tables, then re-arms the policy timer. */
  private applyRuntime(): void {
    const policy = this.filter.policy;
    const now = this.clock();
    const pauses = this.runtime.pauses();
    const exceptions = this.runtime.exceptions();
    const rule = (e: (typeof exceptions)[number]): Rule => ({ select: e.select, until: e.until, untilText: new Date(e.until).toISOString(), reason: `${e.reason} (${e.author}, exception ${e.id})`, label: exceptionLabel(e) });
    policy.groups.forEach((g, i) => {
      const until = pauses.get(g.name) ?? 0;
      if (g.pausedUntil !== until) policy.pause(i, until, now);
      const rules = exceptions.filter((e) => e.group === g.name && e.client === undefined).map(rule);
      const skipped = policy.setRuntimeAllows(i, rules, now);
      if (skipped.length > 0) this.log.warn({ group: g.name, selectors: skipped.map((r) => r.select) }, 'runtime exceptions name nothing in this instance\'s catalogue; skipped');
    });
    this.applyClientExceptions(exceptions.filter((e) => e.client !== undefined), rule, now);
    this.refreshPolicy();
    // An approval made on another instance arrives as an exception: its request's new status with it.
    void this.desk?.store.refresh(true);
  }

  /**
   * Exceptions for one client each: a table per client, in its configured
   * group. One made while the client was in another group (the config has
   * changed since) is not applied: it would carry the client's old policy.
   */
  private applyClientExceptions(exceptions: ReturnType<RuntimeState['exceptions']>, rule: (e: (typeof exceptions)[number]) => Rule, now: number): void {
    const policy = this.filter.policy;
    const entries = new Map<string, { group: number; client: NonNullable<ReturnType<typeof parseCidr>>; rules: Rule[] }>();
    const groupOf = exceptions.length > 0 ? configuredGroupOf(this.filter) : () => null;
    for (const e of exceptions) {
      const group = groupOf(e.client!);
      const cidr = parseCidr(e.client!);
      if (group === null || cidr === null || policy.groups[group].name !== e.group) {
        this.log.warn({ exception: e.id, client: e.client, group: e.group, now: group === null ? null : policy.groups[group].name }, 'exception for a client no longer in its group: not applied');
        continue;
      }
      const key = `${group} ${e.client}`;
      const entry = entries.get(key) ?? { group, client: cidr, rules: [] };
      entry.rules.push(rule(e));
      entries.set(key, entry);
    }
    const { skipped, clientsChanged } = policy.setClientAllows([...entries.values()], now);
    if (skipped.length > 0) this.log.warn({ selectors: skipped.map((r) => r.select) }, 'client exceptions name nothing in this instance\'s catalogue; skipped');
    if (!clientsChanged) return;
    this.filter = withClientGroups(this.filter);
    this.swapFilter();
  }

  private livePauses(): { group: string; until: string }[] {
    return [...this.runtime.pauses()].map(([group, until]) => ({ group, until: new Date(until).toISOString() }));
  }

  consoleData(): ConsoleData {
    const ready = this.readiness();
    const catalogue = this.updates.status(this.filter.catalogue);
    const paused = new Map(ready.paused.map((p) => [p.group, p.until]));
    return {
      instance: this.config.state.instance,
      now: this.clock(),
      ready: ready.ready,
      upstreamAnswering: ready.upstreamAnswering,
      sharedState: this.runtime.status(),
      catalogue: { origin: catalogue.origin, version: catalogue.version, reviewed: catalogue.reviewed, services: catalogue.services },
      lists: this.filter.lists.reports.map((r) => ({ name: r.name, entries: r.entries })),
      groups: this.config.groups.map((g) => ({
        name: g.name,
        clients: [...(g.name === 'default' ? ['everyone else'] : g.clients.map((c) => c.text)), ...g.devices.map((d) => `device ${d}`)],
        block: g.block.map((r) => r.select + (r.until ? ` until ${r.untilText}` : '') + (r.schedule ? ` (${r.schedule.text})` : '')),
        allow: g.allow.map((r) => r.select + (r.until ? ` until ${r.untilText}` : '')),
        paused: paused.get(g.name) ?? null,
        pausedBy: paused.has(g.name) ? this.pausedBy.get(g.name) : undefined,
      })),
      enforce: this.config.enforce,
      exceptions: this.runtime.exceptions().map(viewOf),
      requests: this.desk.store.list().slice(0, 50).map(requestView),
      stats: this.consoleStats,
    };
  }

  /** The console's history fragment: totals, rankings and matching entries from the query log or its PostgreSQL sink. */
  async consoleHistory(range: Range, q: Omit<HistoryQuery, 'since'>): Promise<string> {
    const query = { ...q, since: this.clock() - RANGES[range] };
    const log = this.config.queryLog;
    const source = log.sink?.kind === 'postgres' ? 'from the PostgreSQL sink, every instance' : `from ${log.path}`;
    return renderHistory(await queryHistory(log, query), range, query, source);
  }

  readiness(): Readiness {
    // Ready means serving: listeners bound and a filter loaded (a failed reload keeps the last good one). An
    // upstream outage is reported, not gating: taking every replica out of a Service would not bring it back.
    const listening = this.bound.udp.length > 0 && (this.local !== null || this.workers.length === this.config.workers);
    const listsCompiled = this.filter.state !== undefined;
    const ready = listening && listsCompiled && !this.draining;
    return {
      ready,
      listening,
      listsCompiled,
      draining: this.draining,
      upstreamAnswering: this.planeStats().upstreamHealthy,
      paused: this.livePauses(),
      sharedState: this.runtime.status(),
      catalogue: this.updates.status(this.filter.catalogue),
    };
  }

  async scrape(): Promise<{ contentType: string; body: string }> {
    await this.refreshStats();
    return { contentType: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() };
  }

  /** The config file served (absent when started from a config given in memory). */
  get configFile(): string | undefined {
    return this.options.configFile;
  }

  /** The admin API's /check: a bad name or client is a 400 naming it; the entries behind the verdicts are found off the query loop. A client may be an address, a device id or a host name (identity). */
  async check(names: string[], client: string): Promise<CheckResult[]> {
    let targets: { name: string; note?: string }[];
    let who;
    try {
      targets = names.map(checkTarget);
      who = checkClient(client, this.filter.state.clients, this.identity, Date.now());
    } catch (err) {
      throw err instanceof CheckInputError ? new HttpError(400, err.message) : err;
    }
    const results = await checkNames(this.filter, targets.map((t) => t.name), who, this.clock());
    return results.map((r, i) => (targets[i].note === undefined ? r : { ...r, note: targets[i].note }));
  }

  /** Stops accepting, lets queries in flight finish (up to drainMs), then closes everything. */
  async stop(): Promise<void> {
    clearTimeout(this.policyTimer);
    this.unwatch();
    this.remote.stop();
    this.updates.stop();
    this.draining = true;
    const drainMs = this.options.drainMs ?? DEFAULT_DRAIN_MS;
    await Promise.all([this.local?.stop(drainMs), ...this.workers.map((w) => w.stop(drainMs))]);
    // Only now: a worker sharing a passed socket ends only once none of them reads it (src/data/worker.ts).
    await Promise.all(this.workers.map((w) => w.end()));
    await this.admin?.close();
    await this.page?.server.close();
    await this.runtime.close();
    await this.desk.store.close();
    // Listeners are closed: what the query log still buffers goes to disk now (names still looked up), and a snapshot being written finishes.
    await this.closeQueryLog();
    this.identity?.close();
    await this.snapshots?.settled();
  }
}

/** How the query log names a runtime exception's use: its id first (it survives any cut), then who and why. */
const exceptionLabel = (e: { id: string; author: string; reason: string }): string => `exception ${e.id} (${e.author}: ${e.reason})`;

/** Where the data planes listen: the CLI's --listen or the config's, and the encrypted listeners. */
const listenAddresses = (config: Config, options: DaemonOptions): ListenAddresses => ({
  listen: options.listen ?? config.listen,
  listenTls: config.listenTls,
  listenHttps: config.listenHttps,
  listenHttp: config.listenHttp,
});

/** A change that could not reach the shared state is refused, not applied here alone. */
function unavailable(err: unknown): never {
  if (err instanceof StateUnavailable) throw new HttpError(503, err.message, { 'retry-after': '5' });
  throw err;
}

/** The packaged catalogue, read before each (re)load: CatalogueUpdates asks for it synchronously. */
interface Packaged {
  current: Catalogue;
  /** Its files' key (null: a catalogue given by the caller, tests): the snapshot knows it by that. */
  key: string | null;
}

/** The packaged catalogue: the one given (tests), else the package's blocklists/, read in a worker thread. */
async function readPackaged(options: DaemonOptions): Promise<Packaged> {
  if (options.catalogue) return { current: options.catalogue, key: null };
  const { catalogue, key } = await loadPackagedCatalogue();
  return { current: catalogue, key };
}

/** The catalogue source for a config: signed bundles when configured, over the packaged catalogue. */
function newUpdates(config: Config, options: DaemonOptions, packaged: Packaged, onChange: () => void, clock: () => number): CatalogueUpdates {
  return new CatalogueUpdates(config.catalogue, () => packaged.current, options.log, onChange, clock);
}

const serverText = (s: { host: string; port: number; encrypted?: { url: string } }): string => s.encrypted?.url ?? `${s.host}:${s.port}`;

const totalEntries = (filter: Filter): number => filter.lists.reports.reduce((n, r) => n + r.entries, 0);

function warnRejects(filter: Filter, log: Logger): void {
  for (const report of filter.lists.reports) {
    if (report.rejected > 0) log.warn({ list: report.name, rejected: report.rejected, samples: report.samples }, 'list lines rejected');
  }
}
