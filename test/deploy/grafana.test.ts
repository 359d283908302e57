// deploy/grafana: the dashboard asks only for metrics aifence really
// exports (scraped from a running daemon), through the datasource the
// provisioning creates, and the compose file mounts both where Grafana reads.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

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
