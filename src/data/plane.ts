// One thread's data plane: its listeners (UDP, TCP, DoT, DoH), resolver,
// answer cache, upstream pool and rate limiter. With `workers: 1` the control
// thread runs one in-process; with more, each worker thread runs one
// (src/data/worker.ts) and binds every listen address with SO_REUSEPORT, so
// the kernel spreads clients over the threads. All a plane shares with the
// control plane is the compiled filter (shared memory) and its messages.

import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import type { HostPort } from '../net/address.js';
import type { CacheMemory, ClientCountsMemory } from '../shared/plane-memory.js';
import { type PlaneAddresses, type PlaneStats, type TcpStats, addInto, noTcpStats } from '../shared/plane-stats.js';
import type { ServingConfig, UpstreamAddress } from '../shared/serving-config.js';
import type { FilterState } from '../shared/filter.js';
import type { Logger } from '../shared/logger.js';
import { DdrAnswers, type DdrEndpoint } from '../wire/ddr.js';
import { type DohListener, listenDoh } from './listen/doh.js';
import { deviceOfServerName, dotNames } from './listen/device.js';
import { explainListenError } from '../shared/listen-error.js';
import { type TcpListener, listenTcp } from './listen/tcp.js';
import { TlsFiles } from './listen/tls-files.js';
import { ClientCounts } from './listen/client-counts.js';
import { type UdpListener, listenUdp } from './listen/udp.js';
import { udpIo } from './listen/batched.js';
import type { ListenAt } from './listen/passed.js';
import { type PassedSocket, describeSocket, passedFor } from '../shared/sockets.js';
import { AnswerCache } from './resolve/cache.js';
import { RateLimiter } from './resolve/ratelimit.js';
import { Resolver } from './resolve/resolver.js';
import { UpstreamPool } from './resolve/upstream.js';
import { ZoneTable } from './resolve/zones.js';

export interface PlaneOptions {
  /** The addresses to bind (the CLI's --listen, else config.listen); with port 0 the kernel picks. */
  listen: HostPort[];
  /** Bind with SO_REUSEPORT: several threads on one address. */
  reusePort: boolean;
  /** Re-read the TLS certificate when its files change. */
  watchTls: boolean;
  /** This plane's share of the process-wide bounds: 1 / workers. */
  share: number;
  /** The answer cache every worker shares (its memory), with this thread's id in its lock; absent: a cache of its own. */
  cache?: { memory: CacheMemory; owner: number };
  /** Each client's connections, counted over every worker (shared memory), and this worker's index; absent: this plane's own. */
  clients?: { memory: ClientCountsMemory; worker: number };
  /** Sockets the service manager passed (socket activation), adopted instead of bound where `adopt` says so. */
  passed?: readonly PassedSocket[];
}

/** Counters of a plane that has not reported yet. */
/** How often the same upstream connection failure is logged again (a down DoT server fails every query). */
const UPSTREAM_ERROR_LOG_MS = 10_000;

export class DataPlane {
  private readonly udp: UdpListener[] = [];
  private readonly tcp: TcpListener[] = [];
  private readonly dot: TcpListener[] = [];
  private readonly https: DohListener[] = [];
  private readonly http: DohListener[] = [];
  private tlsFiles: TlsFiles | null = null;
  /** The names a DoT client's SNI `ID.NAME` may end in: the certificate's DNS names (a renewal may change them). */
  private dotNames: string[] = [];
  private draining = false;
  /** What each client holds of the connection listeners (tcp.maxPerClient over TCP, DoT and DoH together). */
  private readonly clients: ClientCounts;
  /** The UDP sockets adopted from the service manager, and how. */
  private readonly adopted = new Map<UdpListener, PassedSocket>();
  /** Encrypted addresses passed to another worker: served by the process, not by this plane. */
  private readonly elsewhere: PlaneAddresses = { udp: [], tls: [], https: [], http: [] };

