// The admin HTTP API on loopback: probes, metrics after real queries,
// reload, a pause that resumes by itself, check, and the bearer token.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../src/control/catalogue/index.js';
import { TYPES, query } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

let upstream: TestUpstream;
let d: TestDaemon;
let now = Date.UTC(2026, 10, 23, 12);

const CONFIG = `
groups:
  default:
    block: [service:deepseek]
  lab:
    clients: [127.0.0.5/32]
    block: [tag:genai]
`;

beforeAll(async () => {
  upstream = await TestUpstream.start();
  d = await startDaemon(CONFIG, [upstream.address], { catalogue: loadCatalogue(), clock: () => now });
});
afterAll(async () => {
  await d.stop();
  await upstream.close();
});

/** With the token generated into dataDir: reload and pause always need it. */
const api = (path: string, init: RequestInit = {}) => {
  const token = readFileSync(join(d.dir, 'data', 'admin.token'), 'utf8').trim();
  return fetch(`http://127.0.0.1:${d.daemon.adminAddress!.port}${path}`, { ...init, headers: { authorization: `Bearer ${token}` } });
};

describe('admin API', () => {
  it('answers health and readiness probes', async () => {
    expect((await api('/healthz')).status).toBe(200);
    const ready = await api('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, listening: true, listsCompiled: true, draining: false, upstreamAnswering: true, paused: [] });
  });

  it('exposes Prometheus metrics counted from real queries', async () => {
    await query(d.port, 'chat.deepseek.com');
    await query(d.port, 'metrics.example');
    await query(d.port, 'metrics.example');
    const text = await (await api('/metrics')).text();
    expect(text).toMatch(/aifence_queries_total\{verdict="blocked",cached="false",group="default",service="deepseek",type="A",rcode="NXDOMAIN",transport="udp",worker="0"\} 1/);
    expect(text).toMatch(/aifence_queries_total\{verdict="allowed",cached="true",group="default",service="",type="A",rcode="NOERROR",transport="udp",worker="0"\} 1/);
    expect(text).toMatch(/aifence_upstream_latency_seconds_count\{upstream="127\.0\.0\.1:\d+"\} 1/);
    expect(text).toMatch(/aifence_cache_hits_total 1/);
    expect(text).toMatch(/aifence_list_entries\{list="service:deepseek"\} \d+/);
    expect(text).toMatch(/aifence_process_resident_memory_bytes/);
  });

  it('reloads on POST /reload and counts it', async () => {
    const r = await api('/reload', { method: 'POST' });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ ok: true });
    expect(await (await api('/metrics')).text()).toMatch(/aifence_reloads_total\{result="success"\} 1/);
  });

  it('pauses blocking for one group, visible in readyz and metrics, and resumes by itself', async () => {
    const from = '127.0.0.5';
    expect((await query(d.port, 'claude.ai', TYPES.A, { from })).rcode).toBe(3);
    const r = await api('/pause?minutes=10&group=lab', { method: 'POST' });
    expect(await r.json()).toMatchObject({ paused: [{ group: 'lab' }] });
    expect((await query(d.port, 'claude.ai', TYPES.A, { from })).rcode).toBe(0);
    expect((await query(d.port, 'chat.deepseek.com')).rcode).toBe(3); // default is not paused
    expect(((await (await api('/readyz')).json()) as { paused: unknown }).paused).toEqual([{ group: 'lab', until: new Date(now + 600_000).toISOString() }]);
    expect(await (await api('/metrics')).text()).toMatch(/aifence_blocking_paused\{group="lab"\} 1/);
    expect(await (await api('/check?name=claude.ai&client=127.0.0.5')).json()).toMatchObject({ verdict: 'allowed', group: 'lab', paused: true });
    now += 601_000;
    d.daemon.refreshPolicy();
    expect((await query(d.port, 'claude.ai', TYPES.A, { from })).rcode).toBe(3);
    expect((await api('/pause?group=nope', { method: 'POST' })).status).toBe(404);
    expect((await api('/pause?minutes=soon', { method: 'POST' })).status).toBe(400);
  });

  it('checks a name for a client like the CLI does', async () => {
    const r = await (await api('/check?name=claude.ai&client=127.0.0.5')).json();
    expect(r).toMatchObject({ name: 'claude.ai', verdict: 'blocked', group: 'lab', service: 'claude', rule: { select: 'tag:genai' } });
    expect((await api('/check')).status).toBe(400);
  });
});

describe('admin token', () => {
  it('requires the bearer token for everything but the probes', async () => {
    const t = await startDaemon('admin: { listen: "127.0.0.1:0", token: s3cret }\n', [upstream.address]);
    try {
      const base = `http://127.0.0.1:${t.daemon.adminAddress!.port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/metrics`)).status).toBe(401);
      expect((await fetch(`${base}/reload`, { method: 'POST', headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
    } finally {
      await t.stop();
    }
  });
});
