// Assembling the daemon: filter state, cache, upstream pool, listeners,
// metrics and the admin API; reloading without dropping a query; taking it
// all down gracefully.

import type { Socket as UdpSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Catalogue } from './catalogue/index.js';
import { CatalogueUpdates, registerCatalogueMetrics } from './catalogue/updates.js';
import { CheckInputError, checkClient, checkName, checkTarget } from './policy/explain.js';
import { loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { logPolicy } from './config/summary.js';
import type { TcpConfig } from './config/tcp.js';
import type { HostPort } from '../net/address.js';
import { AdminServer, type AdminTarget, HttpError, type Readiness, type ReloadResult } from './admin/server.js';
import { type AdminAuth, adminAuth } from './admin/token.js';
import type { Logger } from '../shared/logger.js';
import { Metrics } from './observe/metrics.js';
import { QueryLog } from './observe/querylog.js';
import { PostgresQueryLog } from './observe/sinks/postgres.js';
import type { ConsoleData } from './admin/console/render.js';
import { ConsoleStats } from './admin/console/stats.js';
import { viewOf } from './state/exceptions.js';
import { type Filter, buildFilter } from './policy/filter.js';
import { AnswerCache } from '../data/resolve/cache.js';
import { RuntimeExceptions } from './state/exceptions.js';
import { RuntimeState, StateUnavailable } from './state/runtime.js';
import { registerStateMetrics } from './state/metrics.js';
import { RateLimiter } from '../data/resolve/ratelimit.js';
import { Resolver } from '../data/resolve/resolver.js';
import { UpstreamPool } from '../data/resolve/upstream.js';
import { type TcpListener, type TcpStats, listenTcp, noTcpStats } from '../data/listen/tcp.js';
import { listenUdp } from '../data/listen/udp.js';
import { type DohListener, listenDoh } from '../data/listen/doh.js';
import { TlsFiles } from '../data/listen/tls-files.js';
import { DdrAnswers, type DdrEndpoint } from '../wire/ddr.js';
import { explainListenError } from '../data/listen/listen-error.js';
import { loadCatalogueOffThread } from './catalogue/offload.js';
import { RemoteLists, prepareRemoteLists } from './remote-lists.js';
import { watchFiles } from './watch.js';

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
}

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
  /** Blocked attempts of the last hour, for the console's charts. */
  private readonly consoleStats: ConsoleStats;
  private admin: AdminServer | null = null;
  private remote: RemoteLists;
  private queryLog: QueryLog | PostgresQueryLog | null = null;
  /** Signed catalogue updates; set right after construction. */
  private updates!: CatalogueUpdates;
  /** Encrypted listeners (DoT, DoH over HTTPS, DoH over plain HTTP for a proxy) and the certificate they present. */
  private readonly dot: TcpListener[] = [];
  private readonly https: DohListener[] = [];
  private readonly http: DohListener[] = [];
  private tlsFiles: TlsFiles | null = null;
  /** The packaged catalogue as last read (off the query thread); set right after construction. */
  private packaged!: PackagedCatalogue;
  readonly metrics: Metrics;

  private constructor(
    private config: Config,
    private filter: Filter,
    readonly resolver: Resolver,
    private readonly udp: UdpSocket[],
    private readonly tcp: TcpListener[],
    private readonly options: DaemonOptions,
    private readonly clock: () => number,
  ) {
    this.metrics = new Metrics({
      cacheEntries: () => this.resolver.cache.size,
      cacheHits: () => this.resolver.cache.hits,
      cacheMisses: () => this.resolver.cache.misses,
      listEntries: () => this.filter.lists.reports.map((r) => ({ list: r.name, entries: r.entries })),
      upstreamTimeouts: () => this.resolver.upstream.serverTimeouts(),
      upstreamDropped: () => this.resolver.upstream.stats,
      queryLogDropped: () => this.queryLog?.dropped ?? 0,
      pausedGroups: () => this.livePauses().map((p) => p.group),
      rateLimit: () => this.resolver.rateLimit,
      cacheBytes: () => this.resolver.cache.bytes,
      resolverTotals: () => this.resolver.stats,
      tcp: () => ({ open: [...this.tcp, ...this.dot].reduce((n, t) => n + t.connections, 0), closed: { ...this.tcpStats } }),
    });
    resolver.observers.push(this.metrics);
    this.remote = this.remoteListsFor(config);
    this.runtime = new RuntimeState(config.state, options.log, () => this.applyRuntime(), () => void this.reload(), clock, join(config.dataDir, 'shared-state.json'));
    registerStateMetrics(this.metrics.registry, this.runtime);
    this.consoleStats = new ConsoleStats(clock);
    resolver.observers.push(this.consoleStats);
  }

  private updatesFor(config: Config): CatalogueUpdates {
    return newUpdates(config, this.options, this.packaged, () => void this.reload(), this.clock);
  }

  private remoteListsFor(config: Config): RemoteLists {
    return new RemoteLists(config.remoteLists, this.log, () => void this.reload());
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
    // URL lists load from their copies on disk; downloads happen in the background once serving.
    prepareRemoteLists(config.remoteLists, options.log);
    let daemon: Daemon | undefined;
    const packaged = { current: await readPackaged(options) };
    const updates = newUpdates(config, options, packaged, () => void daemon?.reload(), clock);
    const filter = await buildFilter(config, updates.current(), clock());
    warnRejects(filter, options.log);
    const upstream = newUpstreamPool(config, options.log);
    await upstream.start();
    const resolver = new Resolver(filter.state, new AnswerCache(config.cache), upstream, options.log, resolverOptions(config));
    resolver.rateLimit = new RateLimiter(config.rateLimit, {
      onLimited: (r) => options.log.warn(r, 'rate limit: clients over their rate (at most one line every 10 s)'),
    });
    const udp: UdpSocket[] = [];
    const tcp: TcpListener[] = [];
    daemon = new Daemon(config, filter, resolver, udp, tcp, options, clock);
    daemon.updates = updates;
    daemon.packaged = packaged;
    const running = daemon;
    registerCatalogueMetrics(daemon.metrics.registry, {
      status: () => running.updates.status(running.filter.catalogue),
      results: () => running.updates.results,
    });
    daemon.runtime.start();
    daemon.applyRuntime();
    try {
      daemon.openQueryLog(config);
      for (const at of options.listen ?? config.listen) {
        const [socket, listener] = await listenBoth(at, resolver, () => daemon.draining, config.tcp).catch((err: unknown) => {
          throw explainListenError(err, at);
        });
        udp.push(socket);
        tcp.push(listener);
      }
      await daemon.listenEncrypted(config);
      daemon.admin = await AdminServer.start(config.admin, daemon).catch((err: unknown) => {
        throw config.admin.listen ? explainListenError(err, config.admin.listen, 'admin API (http)') : err;
      });
    } catch (err) {
      await daemon.stop();
      throw err;
    }
    daemon.watch();
    daemon.remote.start();
    daemon.updates.start();
    options.log.info(
      {
        listen: daemon.addresses.map((a) => `${a.address}:${a.port}`),
        ...daemon.encryptedAddresses(),
        admin: daemon.adminAddress ? `${daemon.adminAddress.address}:${daemon.adminAddress.port}` : null,
        upstream: config.upstream.servers.map((s) => s.encrypted?.url ?? `${s.host}:${s.port}`),
        lists: filter.lists.reports.length,
        entries: totalEntries(filter),
        catalogue: `${filter.catalogue.info.origin} ${filter.catalogue.info.version}, reviewed ${filter.catalogue.info.reviewed}`,
        matcherBytes: filter.state.matcher.byteSize,
        startMs: Math.round(performance.now() - started),
      },
      'aifence serving',
    );
    logPolicy(config, options.log);
    return daemon;
  }

  /** The bound UDP addresses (the TCP listeners share them). */
  get addresses(): AddressInfo[] {
    return this.udp.map((s) => s.address());
  }

  /** The DoT listeners' bound addresses. */
  get tlsAddresses(): AddressInfo[] {
    return this.dot.map((t) => t.server.address() as AddressInfo);
  }

  /** The DoH listeners' bound addresses: HTTPS, and plain HTTP for a reverse proxy. */
  get httpsAddresses(): AddressInfo[] {
    return this.https.map((l) => l.address());
  }

  get httpAddresses(): AddressInfo[] {
    return this.http.map((l) => l.address());
  }

  /** DoH requests and connections turned away, over every DoH listener. */
  get dohStats(): { refused: number; rejected: number } {
    const sum = { refused: 0, rejected: 0 };
    for (const l of [...this.https, ...this.http]) {
      sum.refused += l.stats.refused;
      sum.rejected += l.stats.rejected;
    }
    return sum;
  }

  private encryptedAddresses(): Record<string, string[]> {
    const show = (list: AddressInfo[]) => list.map((a) => `${a.address}:${a.port}`);
    const out: Record<string, string[]> = {};
    if (this.dot.length > 0) out.listenTls = show(this.tlsAddresses);
    if (this.https.length > 0) out.listenHttps = show(this.httpsAddresses);
    if (this.http.length > 0) out.listenHttp = show(this.httpAddresses);
    return out;
  }

  /** Opens the DoT and DoH listeners (the certificate first: an unreadable one stops start-up), then DDR names them. */
  private async listenEncrypted(config: Config): Promise<void> {
    if (config.tls && config.listenTls.length + config.listenHttps.length > 0) {
      this.tlsFiles = new TlsFiles(config.tls, this.log);
      if (this.options.watch !== false) this.tlsFiles.watch();
    }
    const tls = this.tlsFiles;
    const explain = (at: HostPort, what: string) => (err: unknown) => {
      throw explainListenError(err, at, what);
    };
    for (const at of config.listenTls) this.dot.push(await listenTcp(at, this.resolver, config.tcp, { secureContext: tls!.secureContext }).catch(explain(at, 'listenTls (DoT)')));
    for (const at of config.listenHttps) this.https.push(await listenDoh(at, this.resolver, { tcp: config.tcp, doh: config.doh, tls }).catch(explain(at, 'listenHttps (DoH)')));
    for (const at of config.listenHttp) this.http.push(await listenDoh(at, this.resolver, { tcp: config.tcp, doh: config.doh, tls: null }).catch(explain(at, 'listenHttp (DoH)')));
    this.resolver.ddr = this.ddrAnswers();
    // A renewed certificate may carry other names: DDR names what is presented now.
    tls?.onChange.push(() => (this.resolver.ddr = this.ddrAnswers()));
  }

  /**
   * RFC 9462 answers naming our DoT and DoH listeners, or null (DDR then
   * stays as the lists decide: NODATA where tag:doh-bypass is blocked).
   * Clients connect to the name the certificate carries, so without a DNS
   * name in it there is nothing to designate.
   */
  private ddrAnswers(): DdrAnswers | null {
    const endpoints: DdrEndpoint[] = [
      ...this.tlsAddresses.map((a) => ({ kind: 'dot' as const, port: a.port })),
      ...this.httpsAddresses.map((a) => ({ kind: 'doh' as const, port: a.port })),
    ];
    if (endpoints.length === 0 || this.tlsFiles === null) return null;
    const names = this.tlsFiles.subjectNames;
    if (names.dns.length === 0) {
      this.log.warn({ cert: this.config.tls?.cert }, 'DDR off: the TLS certificate names no DNS name (subjectAltName DNS:...) for clients to verify');
      return null;
    }
    // Hints only for listeners bound to one address; a wildcard listener's address is whatever the client reached.
    const bound = [...this.tlsAddresses, ...this.httpsAddresses].map((a) => a.address).filter((a) => a !== '0.0.0.0' && a !== '::');
    return new DdrAnswers(endpoints, names.dns[0], [...new Set(bound)]);
  }

  /** TCP connections (DoT's included) refused or cut short, and why, over every listener. */
  get tcpStats(): TcpStats {
    const sum = noTcpStats();
    for (const t of [...this.tcp, ...this.dot]) for (const key of Object.keys(sum) as (keyof TcpStats)[]) sum[key] += t.stats[key];
    return sum;
  }

  get adminAddress(): AddressInfo | null {
    return this.admin?.address ?? null;
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
  reload(): Promise<ReloadResult> {
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
      this.packaged.current = await readPackaged(this.options);
      const updates = catalogueChanged ? this.updatesFor(config) : this.updates;
      const filter = await buildFilter(config, updates.current(), this.clock());
      warnRejects(filter, this.log);
      await this.applyServing(config);
      this.tlsFiles?.reload();
      this.filter = filter;
      this.config = config;
      this.resolver.state = filter.state; // the swap: one reference
      this.applyRuntime();
      this.watch();
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
    return sink?.kind === 'postgres' ? new PostgresQueryLog(config.queryLog, sink.url, config.state.instance, this.log) : new QueryLog(config.queryLog, this.log);
  }

  private openQueryLog(config: Config): void {
    this.useQueryLog(this.newQueryLog(config));
  }

  private useQueryLog(log: QueryLog | PostgresQueryLog | null): void {
    this.queryLog = log;
    if (log) this.resolver.observers.push(log);
  }

  private async closeQueryLog(): Promise<void> {
    const log = this.queryLog;
    if (!log) return;
    this.queryLog = null;
    this.resolver.observers.splice(this.resolver.observers.indexOf(log), 1);
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
    if (!isDeepStrictEqual(before.upstream, config.upstream)) {
      const pool = newUpstreamPool(config, this.log);
      await pool.start();
      const old = this.resolver.upstream;
      this.resolver.upstream = pool;
      // Exchanges in flight finish on the old pool within its timeout.
      setTimeout(() => old.close(), before.upstream.timeout * 1000 + 500).unref();
    }
    if (!isDeepStrictEqual(before.cache, config.cache)) this.resolver.cache = new AnswerCache(config.cache);
    this.resolver.options = resolverOptions(config);
    if (!isDeepStrictEqual(before.rateLimit, config.rateLimit)) this.resolver.rateLimit?.configure(config.rateLimit);
    for (const key of ['listen', 'admin', 'tcp', 'state', 'listenTls', 'listenHttps', 'listenHttp', 'tls', 'doh'] as const) {
      if (!isDeepStrictEqual(before[key], config[key])) this.log.warn({ key }, `${key} changed: takes effect at the next restart`);
    }
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
    const next = policy.nextChange(now);
    // Capped so that a clock that jumps (suspend, NTP step) is caught within the hour.
    if (next !== undefined) this.policyTimer = setTimeout(() => this.refreshPolicy(), Math.min(next - now, 3_600_000)).unref();
  }

  async pause(group: string | undefined, minutes: number): Promise<{ group: string; until: string | null }[]> {
    const groups = this.filter.policy.groups;
    const targets = group === undefined ? groups : groups.filter((g) => g.name === group);
    if (targets.length === 0) throw new HttpError(404, `no group '${group}'; groups: ${groups.map((g) => g.name).join(', ')}`);
    const until = minutes > 0 ? this.clock() + minutes * 60_000 : 0;
    await this.runtime.setPause(targets.map((g) => g.name), until).catch(unavailable);
    this.log.warn({ groups: targets.map((g) => g.name), minutes }, minutes > 0 ? 'blocking paused' : 'blocking resumed');
    return targets.map((g) => ({ group: g.name, until: until > 0 ? new Date(until).toISOString() : null }));
  }

  /** Runtime exceptions: listed, added and revoked through the admin API. */
  get exceptions(): RuntimeExceptions {
    return new RuntimeExceptions(this.runtime, this.filter.policy, this.clock, unavailable);
  }

  /** Asks every instance sharing the state to reload too; false without shared state. */
  broadcastReload(): Promise<boolean> {
    return this.runtime.broadcastReload().catch(unavailable);
  }

  /** Applies the runtime state (pauses, exceptions) to the live policy's tables, then re-arms the policy timer. */
  private applyRuntime(): void {
    const policy = this.filter.policy;
    const now = this.clock();
    const pauses = this.runtime.pauses();
    const exceptions = this.runtime.exceptions();
    policy.groups.forEach((g, i) => {
      const until = pauses.get(g.name) ?? 0;
      if (g.pausedUntil !== until) policy.pause(i, until, now);
      const rules = exceptions.filter((e) => e.group === g.name).map((e) => ({ select: e.select, until: e.until, untilText: new Date(e.until).toISOString(), reason: `${e.reason} (${e.author}, exception ${e.id})` }));
      const skipped = policy.setRuntimeAllows(i, rules, now);
      if (skipped.length > 0) this.log.warn({ group: g.name, selectors: skipped.map((r) => r.select) }, 'runtime exceptions name nothing in this instance\'s catalogue; skipped');
    });
    this.refreshPolicy();
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
        clients: g.name === 'default' ? ['everyone else'] : g.clients.map((c) => c.text),
        block: g.block.map((r) => r.select + (r.until ? ` until ${r.untilText}` : '') + (r.schedule ? ` (${r.schedule.text})` : '')),
        allow: g.allow.map((r) => r.select + (r.until ? ` until ${r.untilText}` : '')),
        paused: paused.get(g.name) ?? null,
      })),
      exceptions: this.runtime.exceptions().map(viewOf),
      stats: this.consoleStats,
    };
  }

  readiness(): Readiness {
    // Ready means serving: listeners bound and a filter loaded (a failed reload keeps the last good one). An
    // upstream outage is reported, not gating: taking every replica out of a Service would not bring it back.
    const listening = this.udp.length > 0 && this.tcp.length === this.udp.length;
    const listsCompiled = this.resolver.state !== undefined;
    const ready = listening && listsCompiled && !this.draining;
    return {
      ready,
      listening,
      listsCompiled,
      draining: this.draining,
      upstreamAnswering: this.resolver.upstream.healthy,
      paused: this.livePauses(),
      sharedState: this.runtime.status(),
      catalogue: this.updates.status(this.filter.catalogue),
    };
  }

  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() };
  }

  /** The admin API's /check: a bad name or client is a 400 naming it; the entry behind the verdict is found off the query loop. */
  async check(name: string, client: string) {
    let target: { name: string; note?: string };
    try {
      target = checkTarget(name);
      checkClient(client);
    } catch (err) {
      throw err instanceof CheckInputError ? new HttpError(400, err.message) : err;
    }
    const result = await checkName(this.filter, target.name, client, this.clock());
    return target.note === undefined ? result : { ...result, note: target.note };
  }

  /** Stops accepting, lets queries in flight finish (up to drainMs), then closes everything. */
  async stop(): Promise<void> {
    clearTimeout(this.policyTimer);
    this.unwatch();
    this.remote.stop();
    this.updates.stop();
    this.draining = true;
    for (const t of [...this.tcp, ...this.dot, ...this.https, ...this.http]) t.stopAccepting();
    const deadline = performance.now() + (this.options.drainMs ?? DEFAULT_DRAIN_MS);
    while (this.resolver.pending > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (this.resolver.pending > 0) this.log.warn({ pending: this.resolver.pending }, 'stopped with queries unanswered');
    for (const s of this.udp) s.close();
    for (const t of [...this.tcp, ...this.dot, ...this.https, ...this.http]) t.closeConnections();
    this.tlsFiles?.close();
    await this.admin?.close();
    this.resolver.upstream.close();
    this.resolver.rateLimit?.close();
    await this.runtime.close();
    // Listeners are closed: what the query log still buffers goes to disk now.
    await this.closeQueryLog();
  }
}

