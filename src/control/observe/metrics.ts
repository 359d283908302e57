// Prometheus metrics. Per-query counting happens in plain Maps keyed by
// strings the daemon already holds (group and list names) and one packed
// number, and upstream latencies in a typed array, so a query allocates
// nothing and calls no prom-client code; prom-client reads both only when
// scraped.
//
// Every label value is bounded: groups, lists and upstreams come from the
// config, and the query type and response code, which a client chooses, are
// folded into a fixed set (anything else is OTHER). Otherwise a client
// sending every one of the 65,536 query types makes 65,536 series, an 8 MB
// scrape and half a second of DNS stalled per scrape.

import client, { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RateLimitCounts } from '../../shared/plane-stats.js';
import { Rcode, Type } from '../../wire/message.js';
import { rcodeName, typeName } from '../../wire/mnemonics.js';
import type { QueryEvent, QueryObserver, Verdict } from '../../shared/events.js';
import { type FilterSpec, type FilterState, PASS } from '../../shared/filter.js';
import type { BlockMode } from '../../wire/answers.js';

const VERDICTS: readonly Verdict[] = ['allowed', 'blocked', 'refused', 'invalid'];
const TRANSPORTS: readonly QueryEvent['transport'][] = ['udp', 'tcp', 'dot', 'doh'];

/** Query types with their own label: what clients ask day to day, and what tunnels and zone transfers use. */
const LABELLED_TYPES = [1, 2, 5, 6, 10, 12, 15, 16, 28, 33, 35, 39, 43, 48, 52, 64, 65, 99, 251, 252, 255, 256, 257];
const OTHER = 'OTHER';
/** Label index by query type; 0 is OTHER. */
const typeIndex = new Uint8Array(65536);
const TYPE_LABELS = [OTHER, ...LABELLED_TYPES.map(typeName)];
LABELLED_TYPES.forEach((t, i) => (typeIndex[t] = i + 1));
/** Response codes 0-10 by name; the rest of the four bits (11-15, unassigned) are OTHER. */
const RCODE_LABELS = Array.from({ length: 16 }, (_, r) => (r <= 10 ? rcodeName(r) : OTHER));

/** A query's labels but group and list as one number (what the counts are keyed by); collect() unpacks it. */
const packKey = (worker: number, qtype: number, transport: number, rcode: number, cached: boolean, verdict: Verdict): number =>
  (worker << 14) | (typeIndex[qtype] << 9) | (transport << 7) | ((rcode & 15) << 3) | (cached ? 4 : 0) | VERDICTS.indexOf(verdict);

/** What the daemon reports about itself when scraped. */
export interface DaemonGauges {
  cacheEntries(): number;
  cacheHits(): number;
  cacheMisses(): number;
  listEntries(): { list: string; entries: number }[];
  /** Per upstream server: attempts that timed out. */
  upstreamTimeouts(): { upstream: string; timeouts: number }[];
  /** Replies dropped for coming from the wrong place or question (spoofed), or not parsing (malformed). */
  upstreamDropped(): { spoofed: number; malformed: number; failed: number; overloaded: number; tcpConnections: number; dohConnections?: number };
  queryLogDropped(): number;
  /** Query log rows written, and rows the database refused (each alone: the rest of its batch was written). */
  queryLogRows(): { written: number; rejected: number };
  /** Failures caught at an observer's boundary (observe() or its timer), by observer. */
  observerErrors(): Record<string, number>;
  pausedGroups(): string[];
  /** The UDP rate limiter's counts and how many clients it tracks; null without one. */
  rateLimit(): { counts: RateLimitCounts; clients: number } | null;
  /** Bytes the answer cache holds, as counted against cache.maxSize. */
  cacheBytes(): number;
  /** Resolver totals that say it protected itself: answered stale, SERVFAIL at maxConcurrent. */
  resolverTotals(): { stale: number; overloaded: number };
  /** TCP connections open now, and closed or refused by reason. */
  tcp(): { open: number; closed: Record<string, number> };
  /** The filter in force: its groups and what each blocks are the label values known before any query. */
  filter(): { state: FilterState; spec: FilterSpec } | null;
}

