// The upstream latency histogram is counted in a typed array per query and
// handed to prom-client only when scraped: what /metrics prints must be
// what prom-client's own Histogram prints for the same observations (bucket
// bounds, cumulative counts, +Inf, sum to the last bit, series order).

import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/control/observe/metrics.js';
import { QueryEvent } from '../../src/shared/events.js';
import { emptyGauges } from '../support/gauges.js';


const section = (text: string) => text.split('\n\n').find((s) => s.includes('# TYPE aifence_upstream_latency_seconds histogram'))?.trim();

describe('upstream latency histogram', () => {
  it('prints what prom-client prints for the same observations, scrape after scrape', async () => {
    const configured = ['192.0.2.1:53', '[2001:db8::1]:53', 'tls://dns.example:853'];
    const metrics = new Metrics(emptyGauges(configured));
    const registry = new Registry();
    const reference = new Histogram({
      name: 'aifence_upstream_latency_seconds',
      help: 'Time from a query arriving to its forwarded answer, by upstream',
      labelNames: ['upstream'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
    const e = new QueryEvent();
    e.group = 'default';
    // An upstream first named by an answer (a zone's server) before any scrape, then the configured ones at the first scrape.
    const observe = (upstream: string, ms: number) => {
      e.upstream = upstream;
      e.latencyMs = ms;
      metrics.observe(e);
      reference.observe({ upstream }, ms / 1000);
    };
    observe('198.51.100.7:53', 3.3);
    for (const u of configured) reference.zero({ upstream: u });
    expect(section(await metrics.registry.metrics())).toBe(section(await registry.metrics()));
    // Every bucket edge, below the first and beyond the last, and sums that round.
    const values = [0, 0.4, 1, 1.0000001, 2.5, 7.1, 10, 25, 49.9, 50, 99, 250, 500, 999.9, 1000, 2500, 2500.1, 9000, 0.1 + 0.2];
    values.forEach((ms, i) => observe(configured[i % 3], ms));
    expect(section(await metrics.registry.metrics())).toBe(section(await registry.metrics()));
    for (let i = 0; i < 1000; i++) observe(configured[i % 2], (i * 7.3) % 3000);
    const text = section(await metrics.registry.metrics());
    expect(text).toBe(section(await registry.metrics()));
    expect(text).toMatch(/aifence_upstream_latency_seconds_count\{upstream="192\.0\.2\.1:53"\} 507/);
  });
});
