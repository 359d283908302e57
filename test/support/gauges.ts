// A daemon's gauges with nothing in them, for tests that build Metrics alone.

import type { DaemonGauges } from '../../src/control/observe/metrics.js';

/** Zeros everywhere; `upstreams` are the configured servers (their latency series exist before any answer). */
export const emptyGauges = (upstreams: string[] = []): DaemonGauges => ({
  cacheEntries: () => 0,
  cacheHits: () => 0,
  cacheMisses: () => 0,
  listEntries: () => [],
  upstreamTimeouts: () => upstreams.map((upstream) => ({ upstream, timeouts: 0 })),
  upstreamDropped: () => ({ spoofed: 0, malformed: 0, failed: 0, overloaded: 0, tcpConnections: 0 }),
  queryLogDropped: () => 0,
  queryLogRows: () => ({ written: 0, rejected: 0 }),
  observerErrors: () => ({}),
  cacheBytes: () => 0,
  resolverTotals: () => ({ stale: 0, overloaded: 0 }),
  tcp: () => ({ open: 0, closed: {} }),
  pausedGroups: () => [],
  rateLimit: () => null,
  filter: () => null,
});
