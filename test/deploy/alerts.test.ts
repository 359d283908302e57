// deploy/prometheus/aifence-rules.yaml: every rule alerts on metrics a
// fresh aifence really exports, with a sample from its first scrape (an
// alert on a series that does not exist yet never fires, and `increase()`
// misses the event that creates a series); the few series that appear with
// their first event are read by rules that count a new series as an event;
// and the compose file's Prometheus loads the file where it mounts it.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { samples, selectors } from '../support/metrics.js';
import { type DaemonProcess, spawnDaemon } from '../support/process.js';
import { TestUpstream } from '../support/upstream.js';

const read = (path: string) => readFileSync(path, 'utf8');
interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules: Rule[] = parseYaml(read('deploy/prometheus/aifence-rules.yaml')).groups.flatMap((g: { rules: Rule[] }) => g.rules);
const names = (expr: string) => [...new Set((expr.match(/aifence_\w+/g) ?? []).map((n) => n.replace(/_(bucket|sum|count)$/, '')))];

/** Labelled counters with no sample until their first event (their label values are not known before it). */
const CREATED_BY_FIRST_EVENT = new Set(['aifence_observer_errors_total', 'aifence_catalogue_updates_total']);
/** Label values with a series of their own only once such an answer was given (a rate over minutes loses only the first). */
const APPEARS_WITH_ANSWERS = new Set(['aifence_queries_total{"rcode":"SERVFAIL"}']);

describe('deploy/prometheus/aifence-rules.yaml', () => {
  it('has alerts with a severity and a summary, and unique names', () => {
    expect(rules.length).toBeGreaterThan(10);
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    for (const r of rules) {
      expect(r.expr, r.alert).toBeTruthy();
      expect(['critical', 'warning', 'info'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
    }
  });

  it('is loaded by the Prometheus of deploy/compose.yaml', () => {
    const compose = parseYaml(read('deploy/compose.yaml'));
    const mounts = new Map((compose.services.prometheus.volumes as string[]).map((v) => v.split(':')).map(([s, t]) => [t, s]));
    const prometheus = parseYaml(read(join('deploy', mounts.get('/etc/prometheus/prometheus.yml')!)));
    const loaded = (prometheus.rule_files as string[]).map((f) => {
      const dir = [...mounts.keys()].find((t) => f.startsWith(`${t}/`))!;
      return join('deploy', mounts.get(dir)!, f.slice(dir.length + 1));
    });
    expect(loaded).toEqual([join('deploy', 'prometheus', 'aifence-rules.yaml')]);
    expect(prometheus.scrape_configs.map((s: { job_name: string }) => s.job_name)).toContain('aifence'); // the rules' up{job="aifence"}
  });
});

describe('deploy/prometheus/aifence-rules.yaml at the first scrape', () => {
  let upstream: TestUpstream;
  let d: DaemonProcess;
  let text: string;
  beforeAll(async () => {
    upstream = await TestUpstream.start();
    d = await spawnDaemon([`upstream: { servers: ["${upstream.address}"] }`, 'groups:', '  default: { block: [service:deepseek] }'].join('\n'));
    const res = await fetch(`http://127.0.0.1:${d.adminPort}/metrics`);
    expect(res.status).toBe(200);
    text = await res.text();
  });
  afterAll(async () => {
    d?.stop();
    await upstream?.close();
  });

  it('names only metrics aifence exports', () => {
    const all = new Set(rules.flatMap((r) => names(r.expr)));
    expect(all.size).toBeGreaterThan(10);
    for (const name of all) expect(text, name).toContain(`# HELP ${name} `);
  });

  it('reads series that have a sample from the first scrape, or counts a new series as an event', () => {
    const exposed = samples(text);
    for (const r of rules) {
      for (const name of names(r.expr)) {
        if (CREATED_BY_FIRST_EVENT.has(name)) {
          expect(exposed.some((s) => s.name === name), `${name} has a sample now: drop it from CREATED_BY_FIRST_EVENT`).toBe(false);
          expect(r.expr, `${r.alert} must count a new ${name} series (offset)`).toMatch(new RegExp(`${name}[^\\n]*offset`));
          continue;
        }
        expect(exposed.some((s) => s.name === name), `${name} in ${r.alert}`).toBe(true);
      }
      for (const { name, matchers } of selectors(r.expr)) {
        if (CREATED_BY_FIRST_EVENT.has(name) || APPEARS_WITH_ANSWERS.has(`${name}${JSON.stringify(matchers)}`)) continue;
        const matching = exposed.filter((s) => s.name === name && Object.entries(matchers).every(([k, v]) => s.labels[k] === v));
        expect(matching.length, `${name}${JSON.stringify(matchers)} in ${r.alert}`).toBeGreaterThan(0);
      }
    }
  });
});