  private constructor(
    /** The config with this plane's share of the process-wide bounds (see shareOf). */
    private config: ServingConfig,
    readonly resolver: Resolver,
    private readonly options: PlaneOptions,
    private readonly log: Logger,
  ) {
    this.clients = new ClientCounts(options.clients?.memory, options.clients?.worker, config.tcp.maxConnections);
  }

  /** Binds every listener; a clash or an unreadable certificate throws, naming the listener, with nothing left open. */
  static async start(configured: ServingConfig, state: FilterState, options: PlaneOptions, log: Logger): Promise<DataPlane> {
    const config = shareOf(configured, options.share);
    const resolver = new Resolver(state, newCache(config, options.cache), newUpstreamPool(config.upstream.servers, config, log), newZones(config, log), log, resolverOptions(config));
    resolver.rateLimit = new RateLimiter(config.rateLimit, {
      onLimited: (r) => log.warn(r, 'rate limit: clients over their rate (at most one line every 10 s)'),
    });
    const plane = new DataPlane(config, resolver, options, log);
    try {
      await plane.listen(options.listen);
      await plane.listenEncrypted();
    } catch (err) {
      await plane.stop(0);
      throw err;
    }
    // Once per process (the first worker speaks for the others): how UDP is read and written.
    if ((options.clients?.worker ?? 0) === 0 && plane.udp.length > 0) {
      // What the listeners really do: the addon may load and a socket still fall back (its descriptor not readable).
      const why = udpIo().why ?? (plane.udp.every((l) => l.io === 'batched') ? null : "a UDP socket's descriptor could not be read from node:dgram");
      if (why === null) log.info({ io: 'batched' }, 'UDP in batches (recvmmsg/sendmmsg, native/udp)');
      else log.warn({ io: 'dgram', reason: why }, `UDP through node:dgram, one system call per datagram: ${why}`);
    }
    return plane;
  }

  /** Where this plane listens; with passed sockets, also the encrypted addresses another worker serves (DDR names them all). */
  get addresses(): PlaneAddresses {
    return {
      udp: unique(this.udp.map((s) => s.address())),
      tls: unique([...this.dot.map((t) => t.server.address() as AddressInfo), ...this.elsewhere.tls]),
      https: unique([...this.https.map((l) => l.address()), ...this.elsewhere.https]),
      http: unique([...this.http.map((l) => l.address()), ...this.elsewhere.http]),
    };
  }

  /** The filter a reload built: one reference swap, the next query sees it. */
  setFilter(state: FilterState): void {
    this.resolver.state = state;
  }

  /** Upstream servers, cache limits and rate limits take effect on reload; listeners need a restart. */
  configure(configured: ServingConfig, cache?: PlaneOptions['cache']): void {
    const config = shareOf(configured, this.options.share);
    const before = this.config;
    this.config = config;
    const resolver = this.resolver;
    if (!same(before.upstream, config.upstream)) {
      const old = resolver.upstream;
      const oldZones = resolver.zones;
      resolver.upstream = newUpstreamPool(config.upstream.servers, config, this.log);
      resolver.zones = newZones(config, this.log);
      // Exchanges in flight finish on the old pools within their timeout.
      setTimeout(() => {
        old.close();
        oldZones?.close();
      }, before.upstream.timeout * 1000 + 500).unref();
    }
    if (cache !== undefined) resolver.cache = newCache(config, cache);
    else if (!same(before.cache, config.cache) && this.options.cache === undefined) resolver.cache = newCache(config);
    resolver.options = resolverOptions(config);
    if (!same(before.rateLimit, config.rateLimit)) resolver.rateLimit?.configure(config.rateLimit);
    this.tlsFiles?.reload();
  }