const UDP = TRANSPORTS.indexOf('udp');
/** aifence_upstream_latency_seconds' bucket bounds, and where a row of counts keeps its sum and count (after one count beyond the last bound). */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;
const LATENCY_SUM = LATENCY_BUCKETS.length + 1;
const LATENCY_COUNT = LATENCY_BUCKETS.length + 2;
const LATENCY_ROW = LATENCY_BUCKETS.length + 3;
/** The response code of a blocked A query, by block answer. */
const blockRcode = (mode: BlockMode['kind'] | 'nxdomain' | 'nodata'): number => (mode === 'nxdomain' ? Rcode.NXDOMAIN : mode === 'refused' ? Rcode.REFUSED : Rcode.NOERROR);

export class Metrics implements QueryObserver {
  readonly observerName = 'metrics';
  readonly registry = new Registry();
  /** group -> list -> packed (worker, qtype, transport, rcode, cached, verdict) -> count */
  private readonly counts = new Map<string, Map<string, Map<number, number>>>();
  private readonly latency: Histogram<'upstream'>;
  /** Row of each upstream in `latencies`, in the order first named (the order its series are exported in). */
  private readonly latencyRow = new Map<string, number>();
  /** Per upstream: a count per bucket (not cumulative; one more for beyond the last), then sum and count; copied into the histogram when scraped. */
  private latencies = new Float64Array(4 * LATENCY_ROW);
  readonly reloads: Counter<'result'>;
  readonly lastReload: Gauge<'result'>;
  /** Verdict tables whose groups' series have been given their zeros. */
  private readonly seeded = new WeakSet<Int32Array>();

