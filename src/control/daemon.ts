// The control plane: config, compiled filter, admin API, query log,
// metrics, runtime state and timers; the data plane (listeners, resolver,
// cache, upstream) runs in-process with `workers: 1` or as one data plane per
// worker thread. Reloading without dropping a query; taking it all down
// gracefully.
//
// This file starts and stops it all, reloads, and answers the admin API;
// beside it (daemon/): the data planes, local or in workers (planes.ts),
// pauses, exceptions and schedules between reloads (live-policy.ts), the
// query log's lifecycle (query-log.ts).

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
import { QueryLogs } from './daemon/query-log.js';
import { type ConsoleData, renderHistory } from './admin/console/render.js';
import { type HistoryQuery, RANGES, type Range, queryHistory } from './observe/history.js';
import { ConsoleStats } from './admin/console/stats.js';
import { viewOf } from './state/exceptions.js';
import { type Filter, buildFilter } from './policy/filter.js';
import type { RuntimeExceptions } from './state/exceptions.js';
import { RuntimeState } from './state/runtime.js';
import { LivePolicy } from './daemon/live-policy.js';
import { registerStateMetrics } from './state/metrics.js';
import type { PlaneStats } from '../shared/plane-stats.js';
import { Planes } from './daemon/planes.js';
import { Observers } from '../shared/events.js';
import { Guard, sumCounts } from '../shared/guard.js';
import { explainListenError } from '../shared/listen-error.js';
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
  private unwatch: () => void = () => undefined;
  private reloading: Promise<ReloadResult> | null = null;
  private reloadAgain = false;
  /** Pauses and runtime exceptions, kept across reloads, shared through Redis when configured. */
  private readonly runtime: RuntimeState;
  /** Pauses, exceptions and schedules applied to the filter in force between reloads. */
  private readonly live: LivePolicy;
  /** Blocked attempts of the last hour, for the console's charts. */
  private readonly consoleStats: ConsoleStats;
  private admin: AdminServer | null = null;
  /** Access requests from the block page, and the decisions on them. */
  readonly desk: AccessDesk;
  /** The block page's listeners and certificates (config blockPage), or null. */
  private page: BlockPage | null = null;
  private remote: RemoteLists;
  private readonly queryLog: QueryLogs;
  /** Signed catalogue updates; set right after construction. */
  private updates!: CatalogueUpdates;
  /** The packaged catalogue as last read (off the query thread); set right after construction. */
  private packaged!: Packaged;
  /** The data planes: in this thread, or one per worker thread. */
  private readonly planes: Planes;
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
      queryLogDropped: () => this.queryLog.dropped + this.planes.droppedEvents,
      pausedGroups: () => this.live.pauses().map((p) => p.group),
      rateLimit: () => stats().rateLimit,
      cacheBytes: () => stats().cache.bytes,
      resolverTotals: () => stats().resolver,
      tcp: () => ({ open: stats().tcp.open, closed: { ...stats().tcp.closed } }),
      queryLogRows: () => this.queryLog.rows,
      // In-process, the plane's resolver reports to this thread's guard; workers have their own (the event ring's).
      observerErrors: () => (this.planes.inProcess ? { ...this.guard.counts } : sumCounts(this.guard.counts, stats().observerErrors)),
      filter: () => this.filter,
    });
    this.observers.add(this.metrics);
    this.planes = new Planes({
      log: options.log,
      observers: this.observers,
      filter: () => this.filter,
      listen: (c) => options.listen ?? c.listen,
      watchTls: options.watch !== false,
      onFatal: options.onFatal,
    });
    this.queryLog = new QueryLogs(options.log, this.observers, this.guard, this.clientName);
    this.remote = this.remoteListsFor(config);
    this.runtime = new RuntimeState(config.state, options.log, {
      onChange: () => this.live.apply(),
      onReload: () => void this.reload(),
      policy: () => this.filter.policy,
      clock,
      snapshotFile: join(config.dataDir, 'shared-state.json'),
    });
    this.live = new LivePolicy({
      log: options.log,
      clock,
      runtime: this.runtime,
      filter: () => this.filter,
      replaceFilter: (filter) => {
        this.filter = filter;
        this.planes.setFilter();
      },
      publishVerdicts: () => this.planes.publishVerdicts(),
      // An approval made on another instance arrives as an exception: its request's new status with it.
      exceptionsChanged: () => void this.desk?.store.refresh(true),
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
  get resolver(): Planes['resolver'] {
    return this.planes.resolver;
  }

  get upstream(): Planes['resolver']['upstream'] {
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
    daemon.live.apply();
    try {
      await daemon.desk.store.start();
      daemon.identity = await Identity.start(config.identity, options.log, { watch: options.watch !== false, reverse: true });
      daemon.queryLog.start(config);
      await daemon.planes.start(config, sockets);
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

  /** Counters summed over the data planes: fresh in-process; with workers, as last heard (refreshStats asks). */
  planeStats(): PlaneStats {
    return this.planes.stats();
  }

  /** Asks every worker for its counters now (before a scrape or the console), and reads the access requests (at most once a second). */
  async refreshStats(): Promise<PlaneStats> {
    await this.desk.store.refresh();
    return this.planes.refresh();
  }

  /** The bound UDP addresses (the TCP listeners share them). */
  get addresses(): AddressInfo[] {
    return this.planes.addresses.udp;
  }

  /** The DoT listeners' bound addresses. */
  get tlsAddresses(): AddressInfo[] {
    return this.planes.addresses.tls;
  }

  /** The DoH listeners' bound addresses: HTTPS, and plain HTTP for a reverse proxy. */
  get httpsAddresses(): AddressInfo[] {
    return this.planes.addresses.https;
  }

  get httpAddresses(): AddressInfo[] {
    return this.planes.addresses.http;
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
    this.queryLog.audit(e);
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
      this.live.apply();
      this.planes.setFilter();
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


  /** Upstream servers, cache limits, rate limits and the query log take effect on reload; listen and admin addresses and tcp limits need a restart. */
  private async applyServing(config: Config): Promise<void> {
    const before = this.config;
    await this.queryLog.reconfigure(before, config);
    this.planes.configure(before, config);
    for (const key of ['listen', 'admin', 'tcp', 'state', 'listenTls', 'listenHttps', 'listenHttp', 'tls', 'doh', 'workers'] as const) {
      if (!isDeepStrictEqual(before[key], config[key])) this.log.warn({ key }, `${key} changed: takes effect at the next restart`);
    }
    // The page's texts and `requests` apply at once; where it listens and the CA it holds need a restart.
    const listening = (c: Config) => (c.blockPage ? { http: c.blockPage.http, https: c.blockPage.https, ca: c.blockPage.ca } : null);
    if (!isDeepStrictEqual(listening(before), listening(config))) this.log.warn({ key: 'blockPage' }, 'blockPage listeners or CA changed: take effect at the next restart');
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

  /** Applies what changed in the policy since the last look (lapsed exceptions, schedules, ended pauses) and re-arms the timer. */
  refreshPolicy(): void {
    this.live.refresh();
  }

  pause(group: string | undefined, minutes: number, by = 'unknown'): Promise<{ group: string; until: string | null }[]> {
    return this.live.pause(group, minutes, by);
  }

  /** Runtime exceptions: listed, added and revoked through the admin API. */
  get exceptions(): RuntimeExceptions {
    return this.live.exceptions;
  }

  /** Asks every instance sharing the state to reload too; false without shared state. */
  broadcastReload(by = 'unknown'): Promise<boolean> {
    return this.live.broadcastReload(by);
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
        pausedBy: paused.has(g.name) ? this.live.pausedBy.get(g.name) : undefined,
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
    const listening = this.planes.listening(this.config.workers);
    const listsCompiled = this.filter.state !== undefined;
    const ready = listening && listsCompiled && !this.draining;
    return {
      ready,
      listening,
      listsCompiled,
      draining: this.draining,
      upstreamAnswering: this.planeStats().upstreamHealthy,
      paused: this.live.pauses(),
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
    this.live.stop();
    this.unwatch();
    this.remote.stop();
    this.updates.stop();
    this.draining = true;
    const drainMs = this.options.drainMs ?? DEFAULT_DRAIN_MS;
    await this.planes.stop(drainMs);
    await this.admin?.close();
    await this.page?.server.close();
    await this.runtime.close();
    await this.desk.store.close();
    // Listeners are closed: what the query log still buffers goes to disk now (names still looked up), and a snapshot being written finishes.
    await this.queryLog.close();
    this.identity?.close();
    await this.snapshots?.settled();
  }
}


/** Where the data planes listen: the CLI's --listen or the config's, and the encrypted listeners. */
const listenAddresses = (config: Config, options: DaemonOptions): ListenAddresses => ({
  listen: options.listen ?? config.listen,
  listenTls: config.listenTls,
  listenHttps: config.listenHttps,
  listenHttp: config.listenHttp,
});


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