  stats(): PlaneStats {
    const { resolver } = this;
    const { cache, upstream } = resolver;
    // The default pool and every zone's: their counters summed, their servers listed.
    const pools = [upstream, ...(resolver.zones?.routes.map((r) => r.pool) ?? [])];
    const upstreamStats = { ...upstream.stats };
    const openSockets = upstream.openSockets;
    for (const p of pools.slice(1)) {
      addInto(upstreamStats, p.stats);
      addInto(openSockets, p.openSockets);
    }
    const tcp = [...this.tcp, ...this.dot];
    const closed = noTcpStats();
    for (const t of tcp) for (const key of Object.keys(closed) as (keyof TcpStats)[]) closed[key] += t.stats[key];
    const doh = { refused: 0, rejected: 0 };
    for (const l of [...this.https, ...this.http]) {
      doh.refused += l.stats.refused;
      doh.rejected += l.stats.rejected;
    }
    const limiter = resolver.rateLimit;
    return {
      resolver: { ...resolver.stats },
      pending: resolver.pending,
      cache: { entries: cache.size, hits: cache.hits, misses: cache.misses, bytes: cache.bytes },
      upstream: upstreamStats,
      upstreamHealthy: upstream.healthy,
      upstreamTimeouts: pools.flatMap((p) => p.serverTimeouts()),
      openSockets,
      rateLimit: limiter === null ? null : { counts: { ...limiter.counts }, clients: limiter.clients },
      tcp: { open: tcp.reduce((n, t) => n + t.connections, 0), closed },
      doh,
      observerErrors: { ...resolver.observers.guard.counts },
    };
  }

