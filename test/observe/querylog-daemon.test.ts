// The query log end to end: the real daemon with the real catalogue on
// loopback, blocked and allowed queries over UDP and TCP, then the lines
// the daemon wrote by the time it stopped.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../src/control/catalogue/index.js';
import { TYPES, query } from '../support/client.js';
import { startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

let upstream: TestUpstream;
beforeAll(async () => {
  upstream = await TestUpstream.start();
});
afterAll(() => upstream.close());

const POLICY = 'groups:\n  default:\n    block: [service:deepseek]\n';
const readLines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('query log in the daemon', () => {
  const catalogue = loadCatalogue();

  it('mode all: one line per answered query, blocked and allowed, flushed at stop', async () => {
    const d = await startDaemon(`${POLICY}queryLog: { mode: all, path: logs/queries.jsonl }\n`, [upstream.address], { catalogue });
    const before = Date.now();
    expect((await query(d.port, 'Chat.DeepSeek.com', TYPES.A)).rcode).toBe(3);
    expect((await query(d.port, 'api.deepseek.com', TYPES.HTTPS, { tcp: true })).rcode).toBe(3);
    expect((await query(d.port, 'allowed.example', TYPES.A)).rcode).toBe(0);
    expect((await query(d.port, 'allowed.example', TYPES.A)).rcode).toBe(0); // from the cache now
    await d.stop();

    const lines = readLines(join(d.dir, 'logs/queries.jsonl'));
    expect(lines).toHaveLength(4);
    const [chat, api, forwarded, cached] = lines;
    expect(chat).toMatchObject({ client: '127.0.0.1', group: 'default', name: 'chat.deepseek.com', type: 'A', verdict: 'blocked', cached: false, service: 'deepseek', list: 'service:deepseek', rcode: 'NXDOMAIN' });
    expect(api).toMatchObject({ name: 'api.deepseek.com', type: 'HTTPS', verdict: 'blocked', service: 'deepseek' });
    expect(forwarded).toMatchObject({ name: 'allowed.example', type: 'A', verdict: 'allowed', cached: false, rcode: 'NOERROR', upstream: upstream.address });
    expect(forwarded).not.toHaveProperty('service');
    expect(cached).toMatchObject({ name: 'allowed.example', verdict: 'allowed', cached: true });
    expect(cached).not.toHaveProperty('upstream');
    for (const line of lines) {
      expect(Date.parse(line.time as string)).toBeGreaterThanOrEqual(before - 1000);
      expect(typeof line.latencyMs).toBe('number');
    }
  });

  it('mode blocked: allowed queries are not written', async () => {
    const d = await startDaemon(`${POLICY}queryLog: { mode: blocked }\n`, [upstream.address], { catalogue });
    await query(d.port, 'deepseek.com', TYPES.A);
    await query(d.port, 'fine.example', TYPES.A);
    await d.stop();
    expect(readLines(join(d.dir, 'aifence-queries.jsonl')).map((l) => [l.name, l.verdict])).toEqual([['deepseek.com', 'blocked']]);
  });

  it('mode off (the default): no file', async () => {
    const d = await startDaemon(POLICY, [upstream.address], { catalogue });
    await query(d.port, 'deepseek.com', TYPES.A);
    await d.stop();
    expect(existsSync(join(d.dir, 'aifence-queries.jsonl'))).toBe(false);
  });
});
