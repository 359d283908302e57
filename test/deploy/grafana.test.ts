// deploy/grafana: the dashboard asks only for metrics aifence really
// exports (scraped from a running daemon), every series it charts has a
// sample at a fresh daemon's first scrape (no "No data" panel until the
// first reload or pause), it reads them through the datasource the
// provisioning creates, and the compose file mounts both where Grafana reads.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { type DaemonProcess, spawnDaemon } from '../support/process.js';
import { TestUpstream } from '../support/upstream.js';
import { samples, selectors } from '../support/metrics.js';

const read = (path: string) => readFileSync(path, 'utf8');
const dashboard = JSON.parse(read('deploy/grafana/dashboards/aifence.json'));
const exprs: string[] = dashboard.panels.flatMap((p: { targets: { expr: string }[] }) => p.targets.map((t) => t.expr));

describe('deploy/grafana', () => {
  let upstream: TestUpstream;
  let d: TestDaemon;
  beforeAll(async () => {
    upstream = await TestUpstream.start();
    d = await startDaemon('', [upstream.address]);
  });
  afterAll(async () => {
    await d.stop();
    await upstream.close();
  });

  it('charts only metrics a running aifence exports', async () => {
    const exposed = (await d.daemon.scrape()).body;
    const names = new Set(exprs.flatMap((e) => e.match(/aifence_[a-z_]+/g) ?? []).map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    expect(names.size).toBeGreaterThan(10);
    for (const name of names) expect(exposed, name).toContain(`# HELP ${name} `);
  });

  it('covers queries and blocks by service and group, cache, upstream latency, reloads and pauses', () => {
    const all = exprs.join('\n');
    for (const needle of ['sum by (service)', 'sum by (group)', 'aifence_cache_hits_total', 'aifence_upstream_latency_seconds_bucket', 'aifence_reloads_total', 'aifence_blocking_paused']) expect(all).toContain(needle);
  });

  it('is provisioned by deploy/compose.yaml with the datasource it names', () => {
    const compose = parseYaml(read('deploy/compose.yaml'));
    const grafana = compose.services.grafana;
    expect(grafana.network_mode).toBe('host');
    const mounts = new Map((grafana.volumes as string[]).map((v) => v.split(':')).map(([s, t]) => [t, s]));
    const provisioning = mounts.get('/etc/grafana/provisioning')!;
    const datasources = parseYaml(read(join('deploy', provisioning, 'datasources/prometheus.yaml'))).datasources;
    const uids = new Set(dashboard.panels.map((p: { datasource: { uid: string } }) => p.datasource.uid));
    expect([...uids]).toEqual([datasources[0].uid]);
    // The datasource is the Prometheus of the same compose file.
    const listen = compose.services.prometheus.command.find((c: string) => c.startsWith('--web.listen-address=')).split('=')[1];
    expect(datasources[0].url).toBe(`http://${listen}`);
    const provider = parseYaml(read(join('deploy', provisioning, 'dashboards/aifence.yaml'))).providers[0];
    expect(mounts.get(provider.options.path)).toBe('./grafana/dashboards');
  });
});

describe('deploy/grafana at the first scrape', () => {
  let upstream: TestUpstream;
  let d: DaemonProcess;
  // Two groups, two upstreams: the label values a dashboard panel splits by are known before any query.
  const known: Record<string, string[]> = {
    group: ['default', 'staff'],
    verdict: ['allowed', 'blocked', 'refused', 'invalid'],
    result: ['success', 'failure'],
    service: ['deepseek', 'openai'],
  };
  beforeAll(async () => {
    upstream = await TestUpstream.start();
    const second = '127.0.0.1:9'; // never asked: the first upstream answers
    known.upstream = [upstream.address, second];
    d = await spawnDaemon(
      [
        `upstream: { servers: ["${upstream.address}", "${second}"] }`,
        'groups:',
        '  default: { block: [service:deepseek] }',
        '  staff: { clients: [10.9.0.0/16], block: [service:openai] }',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    d?.stop();
    await upstream?.close();
  });

  it('has a sample for every series a panel charts, for each known label value it splits by', async () => {
    const res = await fetch(`http://127.0.0.1:${d.adminPort}/metrics`);
    expect(res.status).toBe(200);
    const exposed = samples(await res.text());
    const checked = new Set<string>();
    for (const expr of exprs) {
      for (const { name, matchers, by } of selectors(expr)) {
        const matching = exposed.filter((s) => s.name === name && Object.entries(matchers).every(([k, v]) => s.labels[k] === v));
        expect(matching.length, `${name}${JSON.stringify(matchers)} in ${expr}`).toBeGreaterThan(0);
        for (const label of by.filter((l) => known[l] && !(l in matchers))) {
          // Blocked by service: every service the groups block, under the label the query log and reports use.
          const values = new Set(matching.map((s) => s.labels[label]));
          for (const value of known[label]) expect(values.has(value), `${name}{${label}="${value}"} in ${expr}`).toBe(true);
        }
        checked.add(name);
      }
    }
    for (const name of ['aifence_reloads_total', 'aifence_blocking_paused', 'aifence_runtime_exceptions', 'aifence_upstream_latency_seconds_bucket', 'aifence_ratelimited_total']) expect(checked).toContain(name);
  });
});