/** A change that could not reach the shared state is refused, not applied here alone. */
function unavailable(err: unknown): never {
  if (err instanceof StateUnavailable) throw new HttpError(503, err.message, { 'retry-after': '5' });
  throw err;
}

/** How often the same upstream connection failure is logged again (a down DoT server fails every query). */
const UPSTREAM_ERROR_LOG_MS = 10_000;

/** The upstream pool for a config; failed TLS connections (a certificate that does not verify) are logged, at most once per 10 s each. */
function newUpstreamPool(config: Config, log: Logger): UpstreamPool {
  const lastLogged = new Map<string, number>();
  return new UpstreamPool(config.upstream.servers, config.upstream.timeout, config.upstream.tls, (message) => {
    const now = performance.now();
    if (now - (lastLogged.get(message) ?? -Infinity) < UPSTREAM_ERROR_LOG_MS) return;
    if (lastLogged.size > 100) lastLogged.clear();
    lastLogged.set(message, now);
    log.warn({ err: message }, 'upstream connection failed; the query goes to the next server, never in clear');
  });
}

const resolverOptions = (config: Config) => ({
  maxUdpSize: config.maxUdpSize,
  maxConcurrent: config.upstream.maxConcurrent,
  staleAfter: config.cache.serveStale?.clientTimeout ?? null,
});

