// Metrics of the block page and the access requests: page views by format,
// certificates cached and minted, requests taken, refused and decided,
// requests waiting. Every labelled series has its zero from the first scrape.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { AccessCounts } from '../state/access.js';

export interface BlockPageGauges {
  /** Page views by format; null without a block page. */
  views(): { html: number; json: number } | null;
  certificates(): { cached: number; minted: number } | null;
  requests(): AccessCounts;
  pending(): number;
}

export function registerBlockPageMetrics(registry: Registry, gauges: BlockPageGauges): void {
  new Counter({
    name: 'aifence_blockpage_views_total',
    help: 'Block pages shown: html to browsers, json (status 451) to API clients',
    labelNames: ['format'],
    registers: [registry],
    collect() {
      this.reset();
      const v = gauges.views() ?? { html: 0, json: 0 };
      this.inc({ format: 'html' }, v.html);
      this.inc({ format: 'json' }, v.json);
    },
  });
  new Gauge({
    name: 'aifence_blockpage_certificates',
    help: 'Leaf certificates the HTTPS block page holds (bounded), one per name',
    registers: [registry],
    collect() {
      this.set(gauges.certificates()?.cached ?? 0);
    },
  });
  new Counter({
    name: 'aifence_blockpage_certificates_minted_total',
    help: 'Leaf certificates minted from the organisation CA',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(gauges.certificates()?.minted ?? 0);
    },
  });
  new Counter({
    name: 'aifence_access_requests_total',
    help: 'Access requests by what happened: created on the page, approved, denied, refused (caps, shared state down), limited (a client sending too many)',
    labelNames: ['event'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [event, n] of Object.entries(gauges.requests())) this.inc({ event }, n);
    },
  });
  new Gauge({
    name: 'aifence_access_requests_pending',
    help: 'Access requests waiting for a decision',
    registers: [registry],
    collect() {
      this.set(gauges.pending());
    },
  });
}
