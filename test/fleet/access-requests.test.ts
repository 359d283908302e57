// Access requests shared through Redis (two processes): a request made on
// one instance's block page is listed and decided on the other; the approval
// is an exception for that client on both; two admins approving at once make
// one decision; with Redis down a request is refused rather than kept on one
// instance alone.

import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TYPES, query } from '../support/client.js';
import { curl } from '../support/curl.js';
import { toolsPresent } from '../support/tools.js';
import { type Instance, type Pair, api, startPair, within } from './instances.js';

const present = toolsPresent(['redis-server', 'redis-cli', 'curl'], 'redis-server curl');

describe.runIf(present)('access requests through Redis (two processes)', () => {
  let fleet: Pair;
  let a: Instance;
  let b: Instance;
  const pagePort = (i: Instance) => Number(/"http":\["127\.0\.0\.1:(\d+)"\]/.exec(i.output())![1]);

  beforeAll(async () => {
    fleet = await startPair(
      `blocking: { mode: page }
blockPage: { http: ["127.0.0.1:0"], answer: { ipv4: 127.0.0.1 }, requests: on }
lists:
  ai: { source: ai.txt }
groups:
  default: { block: [list:ai] }
`,
      { 'ai.txt': 'chat.banned.test\n' },
    );
    fleet.upstream.behave = () => ({ kind: 'answer', address: '192.0.2.7' });
    ({ a, b } = fleet);
  }, 60_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  /** The page's form on instance `i`, sent from `from` (its token first, from the page). */
  const ask = async (i: Instance, from: string, reason: string) => {
    const port = pagePort(i);
    const target = ['--resolve', `chat.banned.test:${port}:127.0.0.1`, '--interface', from];
    const page = await curl([...target, '-H', 'Accept: text/html', `http://chat.banned.test:${port}/`]);
    const token = /name="token" value="([^"]+)"/.exec(page.body)?.[1] ?? 'none';
    return curl([...target, '-H', 'Accept: text/html', '-H', `Origin: http://chat.banned.test:${port}`, '--data', `token=${token}&reason=${encodeURIComponent(reason)}&duration=1h`, `http://chat.banned.test:${port}/request`]);
  };
  const addressFor = async (i: Instance, from: string) => (await query(i.port, 'chat.banned.test', TYPES.A, { from })).packet.answers.map((r: any) => r.address);

  it('a request made on one instance is approved on the other, for that client on both', async () => {
    expect((await ask(a, '127.0.0.5', 'ticket 4711')).status).toBe(303);
    let listed: any[] = [];
    await within(2000, async () => (listed = (await api(b, 'GET', '/requests')).body.requests).length === 1, 'request listed on b');
    expect(listed[0]).toMatchObject({ client: '127.0.0.5', instance: 'site1-a', status: 'pending', reason: 'ticket 4711' });

    const approved = await api(b, 'POST', `/requests/${listed[0].id}/approve`);
    expect(approved.status).toBe(200);
    expect(approved.body.exception).toMatchObject({ client: '127.0.0.5', instance: 'site1-b' });
    for (const i of [a, b]) await within(2000, async () => (await addressFor(i, '127.0.0.5'))[0] === '192.0.2.7', `approved client let through on ${i.name}`);
    for (const i of [a, b]) expect(await addressFor(i, '127.0.0.6')).toEqual(['127.0.0.1']);
    // Stored with the group `default@127.0.0.5`, which no instance has: one that knows no client exceptions enforces it nowhere, never for the whole group.
    const stored = spawnSync('redis-cli', ['-p', String(fleet.redis.port), 'HGET', 'aifence:exceptions', approved.body.exception.id], { encoding: 'utf8' }).stdout;
    expect(JSON.parse(stored).group).toBe('default@127.0.0.5');
    // The requester's page on the instance that took the request shows the decision.
    const page = () => curl(['--resolve', `chat.banned.test:${pagePort(a)}:127.0.0.1`, '--interface', '127.0.0.5', '-H', 'Accept: text/html', `http://chat.banned.test:${pagePort(a)}/`]);
    await within(2000, async () => (await page()).body.includes('data-status="approved"'), 'the approval shown on a');
    expect((await page()).body).toContain('token holder at 127.0.0.1');
  });

  it('two admins deciding one request at once on two instances make one decision', async () => {
    expect((await ask(b, '127.0.0.8', 'race')).status).toBe(303);
    const id = (await api(a, 'GET', '/requests')).body.requests.find((r: any) => r.client === '127.0.0.8').id;
    const [x, y] = await Promise.all([api(a, 'POST', `/requests/${id}/approve`), api(b, 'POST', `/requests/${id}/deny`)]);
    expect([x.status, y.status].sort()).toEqual([200, 409]);
    const exceptions = (await api(a, 'GET', '/exceptions')).body.exceptions.filter((e: any) => e.client === '127.0.0.8');
    expect(exceptions).toHaveLength(x.status === 200 ? 1 : 0);
  });

  it('with Redis down, a request is refused and nothing is kept on one instance alone', async () => {
    await fleet.redis.stop();
    await within(5000, async () => (await api(a, 'GET', '/readyz')).body.sharedState?.connected === false, 'a sees Redis gone');
    const refused = await ask(a, '127.0.0.9', 'while down');
    expect(refused.status).toBe(503);
    expect(refused.body).toContain('data-notice="refused"');
    expect((await api(a, 'GET', '/requests')).body.requests.some((r: any) => r.client === '127.0.0.9')).toBe(false);
  });
});