/** The packaged catalogue, read before each (re)load: CatalogueUpdates asks for it synchronously. */
interface PackagedCatalogue {
  current: Catalogue;
}

/** The packaged catalogue: the one given (tests), else the package's blocklists/, parsed in a worker thread (40–150 ms of YAML). */
const readPackaged = async (options: DaemonOptions): Promise<Catalogue> => options.catalogue ?? loadCatalogueOffThread();

/** The catalogue source for a config: signed bundles when configured, over the packaged catalogue. */
function newUpdates(config: Config, options: DaemonOptions, packaged: PackagedCatalogue, onChange: () => void, clock: () => number): CatalogueUpdates {
  return new CatalogueUpdates(config.catalogue, () => packaged.current, options.log, onChange, clock);
}

const totalEntries = (filter: Filter): number => filter.lists.reports.reduce((n, r) => n + r.entries, 0);

function warnRejects(filter: Filter, log: Logger): void {
  for (const report of filter.lists.reports) {
    if (report.rejected > 0) log.warn({ list: report.name, rejected: report.rejected, samples: report.samples }, 'list lines rejected');
  }
}

/**
 * UDP and TCP on one address. With port 0 (tests) TCP takes the port the
 * kernel gave UDP; if something already holds that TCP port, try another.
 */
async function listenBoth(at: HostPort, resolver: Resolver, draining: () => boolean, tcp: TcpConfig): Promise<[UdpSocket, TcpListener]> {
  for (let attempt = 0; ; attempt++) {
    const socket = await listenUdp(at, resolver, draining);
    try {
      return [socket, await listenTcp({ ...at, port: socket.address().port }, resolver, tcp)];
    } catch (err) {
      socket.close();
      if (at.port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 10) throw err;
    }
  }
}
