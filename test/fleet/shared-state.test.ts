// Two aifence processes sharing one real Redis: a pause and an exception
// made through one are in force on the other within a second; with Redis
// killed both keep enforcing the last state; restarted, both resync.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisServer } from '../support/servers.js';
import { toolsPresent } from '../support/tools.js';
import { type Instance, type Pair, api, rcodeOf, startPair, within } from './instances.js';

const NOERROR = 0;
const NXDOMAIN = 3;
const present = toolsPresent(['redis-server', 'redis-cli'], 'redis-server');

describe.runIf(present)('shared runtime state through Redis (two processes)', () => {
  let fleet: Pair;
  let redis: RedisServer;
  let a: Instance;
  let b: Instance;
  const delays: number[] = [];

  beforeAll(async () => {
    fleet = await startPair('lists:\n  ai: { source: ai.txt }\n  more: { source: more.txt }\ngroups:\n  default: { block: [list:ai, list:more] }\n', {
      'ai.txt': 'chat.banned.test\n',
      'more.txt': 'other.banned.test\n',
    });
    ({ redis, a, b } = fleet);
  }, 60_000);

  afterAll(async () => {
    await fleet?.stop();
    if (delays.length > 0) console.log(`propagation delay (ms, change on one instance -> answer on the other): ${delays.map((d) => d.toFixed(0)).join(', ')}`);
  });

  it('an exception added on one instance is in force on the other within a second, and its revocation too', async () => {
    expect(await rcodeOf(a, 'chat.banned.test')).toBe(NXDOMAIN);
    expect(await rcodeOf(b, 'chat.banned.test')).toBe(NXDOMAIN);
    const start = performance.now();
    const added = await api(a, 'POST', '/exceptions', { group: 'default', select: 'list:ai', until: '2h', reason: 'ticket 4711: evaluation', author: 'alice' });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ group: 'default', select: 'list:ai', reason: 'ticket 4711: evaluation', author: 'alice', instance: 'site1-a' });
    await within(1000, async () => (await rcodeOf(b, 'chat.banned.test')) === NOERROR, 'exception in force on b');
    delays.push(performance.now() - start);
    expect(await rcodeOf(a, 'chat.banned.test')).toBe(NOERROR);
    // Listed alike on both, with author, reason and expiry.
    const listed = (await api(b, 'GET', '/exceptions')).body.exceptions;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ id: added.body.id, author: 'alice', instance: 'site1-a' });
    expect(Date.parse(listed[0].until) - Date.now()).toBeGreaterThan(7_000_000);

    const revokeStart = performance.now();
    expect((await api(b, 'DELETE', `/exceptions/${added.body.id}`)).status).toBe(200);
    await within(1000, async () => (await rcodeOf(a, 'chat.banned.test')) === NXDOMAIN, 'revocation in force on a');
    delays.push(performance.now() - revokeStart);
    expect((await api(a, 'GET', '/exceptions')).body.exceptions).toEqual([]);
  });

  it('refuses exceptions without the token, or with a bad group, selector or expiry', async () => {
    const body = { group: 'default', select: 'list:ai', until: '2h', reason: 'x' };
    expect((await api(a, 'POST', '/exceptions', body, null)).status).toBe(401);
    expect((await api(a, 'POST', '/exceptions', body, 'wrong')).status).toBe(401);
    expect((await api(a, 'DELETE', '/exceptions/0123456789ab', undefined, null)).status).toBe(401);
    const bad = async (patch: object) => api(a, 'POST', '/exceptions', { ...body, ...patch });
    expect((await bad({ group: 'nope' })).body.error).toContain('is not a group; groups: default');
    expect((await bad({ select: 'list:aj' })).status).toBe(400);
    expect((await bad({ until: '2027-01-01T00:00:00Z'.replace('2027', '2020') })).body.error).toContain('in the past');
    expect((await bad({ until: '400d' })).status).toBe(400);
    expect((await bad({ reason: '' })).body.error).toContain('reason');
    expect((await api(a, 'DELETE', '/exceptions/0123456789ab')).status).toBe(404);
    expect((await api(a, 'GET', '/exceptions')).body.exceptions).toEqual([]);
  });

  it('a pause made on one instance is in force on the other within a second; resume too', async () => {
    const start = performance.now();
    expect((await api(b, 'POST', '/pause?minutes=5')).status).toBe(200);
    await within(1000, async () => (await rcodeOf(a, 'other.banned.test')) === NOERROR, 'pause in force on a');
    delays.push(performance.now() - start);
    expect((await api(a, 'GET', '/readyz')).body.paused).toEqual([{ group: 'default', until: expect.any(String) }]);
    const resumeStart = performance.now();
    expect((await api(a, 'POST', '/resume')).status).toBe(200);
    await within(1000, async () => (await rcodeOf(b, 'other.banned.test')) === NXDOMAIN, 'resume in force on b');
    delays.push(performance.now() - resumeStart);
  });

  it('with Redis killed both keep enforcing the last state and say so; restarted, both resync', async () => {
    const added = await api(a, 'POST', '/exceptions', { group: 'default', select: 'list:ai', until: '1h', reason: 'before the outage' });
    expect(added.status).toBe(201);
    await within(1000, async () => (await rcodeOf(b, 'chat.banned.test')) === NOERROR, 'exception in force on b');

    await redis.kill();
    for (const i of [a, b]) await within(5000, async () => (await api(i, 'GET', '/readyz')).body.sharedState?.connected === false, `${i.name} notices`);
    for (const i of [a, b]) {
      const ready = await api(i, 'GET', '/readyz');
      expect(ready.status).toBe(200); // still serving: not taken out of a Service
      expect(await rcodeOf(i, 'chat.banned.test')).toBe(NOERROR); // the exception still in force
      const metrics = (await api(i, 'GET', '/metrics')).body as string;
      expect(metrics).toMatch(/aifence_shared_state_connected\{backend="redis"\} 0/);
      expect(metrics).toMatch(/aifence_runtime_exceptions\{group="default"\} 1/);
    }
    // A change that could not reach the other instance is refused, not applied on one alone.
    const refused = await api(a, 'POST', '/pause?minutes=5');
    expect(refused.status).toBe(503);
    expect(refused.body.error).toContain('Redis');
    expect(await rcodeOf(a, 'other.banned.test')).toBe(NXDOMAIN);

    // Back, empty (no persistence): both reconnect and adopt what Redis holds, and changes flow again.
    await redis.restart();
    for (const i of [a, b]) await within(10_000, async () => (await api(i, 'GET', '/readyz')).body.sharedState?.connected === true, `${i.name} reconnects`);
    for (const i of [a, b]) await within(2000, async () => (await rcodeOf(i, 'chat.banned.test')) === NXDOMAIN, `${i.name} resyncs`);
    const start = performance.now();
    expect((await api(a, 'POST', '/pause?minutes=5')).status).toBe(200);
    await within(1000, async () => (await rcodeOf(b, 'other.banned.test')) === NOERROR, 'pause after the restart in force on b');
    delays.push(performance.now() - start);
    expect((await api(b, 'POST', '/resume')).status).toBe(200);
  }, 40_000);

  it('POST /reload?all=1 reloads every instance', async () => {
    const before = (await api(b, 'GET', '/metrics')).body as string;
    const count = (text: string) => Number(/aifence_reloads_total\{result="success"\} (\d+)/.exec(text)?.[1] ?? 0);
    const r = await api(a, 'POST', '/reload?all=1');
    expect(r.status).toBe(200);
    expect(r.body.broadcast).toBe(true);
    await within(3000, async () => count((await api(b, 'GET', '/metrics')).body) > count(before), 'b reloads');
  });
});