  constructor(private readonly gauges: DaemonGauges) {
    const registry = this.registry;
    client.collectDefaultMetrics({ register: registry, prefix: 'aifence_' });
    const counts = this.counts;
    const seed = () => this.seed();
    new Counter({
      name: 'aifence_queries_total',
      help: 'Answered queries by verdict, group, service (or list), query type, response code, transport and worker thread',
      labelNames: ['verdict', 'cached', 'group', 'service', 'type', 'rcode', 'transport', 'worker'],
      registers: [registry],
      collect() {
        seed();
        this.reset();
        for (const [group, byList] of counts) {
          for (const [list, byKey] of byList) {
            const service = list.startsWith('service:') ? list.slice(8) : list === '' ? '' : `list:${list}`;
            for (const [key, n] of byKey) {
              const labels = { verdict: VERDICTS[key & 3], cached: key & 4 ? 'true' : 'false', group, service, type: TYPE_LABELS[(key >>> 9) & 31], rcode: RCODE_LABELS[(key >>> 3) & 15], transport: TRANSPORTS[(key >>> 7) & 3], worker: String(key >>> 14) };
              this.inc(labels, n);
            }
          }
        }
      },
    });
    this.latency = new Histogram({
      name: 'aifence_upstream_latency_seconds',
      help: 'Time from a query arriving to its forwarded answer, by upstream',
      labelNames: ['upstream'],
      buckets: [...LATENCY_BUCKETS],
      registers: [registry],
      // Every configured upstream has its buckets (at zero) before its first answer.
      collect: () => {
        for (const { upstream } of gauges.upstreamTimeouts()) this.latencyOf(upstream);
        this.exportLatencies();
      },
    });
    // Totals the daemon already keeps: exposed as counters read at scrape time.
    const counter = (name: string, help: string, read: () => number) =>
      new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()); } });
    counter('aifence_upstream_spoofed_total', 'Upstream replies dropped: wrong source, ID or question', () => gauges.upstreamDropped().spoofed);
    counter('aifence_upstream_malformed_total', 'Upstream replies dropped: records that do not parse', () => gauges.upstreamDropped().malformed);
    counter('aifence_upstream_failed_total', 'Upstream replies SERVFAIL, REFUSED, FORMERR or NOTIMP: the query went to the next server', () => gauges.upstreamDropped().failed);
    counter('aifence_upstream_tcp_connections_total', 'Upstream TCP connections opened, DoT included (reused and pipelined)', () => gauges.upstreamDropped().tcpConnections);
    counter('aifence_upstream_doh_connections_total', 'Upstream DNS-over-HTTPS (HTTP/2) connections opened (each carries many queries)', () => gauges.upstreamDropped().dohConnections ?? 0);
    counter('aifence_cache_hits_total', 'Cache lookups that hit', gauges.cacheHits);
    counter('aifence_cache_stale_answers_total', 'Expired answers served because no upstream answered in time (RFC 8767)', () => gauges.resolverTotals().stale);
    counter(
      'aifence_upstream_overloaded_total',
      'Queries answered SERVFAIL at once because upstream.maxConcurrent were in flight or every upstream socket was taken',
      () => gauges.resolverTotals().overloaded + gauges.upstreamDropped().overloaded,
    );
    new Gauge({ name: 'aifence_cache_bytes', help: 'Bytes the answer cache holds (bounded by cache.maxSize)', registers: [registry], collect() { this.set(gauges.cacheBytes()); } });
    new Gauge({ name: 'aifence_tcp_connections', help: 'Open TCP client connections', registers: [registry], collect() { this.set(gauges.tcp().open); } });
    new Counter({
      name: 'aifence_tcp_closed_total',
      help: 'TCP client connections refused or closed by a limit, by reason (refused, evicted, idle, stalled, slow, unread, lifetime, malformed)',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(gauges.tcp().closed)) this.inc({ reason }, n);
      },
    });
    counter('aifence_cache_misses_total', 'Cache lookups that missed', gauges.cacheMisses);
    counter('aifence_querylog_dropped_total', 'Query log entries dropped because the disk could not keep up', gauges.queryLogDropped);
    counter('aifence_querylog_written_total', 'Query log entries written (file lines, or PostgreSQL rows)', () => gauges.queryLogRows().written);
    counter('aifence_querylog_rejected_total', 'Query log rows the database refused, each alone; the rest of its batch was written', () => gauges.queryLogRows().rejected);
    new Counter({
      name: 'aifence_observer_errors_total',
      help: 'Failures caught where a query event meets an observer (metrics, console, querylog, postgres, events) or in its timer; the query was answered regardless',
      labelNames: ['observer'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [observer, n] of Object.entries(gauges.observerErrors())) this.inc({ observer }, n);
      },
    });
    new Counter({
      name: 'aifence_upstream_timeouts_total',
      help: 'Upstream attempts that timed out, by upstream',
      labelNames: ['upstream'],
      registers: [registry],
      collect() {
        this.reset();
        for (const u of gauges.upstreamTimeouts()) this.inc({ upstream: u.upstream }, u.timeouts);
      },
    });
    new Gauge({ name: 'aifence_cache_entries', help: 'Answers in the cache', registers: [registry], collect() { this.set(gauges.cacheEntries()); } });
    new Gauge({
      name: 'aifence_list_entries',
      help: 'Entries loaded per list',
      labelNames: ['list'],
      registers: [registry],
      collect() {
        this.reset();
        for (const l of gauges.listEntries()) this.set({ list: l.list }, l.entries);
      },
    });
    new Gauge({
      name: 'aifence_blocking_paused',
      help: '1 for each group whose blocking is paused',
      labelNames: ['group'],
      registers: [registry],
      collect() {
        this.reset();
        // 0 for every group of the filter, 1 for the paused ones.
        for (const g of gauges.filter()?.state.groups ?? []) this.set({ group: g.name }, 0);
        for (const group of gauges.pausedGroups()) this.set({ group }, 1);
      },
    });
    new Counter({
      name: 'aifence_ratelimited_total',
      help: 'UDP queries over their client\'s rate, by what was done: drop (no answer), refused, slip (TC, retry over TCP)',
      labelNames: ['action'],
      registers: [registry],
      collect() {
        this.reset();
        // Without a rate limit nothing is limited: zeros, so the panel reads 0 rather than "No data".
        const counts = gauges.rateLimit()?.counts;
        for (const action of ['drop', 'refused', 'slip'] as const) this.inc({ action }, counts?.[action] ?? 0);
      },
    });
    counter('aifence_ratelimit_evictions_total', 'Clients pushed out of the full rate-limit table for another', () => gauges.rateLimit()?.counts.evictions ?? 0);
    new Gauge({ name: 'aifence_ratelimit_clients', help: 'Clients (IPv4 addresses, IPv6 /56) in the rate-limit table', registers: [registry], collect() { this.set(gauges.rateLimit()?.clients ?? 0); } });
    this.reloads = new Counter({ name: 'aifence_reloads_total', help: 'Reloads by result', labelNames: ['result'], registers: [registry] });
    for (const result of ['success', 'failure']) this.reloads.inc({ result }, 0);
    this.lastReload = new Gauge({ name: 'aifence_last_reload_timestamp_seconds', help: 'When the last reload finished, by result', labelNames: ['result'], registers: [registry] });
  }

  observe(e: QueryEvent): void {
    const byKey = this.countsOf(e.group, e.list);
    const key = packKey(e.worker, e.qtype, TRANSPORTS.indexOf(e.transport), e.rcode, e.cached, e.verdict);
    byKey.set(key, (byKey.get(key) ?? 0) + 1);
    if (e.upstream !== '') {
      const seconds = e.latencyMs / 1000;
      const row = this.latencyOf(e.upstream);
      let b = 0;
      while (b < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[b]) b++;
      const l = this.latencies;
      l[row + b]++;
      l[row + LATENCY_SUM] += seconds;
      l[row + LATENCY_COUNT]++;
    }
  }

  /** Where one upstream's latency counts start in `latencies`, its row made (at zero) the first time it is named. */
  private latencyOf(upstream: string): number {
    let row = this.latencyRow.get(upstream);
    if (row === undefined) {
      row = this.latencyRow.size * LATENCY_ROW;
      if (row + LATENCY_ROW > this.latencies.length) {
        const grown = new Float64Array(this.latencies.length * 2);
        grown.set(this.latencies);
        this.latencies = grown;
      }
      this.latencyRow.set(upstream, row);
    }
    return row;
  }

  /**
   * The histogram as prom-client prints it, from the counts: its series made
   * afresh (zero) in the order the upstreams were first named, then given
   * their buckets, sum and count. prom-client has no call to set a bucket:
   * its per-series values are written in place (prom-client 15's hashMap).
   */
  private exportLatencies(): void {
    const h = this.latency as unknown as { hashMap: Record<string, { labels: { upstream?: string }; bucketValues: Record<number, number>; sum: number; count: number }> };
    this.latency.reset();
    for (const upstream of this.latencyRow.keys()) this.latency.zero({ upstream });
    const l = this.latencies;
    for (const series of Object.values(h.hashMap)) {
      const row = this.latencyRow.get(series.labels.upstream ?? '');
      if (row === undefined) continue;
      LATENCY_BUCKETS.forEach((bound, b) => (series.bucketValues[bound] = l[row + b]));
      series.sum = l[row + LATENCY_SUM];
      series.count = l[row + LATENCY_COUNT];
    }
  }

  /**
   * Zeros for the query series known before any query: per group, its
   * allowed answers and a block by each list it blocks; refused and invalid
   * queries (no group). An A query over UDP from worker 0, the labels most
   * real queries carry, so the zero is the series they count in. Once per
   * verdict table: a reload or pause brings new ones, and counts are never
   * removed.
   */
  private seed(): void {
    const filter = this.gauges.filter();
    if (filter === null) return;
    const { state, spec } = filter;
    let any = false;
    state.groups.forEach((g, i) => {
      if (this.seeded.has(g.verdicts)) return;
      this.seeded.add(g.verdicts);
      any = true;
      this.zero(g.name, '', 'allowed', Rcode.NOERROR);
      const lists = new Set<number>();
      for (const list of g.verdicts) if (list !== PASS) lists.add(list);
      const answer = spec.groups[i]?.answer.kind ?? 'nxdomain';
      for (const list of lists) {
        const name = state.matcher.lists[list]?.name;
        if (name !== undefined) this.zero(g.name, name, 'blocked', blockRcode(spec.listAnswers[list] ?? answer));
      }
    });
    if (!any) return;
    this.zero('', '', 'refused', Rcode.REFUSED);
    this.zero('', '', 'invalid', Rcode.FORMERR);
  }

  private zero(group: string, list: string, verdict: Verdict, rcode: number): void {
    const byKey = this.countsOf(group, list);
    const key = packKey(0, Type.A, UDP, rcode, false, verdict);
    if (!byKey.has(key)) byKey.set(key, 0);
  }

  private countsOf(group: string, list: string): Map<number, number> {
    let byList = this.counts.get(group);
    if (byList === undefined) this.counts.set(group, (byList = new Map()));
    let byKey = byList.get(list);
    if (byKey === undefined) byList.set(list, (byKey = new Map()));
    return byKey;
  }

  reloaded(ok: boolean): void {
    const result = ok ? 'success' : 'failure';
    this.reloads.inc({ result });
    this.lastReload.set({ result }, Date.now() / 1000);
  }
}
