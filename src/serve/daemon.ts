// Assembling the daemon: filter state, cache, upstream pool and listeners,
// and taking them down gracefully.

import type { Socket as UdpSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import type { Catalogue } from '../catalogue/index.js';
import type { Config } from '../config/schema.js';
import type { HostPort } from '../net/address.js';
import type { Logger } from '../observe/logger.js';
import { buildFilter } from '../policy/state.js';
import { AnswerCache } from '../resolve/cache.js';
import { Resolver } from '../resolve/resolver.js';
import { UpstreamPool } from '../resolve/upstream.js';
import { type TcpListener, listenTcp } from './tcp.js';
import { listenUdp } from './udp.js';

export interface DaemonOptions {
  log: Logger;
  /** Replaces `config.listen` (the CLI's --listen). */
  listen?: HostPort[];
  /** How long shutdown waits for queries in flight. */
  drainMs?: number;
  /** The AI-service catalogue (default: the package's blocklists/). */
  catalogue?: Catalogue;
  /** Wall-clock milliseconds, for exceptions that expire and schedules; injectable for tests. */
  clock?: () => number;
}

export class Daemon {
  private draining = false;
  private policyTimer: NodeJS.Timeout | undefined;

  private constructor(
    readonly resolver: Resolver,
    readonly upstream: UpstreamPool,
    readonly cache: AnswerCache,
    private readonly udp: UdpSocket[],
    private readonly tcp: TcpListener[],
    private readonly log: Logger,
    private readonly drainMs: number,
    private readonly clock: () => number,
  ) {}

  static async start(config: Config, options: DaemonOptions): Promise<Daemon> {
    const { log } = options;
    const drainMs = options.drainMs ?? 3000;
    const started = performance.now();
    const clock = options.clock ?? Date.now;
    const filter = await buildFilter(config, options.catalogue, clock());
    for (const report of filter.lists.reports) {
      if (report.rejected > 0) log.warn({ list: report.name, rejected: report.rejected, samples: report.samples }, 'list lines rejected');
    }
    const upstream = new UpstreamPool(config.upstream.servers, config.upstream.timeout);
    await upstream.start();
    const cache = new AnswerCache(config.cache);
    const resolver = new Resolver(filter.state, cache, upstream, log);
    const udp: UdpSocket[] = [];
    const tcp: TcpListener[] = [];
    const daemon = new Daemon(resolver, upstream, cache, udp, tcp, log, drainMs, clock);
    daemon.refreshPolicy();
    try {
      for (const at of options.listen ?? config.listen) {
        const [socket, listener] = await listenBoth(at, resolver, () => daemon.draining, drainMs);
        udp.push(socket);
        tcp.push(listener);
      }
    } catch (err) {
      await daemon.stop();
      throw err;
    }
    log.info(
      {
        listen: daemon.addresses.map((a) => `${a.address}:${a.port}`),
        upstream: config.upstream.servers.map((s) => `${s.host}:${s.port}`),
        lists: filter.lists.reports.length,
        entries: filter.lists.reports.reduce((n, r) => n + r.entries, 0),
        matcherBytes: filter.state.matcher.byteSize,
        startMs: Math.round(performance.now() - started),
      },
      'aifence serving',
    );
    return daemon;
  }

  /** The bound UDP addresses (the TCP listeners share them). */
  get addresses(): AddressInfo[] {
    return this.udp.map((s) => s.address());
  }

  /**
   * Applies exceptions that lapsed and schedules that opened or closed since
   * the last look, then sets a timer for the next change: no reload needed.
   */
  refreshPolicy(): void {
    clearTimeout(this.policyTimer);
    const policy = this.resolver.state.policy;
    const now = this.clock();
    for (const c of policy.refresh(now)) {
      this.log.info({ group: c.group, kind: c.kind, select: c.rule.select, until: c.rule.untilText, reason: c.rule.reason, schedule: c.rule.schedule?.text }, `policy rule ${c.change}`);
    }
    const next = policy.nextChange(now);
    // Capped so that a clock that jumps (suspend, NTP step) is caught within the hour.
    if (next !== undefined) this.policyTimer = setTimeout(() => this.refreshPolicy(), Math.min(next - now, 3_600_000)).unref();
  }

  /** Stops accepting, lets queries in flight finish (up to drainMs), then closes everything. */
  async stop(): Promise<void> {
    clearTimeout(this.policyTimer);
    this.draining = true;
    for (const t of this.tcp) t.stopAccepting();
    const deadline = performance.now() + this.drainMs;
    while (this.resolver.pending > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (this.resolver.pending > 0) this.log.warn({ pending: this.resolver.pending }, 'stopped with queries unanswered');
    for (const s of this.udp) s.close();
    for (const t of this.tcp) t.closeConnections();
    this.upstream.close();
  }
}

/**
 * UDP and TCP on one address. With port 0 (tests) TCP takes the port the
 * kernel gave UDP; if something already holds that TCP port, try another.
 */
async function listenBoth(at: HostPort, resolver: Resolver, draining: () => boolean, drainMs: number): Promise<[UdpSocket, TcpListener]> {
  for (let attempt = 0; ; attempt++) {
    const socket = await listenUdp(at, resolver, draining);
    try {
      return [socket, await listenTcp({ ...at, port: socket.address().port }, resolver, drainMs)];
    } catch (err) {
      socket.close();
      if (at.port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 10) throw err;
    }
  }
}
