// The 500-exception cap holds over a fleet, not per instance: 1,000
// concurrent POST /exceptions split over two aifence processes sharing a real
// Redis give exactly 500 × 201 and 500 clear refusals, and what is stored,
// listed and enforced is those 500.

import { spawnSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisServer } from '../support/servers.js';
import { toolsPresent } from '../support/tools.js';
import { TOKEN, type Instance, type Pair, api, startPair, within } from './instances.js';

const present = toolsPresent(['redis-server', 'redis-cli'], 'redis-server');

/** POST /exceptions over a pool of keep-alive connections (the admin API takes at most 128 at a time). */
function post(i: Instance, agent: Agent, n: number): Promise<{ status: number; body: string }> {
  const body = JSON.stringify({ group: 'default', select: 'list:ai', until: '2h', reason: `ticket ${n}` });
  return new Promise((resolve, reject) => {
    const req = request(
      `${i.admin}/exceptions`,
      { method: 'POST', agent, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe.runIf(present)('the runtime exception cap over two instances', () => {
  let fleet: Pair;
  let redis: RedisServer;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    fleet = await startPair('lists:\n  ai: { source: ai.txt }\ngroups:\n  default: { block: [list:ai] }\n', { 'ai.txt': 'chat.banned.test\n' });
    ({ redis, a, b } = fleet);
  }, 60_000);

  afterAll(() => fleet?.stop());

  it('1,000 concurrent POST /exceptions over two instances: exactly 500 created, 500 refused', async () => {
    const agents = [new Agent({ keepAlive: true, maxSockets: 100 }), new Agent({ keepAlive: true, maxSockets: 100 })];
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 1000 }, (_, n) => post(n % 2 ? b : a, agents[n % 2], n)));
    const ms = performance.now() - started;
    for (const agent of agents) agent.destroy();
    const created = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 409);
    console.log(`1,000 concurrent POST /exceptions over two instances: ${created.length} × 201, ${refused.length} × 409 in ${ms.toFixed(0)} ms`);
    expect(created).toHaveLength(500);
    expect(refused).toHaveLength(500);
    expect(JSON.parse(refused[0].body).error).toContain('500 runtime exceptions are in force already (over every instance sharing this Redis)');

    // Every one told 201 exists, and nothing else.
    const ids = new Set(created.map((r) => JSON.parse(r.body).id as string));
    const stored = spawnSync('redis-cli', ['-p', String(redis.port), 'hkeys', 'aifence:exceptions'], { encoding: 'utf8' }).stdout.trim().split('\n');
    expect(new Set(stored)).toEqual(ids);
    for (const i of [a, b]) {
      await within(5000, async () => (await api(i, 'GET', '/exceptions')).body.exceptions.length === 500, `${i.name} lists the 500`);
      const listed = (await api(i, 'GET', '/exceptions')).body.exceptions.map((e: { id: string }) => e.id);
      expect(new Set(listed)).toEqual(ids);
    }

    // Revoking one makes room for exactly one more, whichever instance is asked.
    const [first] = ids;
    expect((await api(b, 'DELETE', `/exceptions/${first}`)).status).toBe(200);
    const again = await Promise.all([post(a, new Agent(), 1001), post(b, new Agent(), 1002), post(a, new Agent(), 1003)]);
    expect(again.map((r) => r.status).sort()).toEqual([201, 409, 409]);
  }, 120_000);
});