  /**
   * Stops accepting, lets queries in flight finish (up to drainMs), then
   * closes everything. Passed sockets stop being read at once, so what
   * arrives from now on waits in the kernel for the next process; a passed
   * TCP socket closes here (the service manager keeps its own copy open),
   * a UDP one that other threads share is left open: closing its number
   * would close it for them.
   */
  async stop(drainMs: number): Promise<void> {
    this.draining = true;
    for (const socket of this.adopted.keys()) socket.stopReceiving();
    const listeners = [...this.tcp, ...this.dot, ...this.https, ...this.http];
    for (const t of listeners) t.stopAccepting();
    const resolver = this.resolver;
    const deadline = performance.now() + drainMs;
    while (resolver.pending > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (resolver.pending > 0) this.log.warn({ pending: resolver.pending }, 'stopped with queries unanswered');
    for (const s of this.udp) if (!this.adopted.get(s)?.shared) s.close();
    for (const t of listeners) t.closeConnections();
    this.tlsFiles?.close();
    resolver.upstream.close();
    resolver.zones?.close();
    resolver.rateLimit?.close();
  }

  /**
   * UDP and TCP on each address: the passed sockets for it when the service
   * manager gave some (those of another worker are left to it), else bound
   * here. With port 0 (tests) TCP takes the port the kernel gave UDP; if
   * something already holds that TCP port, try another.
   */
  private async listen(addresses: HostPort[]): Promise<void> {
    const passed = this.options.passed ?? [];
    for (const at of addresses) {
      const udp = passedFor(passed, 'udp', at);
      const tcp = passedFor(passed, 'tcp', at);
      if (udp.length === 0 && tcp.length === 0) {
        await this.bindUdpAndTcp(at);
        continue;
      }
      for (const s of udp.filter((p) => p.adopt)) this.adopted.set(await this.openUdp({ ...at, fd: s.fd }, s), s);
      if (udp.length === 0) await this.openUdp(at);
      for (const s of tcp.filter((p) => p.adopt)) this.tcp.push(await this.openTcp({ ...at, fd: s.fd }, s));
      if (tcp.length === 0) this.tcp.push(await this.openTcp(at));
    }
  }

  private async bindUdpAndTcp(at: HostPort): Promise<void> {
    const { resolver, config, options } = this;
    for (let attempt = 0; ; attempt++) {
      const socket = await listenUdp(at, resolver, () => this.draining, options.reusePort).catch((err: unknown) => {
        throw explainListenError(err, at);
      });
      try {
        const tcp = await listenTcp({ ...at, port: socket.address().port }, resolver, config.tcp, undefined, options.reusePort, this.clients);
        this.udp.push(socket);
        this.tcp.push(tcp);
        return;
      } catch (err) {
        socket.close();
        if (at.port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 10) throw explainListenError(err, at);
      }
    }
  }

  /** A UDP listener on `at`, bound or adopted (`passed` names the socket in errors). */
  private async openUdp(at: ListenAt, passed?: PassedSocket): Promise<UdpListener> {
    const socket = await listenUdp(at, this.resolver, () => this.draining, this.options.reusePort).catch((err: unknown) => {
      throw passed ? adoptError(err, passed) : explainListenError(err, at);
    });
    this.udp.push(socket);
    return socket;
  }

  private openTcp(at: ListenAt, passed?: PassedSocket): Promise<TcpListener> {
    return listenTcp(at, this.resolver, this.config.tcp, undefined, this.options.reusePort, this.clients).catch((err: unknown) => {
      throw passed ? adoptError(err, passed) : explainListenError(err, at);
    });
  }

  /** Opens the DoT and DoH listeners (the certificate first: an unreadable one stops start-up), then DDR names them. */
  private async listenEncrypted(): Promise<void> {
    const { config, resolver, options } = this;
    if (config.tls && config.listenTls.length + config.listenHttps.length > 0) {
      this.tlsFiles = new TlsFiles(config.tls, this.log);
      if (options.watchTls) this.tlsFiles.watch();
    }
    const tls = this.tlsFiles;
    const explain = (at: ListenAt, what: string) => (err: unknown) => {
      throw at.fd !== undefined ? adoptError(err, this.passedAt(at)!, what) : explainListenError(err, at, what);
    };
    const { reusePort } = options;
    const { clients } = this;
    if (tls !== null) {
      this.dotNames = dotNames(tls.subjectNames.dns);
      tls.onChange.push(() => (this.dotNames = dotNames(tls.subjectNames.dns)));
    }
    const deviceOf = (sni: string | false | null | undefined) => deviceOfServerName(sni, this.dotNames);
    for (const at of this.openingAt(config.listenTls, 'tls')) this.dot.push(await listenTcp(at, resolver, config.tcp, { secureContext: tls!.secureContext, deviceOf }, reusePort, clients).catch(explain(at, 'listenTls (DoT)')));
    for (const at of this.openingAt(config.listenHttps, 'https')) this.https.push(await listenDoh(at, resolver, { tcp: config.tcp, doh: config.doh, tls, reusePort, clients }).catch(explain(at, 'listenHttps (DoH)')));
    for (const at of this.openingAt(config.listenHttp, 'http')) this.http.push(await listenDoh(at, resolver, { tcp: config.tcp, doh: config.doh, tls: null, reusePort, clients }).catch(explain(at, 'listenHttp (DoH)')));
    resolver.ddr = this.ddrAnswers();
    // A renewed certificate may carry other names: DDR names what is presented now.
    tls?.onChange.push(() => (resolver.ddr = this.ddrAnswers()));
  }

  /**
   * Where to open the encrypted listeners of one kind: each address bound
   * here, or its passed sockets that this plane adopts. An address passed
   * only to other workers is noted as served elsewhere.
   */
  private openingAt(addresses: readonly HostPort[], kind: 'tls' | 'https' | 'http'): ListenAt[] {
    const out: ListenAt[] = [];
    for (const at of addresses) {
      const passed = passedFor(this.options.passed ?? [], 'tcp', at);
      if (passed.length === 0) out.push(at);
      for (const s of passed) if (s.adopt) out.push({ ...at, fd: s.fd });
      if (passed.length > 0 && !passed.some((s) => s.adopt)) this.elsewhere[kind].push({ address: at.host, port: at.port, family: at.family === 6 ? 'IPv6' : 'IPv4' });
    }
    return out;
  }

  private passedAt(at: ListenAt): PassedSocket | undefined {
    return (this.options.passed ?? []).find((s) => s.fd === at.fd);
  }

  /**
   * RFC 9462 answers naming our DoT and DoH listeners, or null (DDR then
   * stays as the lists decide: NODATA where tag:doh-bypass is blocked).
   * Clients connect to the name the certificate carries, so without a DNS
   * name in it there is nothing to designate.
   */
  private ddrAnswers(): DdrAnswers | null {
    const { tls, https } = this.addresses;
    const endpoints: DdrEndpoint[] = [...tls.map((a) => ({ kind: 'dot' as const, port: a.port })), ...https.map((a) => ({ kind: 'doh' as const, port: a.port }))];
    if (endpoints.length === 0 || this.tlsFiles === null) return null;
    const names = this.tlsFiles.subjectNames;
    if (names.dns.length === 0) {
      this.log.warn({ cert: this.config.tls?.cert }, 'DDR off: the TLS certificate names no DNS name (subjectAltName DNS:...) for clients to verify');
      return null;
    }
    // Hints only for listeners bound to one address; a wildcard listener's address is whatever the client reached.
    const bound = [...tls, ...https].map((a) => a.address).filter((a) => a !== '0.0.0.0' && a !== '::');
    return new DdrAnswers(endpoints, names.dns[0], [...new Set(bound)]);
  }
}

const same = isDeepStrictEqual;

/** A passed socket that could not be adopted (not the kind or family its address says): the error names it. */
function adoptError(err: unknown, passed: PassedSocket, what?: string): Error {
  return new Error(`cannot serve ${what ? `${what} on ` : ''}the passed socket ${describeSocket(passed)}: ${(err as Error).message}`);
}

/** Addresses once each (several passed sockets may serve one address). */
function unique(list: AddressInfo[]): AddressInfo[] {
  const seen = new Set<string>();
  return list.filter((a) => !seen.has(`${a.address} ${a.port}`) && seen.add(`${a.address} ${a.port}`) !== undefined);
}

/**
 * The config one of N workers serves by: 1/N of each process-wide bound, so
 * that N workers together hold what one would: the TCP connections and
 * unread bytes over all clients, and the per-client query rate (the kernel
 * spreads a client's queries over the workers by source port). The cache is
 * one, shared. Per-connection limits stay as they are, and so does
 * tcp.maxPerClient: it is counted over every worker in shared memory
 * (listen/client-counts.ts).
 */
function shareOf(config: ServingConfig, share: number): ServingConfig {
  if (share === 1) return config;
  const part = (n: number, min = 1) => Math.max(min, Math.ceil(n * share));
  const { tcp, rateLimit } = config;
  return {
    ...config,
    tcp: { ...tcp, maxConnections: part(tcp.maxConnections, tcp.maxPerClient), maxUnsentTotal: part(tcp.maxUnsentTotal, tcp.maxUnsent) },
    rateLimit: rateLimit.qps === 0 ? rateLimit : { ...rateLimit, qps: rateLimit.qps * share, burst: part(rateLimit.burst) },
  };
}

/** The plane's cache: attached to the shared one, or its own. */
function newCache(config: ServingConfig, shared?: PlaneOptions['cache']): AnswerCache {
  return shared ? AnswerCache.attach(shared.memory, shared.owner) : new AnswerCache(config.cache);
}

/** The zone table of upstream.zones (a pool per zone, as the default one), or null without zones. */
function newZones(config: ServingConfig, log: Logger): ZoneTable | null {
  const zones = config.upstream.zones;
  return zones.length === 0 ? null : new ZoneTable(zones, (zone) => newUpstreamPool(zone.servers, config, log));
}

/** An upstream pool for `servers`; failed TLS connections (a certificate that does not verify) are logged, at most once per 10 s each. */
function newUpstreamPool(servers: UpstreamAddress[], config: ServingConfig, log: Logger): UpstreamPool {
  const lastLogged = new Map<string, number>();
  return new UpstreamPool(servers, config.upstream.timeout, config.upstream.tls, (message) => {
    const now = performance.now();
    if (now - (lastLogged.get(message) ?? -Infinity) < UPSTREAM_ERROR_LOG_MS) return;
    if (lastLogged.size > 100) lastLogged.clear();
    lastLogged.set(message, now);
    log.warn({ err: message }, 'upstream connection failed; the query goes to the next server, never in clear');
  });
}

const resolverOptions = (config: ServingConfig) => ({
  maxUdpSize: config.maxUdpSize,
  maxConcurrent: config.upstream.maxConcurrent,
  staleAfter: config.cache.serveStale?.clientTimeout ?? null,
});
