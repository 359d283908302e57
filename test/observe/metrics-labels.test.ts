// Label values a client chooses (query type) or an upstream chooses
// (response code) are folded into a fixed set, so no one can grow /metrics
// without bound: thousands of distinct query types sent over the wire make
// a handful of series and a small scrape.

import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryEvent } from '../../src/shared/events.js';
import { Metrics } from '../../src/control/observe/metrics.js';
import { encodeQuery } from '../support/client.js';
import { emptyGauges } from '../support/gauges.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

let upstream: TestUpstream;
let d: TestDaemon;

beforeAll(async () => {
  upstream = await TestUpstream.start();
  d = await startDaemon('lists:\n  local: { source: blocked.txt }\n', [upstream.address], { files: { 'blocked.txt': 'labels.test\n' } });
});
afterAll(async () => {
  await d.stop();
  await upstream.close();
});

const scrape = async () => (await fetch(`http://127.0.0.1:${d.daemon.adminAddress!.port}/metrics`)).text();

/** Sends one query per type, in batches that wait for their answers; resolves with the number answered. */
async function sendTypes(types: number[]): Promise<number> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  let answered = 0;
  let waiting: (() => void) | null = null;
  let expected = 0;
  sock.on('message', () => {
    answered++;
    if (answered >= expected) waiting?.();
  });
  for (let i = 0; i < types.length; i += 200) {
    const batch = types.slice(i, i + 200);
    expected = answered + batch.length;
    const done = new Promise<void>((r) => {
      waiting = r;
      setTimeout(r, 2000); // a lost datagram must not hang the test; the count below says so
    });
    for (const type of batch) sock.send(encodeQuery('x.labels.test', type), d.port, '127.0.0.1');
    await done;
  }
  sock.close();
  return answered;
}

describe('metric labels', () => {
  it('folds thousands of distinct query types into OTHER: few series, small scrape', async () => {
    const types = [1, 28, 65, ...Array.from({ length: 5000 }, (_, i) => 1000 + i * 11)];
    expect(await sendTypes(types)).toBe(types.length);
    const text = await scrape();
    const series = text.split('\n').filter((l) => l.startsWith('aifence_queries_total{'));
    expect(series.length).toBeLessThanOrEqual(10);
    expect(text).toMatch(/aifence_queries_total\{verdict="blocked",cached="false",group="default",service="list:local",type="OTHER",rcode="NXDOMAIN",transport="udp",worker="0"\} 5000/);
    expect(text).toMatch(/aifence_queries_total\{[^}]*type="HTTPS"[^}]*\} 1/);
    expect(text).not.toMatch(/type="TYPE\d+"/);
    // The whole scrape (process metrics included) stays a few kilobytes, not megabytes.
    expect(text.length).toBeLessThan(32 * 1024);
  });

  it('folds response codes outside the assigned ones into OTHER', async () => {
    const metrics = new Metrics(emptyGauges());
    const e = new QueryEvent();
    e.group = 'default';
    for (let rcode = 0; rcode < 16; rcode++) {
      e.rcode = rcode;
      metrics.observe(e);
    }
    const text = await metrics.registry.metrics();
    const rcodes = [...text.matchAll(/aifence_queries_total\{[^}]*rcode="([^"]+)"[^}]*\} (\d+)/g)].map((m) => [m[1], Number(m[2])]);
    expect(rcodes).toContainEqual(['OTHER', 5]);
    expect(rcodes).toContainEqual(['NOTZONE', 1]);
    expect(rcodes).toHaveLength(12);
  });
});
