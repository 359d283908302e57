// What a data plane reports to the control plane, as plain data: where it
// listens once bound, and its counters (summed over the worker threads for
// metrics, readiness and the console). Each data-plane part counts into its
// piece of PlaneStats; the control plane only reads them.

import type { AddressInfo } from 'node:net';

/** Where a plane listens, once bound (port 0 resolved). */
export interface PlaneAddresses {
  udp: AddressInfo[];
  tls: AddressInfo[];
  https: AddressInfo[];
  http: AddressInfo[];
}

export interface ResolverStats {
  queries: number;
  blocked: number;
  cacheHits: number;
  forwarded: number;
  shared: number;
  servfail: number;
  refused: number;
  formerr: number;
  dropped: number;
  errors: number;
  /** Answered SERVFAIL (or stale) at once because upstream.maxConcurrent queries were already in flight. */
  overloaded: number;
  /** Answered from an expired cache entry because no upstream answered in time (RFC 8767). */
  stale: number;
}

export interface UpstreamStats {
  /** Replies dropped: wrong source, unknown ID or a question that differs from the one sent. */
  spoofed: number;
  /** Replies from the server asked whose records do not parse: that server failed the query. */
  malformed: number;
  timeouts: number;
  tcpRetries: number;
  /** Replies with SERVFAIL, REFUSED, FORMERR or NOTIMP: the query went to the next server. */
  failed: number;
  /** Queries given up at once because no UDP socket had room or every TCP slot was taken. */
  overloaded: number;
  /** Upstream TCP connections opened (DoT's included). */
  tcpConnections: number;
  /** Upstream DoH (HTTP/2) connections opened. */
  dohConnections: number;
}

/** Why connections were refused or cut short, for tests and operators. */
export interface TcpStats {
  /** Refused at accept: over maxPerClient, or over maxConnections with no idle connection to make room. */
  refused: number;
  /** Reset to make room for a new connection when all maxConnections were open: the one idle longest. */
  evicted: number;
  /** Closed after idleTimeout without a complete query or an answer. */
  idle: number;
  /** Reset after idleTimeout with answers still unread: the client stopped reading (under maxUnsent, else `unread`). */
  stalled: number;
  /** Reset because a query took longer than messageTimeout to arrive. */
  slow: number;
  /** Reset because answers piled up unread over maxUnsent or maxUnsentTotal. */
  unread: number;
  /** Closed because maxLifetime passed. */
  lifetime: number;
  /** Closed after a frame too short to be a DNS message. */
  malformed: number;
}

export const noTcpStats = (): TcpStats => ({ refused: 0, evicted: 0, idle: 0, stalled: 0, slow: 0, unread: 0, lifetime: 0, malformed: 0 });

export interface RateLimitCounts {
  /** Limited queries dropped unanswered (action drop, and the ones slip does not answer). */
  drop: number;
  /** Limited queries answered REFUSED. */
  refused: number;
  /** Limited queries answered TC (slip), so that a real client retries over TCP. */
  slip: number;
  /** Clients pushed out of the table to make room for another. */
  evictions: number;
}

/** What a plane counts, as plain data: summed over planes for metrics and readiness. */
export interface PlaneStats {
  resolver: ResolverStats;
  /** Questions waiting on upstream now. */
  pending: number;
  cache: { entries: number; hits: number; misses: number; bytes: number };
  upstream: UpstreamStats;
  upstreamHealthy: boolean;
  upstreamTimeouts: { upstream: string; timeouts: number }[];
  openSockets: { udp: number; tcp: number };
  rateLimit: { counts: RateLimitCounts; clients: number } | null;
  tcp: { open: number; closed: TcpStats };
  doh: { refused: number; rejected: number };
  /** Failures caught at the resolver's observers (in a worker: the event ring), by observer. */
  observerErrors: Record<string, number>;
}

export const noPlaneStats = (): PlaneStats => ({
  resolver: { queries: 0, blocked: 0, cacheHits: 0, forwarded: 0, shared: 0, servfail: 0, refused: 0, formerr: 0, dropped: 0, errors: 0, overloaded: 0, stale: 0 },
  pending: 0,
  cache: { entries: 0, hits: 0, misses: 0, bytes: 0 },
  upstream: { spoofed: 0, malformed: 0, timeouts: 0, tcpRetries: 0, failed: 0, overloaded: 0, tcpConnections: 0, dohConnections: 0 },
  upstreamHealthy: false,
  upstreamTimeouts: [],
  openSockets: { udp: 0, tcp: 0 },
  rateLimit: null,
  tcp: { open: 0, closed: noTcpStats() },
  doh: { refused: 0, rejected: 0 },
  observerErrors: {},
});

/** Counters of several planes as one. */
export function sumStats(all: readonly PlaneStats[]): PlaneStats {
  const sum = noPlaneStats();
  const timeouts = new Map<string, number>();
  for (const p of all) {
    addInto(sum.resolver, p.resolver);
    addInto(sum.cache, p.cache);
    addInto(sum.upstream, p.upstream);
    addInto(sum.openSockets, p.openSockets);
    addInto(sum.tcp.closed, p.tcp.closed);
    addInto(sum.doh, p.doh);
    addInto(sum.observerErrors, p.observerErrors);
    sum.pending += p.pending;
    sum.tcp.open += p.tcp.open;
    sum.upstreamHealthy ||= p.upstreamHealthy;
    for (const t of p.upstreamTimeouts) timeouts.set(t.upstream, (timeouts.get(t.upstream) ?? 0) + t.timeouts);
    if (p.rateLimit !== null) {
      sum.rateLimit ??= { counts: { drop: 0, refused: 0, slip: 0, evictions: 0 }, clients: 0 };
      addInto(sum.rateLimit.counts, p.rateLimit.counts);
      sum.rateLimit.clients += p.rateLimit.clients;
    }
  }
  sum.upstreamTimeouts = [...timeouts].map(([upstream, n]) => ({ upstream, timeouts: n }));
  return sum;
}

/** Adds every number of `from` into the same key of `into`. */
export function addInto<T extends object>(into: T, from: T): void {
  const a = into as Record<string, number>;
  for (const [k, v] of Object.entries(from)) if (typeof v === 'number') a[k] = (a[k] ?? 0) + v;
}
