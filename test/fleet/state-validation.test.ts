// What two aifence processes read back from a real Redis is held to the admin
// API's rules: a pause or exception written straight into Redis (redis-cli,
// as anyone with access to it could) beyond the API's ranges, for a group or
// selector the instance does not know, or unreadable, is not in force and not
// listed, and each is logged once however often the state is read again.
// Each instance's copy in dataDir follows its own changes too.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisServer } from '../support/servers.js';
import { toolsPresent } from '../support/tools.js';
import { type Instance, type Pair, api, rcodeOf, startPair, within } from './instances.js';

const NOERROR = 0;
const NXDOMAIN = 3;
const DAY = 86_400_000;
const present = toolsPresent(['redis-server', 'redis-cli'], 'redis-server');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A named admin's token (admin.tokens.alice). */
const ALICE = 'alice-token-0123456789abcdef';

describe.runIf(present)('shared state read back from Redis is checked like the admin API (two processes)', () => {
  let fleet: Pair;
  let redis: RedisServer;
  let dir: string;
  let a: Instance;
  let b: Instance;

  const cli = (...args: string[]) => {
    const r = spawnSync('redis-cli', ['-p', String(redis.port), ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  /** What an attacker with access to Redis does: write, then announce it. */
  const write = (hash: 'pauses' | 'exceptions', field: string, value: string) => {
    cli('hset', `aifence:${hash}`, field, value);
    cli('publish', 'aifence:changes', '{"kind":"state"}');
  };
  const metric = async (i: Instance, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec((await api(i, 'GET', '/metrics')).body)?.[1] ?? 0);
  const exception = (id: string, patch: object) =>
    JSON.stringify({ id, group: 'default', select: 'list:ai', until: Date.now() + 3_600_000, reason: 'written by hand', author: 'mallory', instance: 'site1-a', created: Date.now(), ...patch });

  beforeAll(async () => {
    const alice = createHash('sha256').update(ALICE).digest('hex');
    fleet = await startPair('lists:\n  ai: { source: ai.txt }\ngroups:\n  default: { block: [list:ai] }\n', { 'ai.txt': 'chat.banned.test\n' }, `, tokens: { alice: { sha256: ${alice} } }`);
    ({ redis, dir, a, b } = fleet);
  }, 60_000);

  afterAll(() => fleet?.stop());

  it('a pause beyond 7 days written into Redis does not pause blocking anywhere, and is logged once', async () => {
    // The red team's: until the year 275760.
    write('pauses', 'default', '8640000000000000');
    await sleep(500);
    for (const i of [a, b]) {
      expect(await rcodeOf(i, 'chat.banned.test'), i.name).toBe(NXDOMAIN);
      expect((await api(i, 'GET', '/readyz')).body.paused, i.name).toEqual([]);
    }
    // Just past the API's 10,080 minutes (and the 5 minutes allowed for clocks that differ): refused too.
    write('pauses', 'default', String(Date.now() + 7 * DAY + 6 * 60_000));
    await sleep(500);
    for (const i of [a, b]) expect(await rcodeOf(i, 'chat.banned.test'), i.name).toBe(NXDOMAIN);
    for (const i of [a, b]) await within(2000, async () => (await metric(i, 'aifence_shared_state_ignored_entries')) === 1, `${i.name} counts the ignored pause`);

    // Read again and again (each publish is a read): still one line per entry.
    for (let n = 0; n < 3; n++) cli('publish', 'aifence:changes', '{"kind":"state"}');
    await sleep(500);
    for (const i of [a, b]) {
      const lines = i.output().split('\n').filter((l) => l.includes('pause stored in Redis ignored'));
      expect(lines, i.name).toHaveLength(2); // the two values above, once each
      expect(lines[0]).toContain('+275760');
    }

    // Within the range, a pause written the same way is a pause: the checks refuse only what the API would.
    write('pauses', 'default', String(Date.now() + 3_600_000));
    for (const i of [a, b]) await within(1000, async () => (await rcodeOf(i, 'chat.banned.test')) === NOERROR, `${i.name} pauses`);
    write('pauses', 'nogroup', String(Date.now() + 3_600_000)); // a group no instance has
    cli('hdel', 'aifence:pauses', 'default');
    cli('publish', 'aifence:changes', '{"kind":"state"}');
    for (const i of [a, b]) await within(1000, async () => (await rcodeOf(i, 'chat.banned.test')) === NXDOMAIN, `${i.name} resumes`);
    for (const i of [a, b]) expect((await api(i, 'GET', '/readyz')).body.paused, i.name).toEqual([]);
    cli('del', 'aifence:pauses');
  });

  it('exceptions written into Redis beyond 90 days, for a selector or group not known, or unreadable, are not in force and not listed', async () => {
    const bad: Record<string, string> = {
      '0000000000a1': exception('0000000000a1', { until: 8640000000000000 }),
      '0000000000a2': exception('0000000000a2', { until: Date.now() + 200 * DAY }),
      '0000000000a3': exception('0000000000a3', { until: Date.now() + 90 * DAY + 3_600_000 }),
      '0000000000a4': exception('0000000000a4', { select: 'list:nonsense' }),
      '0000000000a5': exception('0000000000a5', { select: 'no such selector at all' }),
      '0000000000a6': exception('0000000000a6', { group: 'nogroup' }),
      '0000000000a7': exception('0000000000a7', { reason: 'line one\nline two' }),
      '0000000000a8': exception('0000000000a9', {}), // its id is not its field
      '0000000000aa': '{not json',
      'not-an-id': exception('not-an-id', {}),
    };
    for (const [field, value] of Object.entries(bad)) cli('hset', 'aifence:exceptions', field, value);
    cli('publish', 'aifence:changes', '{"kind":"state"}');
    await sleep(500);
    for (const i of [a, b]) {
      expect(await rcodeOf(i, 'chat.banned.test'), i.name).toBe(NXDOMAIN);
      expect((await api(i, 'GET', '/exceptions')).body.exceptions, i.name).toEqual([]);
      expect((await api(i, 'GET', '/readyz')).body.exceptions ?? [], i.name).toEqual([]);
      expect((await api(i, 'GET', '/metrics')).body, i.name).toMatch(/^aifence_runtime_exceptions\{group="default"\} 0$/m);
    }
    for (const i of [a, b]) await within(2000, async () => (await metric(i, 'aifence_shared_state_ignored_entries')) === 10, `${i.name} counts the ignored exceptions`);
    for (let n = 0; n < 3; n++) cli('publish', 'aifence:changes', '{"kind":"state"}');
    await sleep(500);
    for (const i of [a, b]) expect(i.output().split('\n').filter((l) => l.includes('exception stored in Redis ignored')), i.name).toHaveLength(10);

    // One written by hand within every rule is an exception like one made through the API.
    write('exceptions', '0000000000b1', exception('0000000000b1', {}));
    for (const i of [a, b]) await within(1000, async () => (await rcodeOf(i, 'chat.banned.test')) === NOERROR, `${i.name} applies the good one`);
    expect((await api(b, 'GET', '/exceptions')).body.exceptions.map((e: { id: string }) => e.id)).toEqual(['0000000000b1']);
    // An ignored one can still be revoked by id (the admin cleaning up).
    expect((await api(a, 'DELETE', '/exceptions/0000000000a2')).status).toBe(200);
    expect(cli('hexists', 'aifence:exceptions', '0000000000a2')).toBe('0');
    cli('del', 'aifence:exceptions');
    cli('publish', 'aifence:changes', '{"kind":"state"}');
    for (const i of [a, b]) await within(1000, async () => (await rcodeOf(i, 'chat.banned.test')) === NXDOMAIN, `${i.name} drops it`);
  });

  it('an exception at every limit of the API, made by a named admin, is in force on the other instance: the checks refuse only what the API would', async () => {
    // 500 characters of 3-byte UTF-8 each for the reason and the author, which a named admin's name then precedes.
    const long = '漢'.repeat(500);
    const made = await api(a, 'POST', '/exceptions', { group: 'default', select: 'list:ai', until: '90d', reason: long, author: long }, ALICE);
    expect(made.status).toBe(201);
    expect(made.body.author).toBe(`alice for ${long}`);
    await within(1000, async () => (await rcodeOf(b, 'chat.banned.test')) === NOERROR, 'in force on b');
    expect((await api(b, 'GET', '/exceptions')).body.exceptions.map((e: { id: string }) => e.id)).toEqual([made.body.id]);
    expect(await metric(b, 'aifence_shared_state_ignored_entries')).toBe(0);
    expect((await api(b, 'DELETE', `/exceptions/${made.body.id}`, undefined, ALICE)).status).toBe(200);
    await within(1000, async () => (await rcodeOf(a, 'chat.banned.test')) === NXDOMAIN, 'revoked on a');
  });

  it('a hash holding more than any instance writes is not read: the last state stays in force, logged once', async () => {
    expect((await api(a, 'POST', '/pause?minutes=5')).status).toBe(200);
    for (const i of [a, b]) await within(1000, async () => (await rcodeOf(i, 'chat.banned.test')) === NOERROR, `${i.name} pauses`);
    cli('eval', "for i = 1, 2001 do redis.call('HSET', KEYS[1], string.format('%012x', i), 'x') end", '1', 'aifence:exceptions');
    for (let n = 0; n < 3; n++) cli('publish', 'aifence:changes', '{"kind":"state"}');
    await sleep(500);
    for (const i of [a, b]) {
      expect(await rcodeOf(i, 'chat.banned.test'), i.name).toBe(NOERROR); // the pause read before still holds
      expect(i.output().split('\n').filter((l) => l.includes('Redis holds more than any instance writes')), i.name).toHaveLength(1);
    }
    // And a change that would have to count them is refused, not made blind.
    const refused = await api(a, 'POST', '/exceptions', { group: 'default', select: 'list:ai', until: '1h', reason: 'while the hash is flooded' });
    expect(refused.status).toBe(503);
    cli('del', 'aifence:exceptions');
    expect((await api(b, 'POST', '/resume')).status).toBe(200);
    for (const i of [a, b]) await within(1000, async () => (await rcodeOf(i, 'chat.banned.test')) === NXDOMAIN, `${i.name} resumes`);
  });

  it("keeps its copy in dataDir current with its own changes, not only with what it reads", async () => {
    const snapshot = join(dir, 'a', 'data', 'shared-state.json');
    const read = () => (existsSync(snapshot) ? (JSON.parse(readFileSync(snapshot, 'utf8')) as { pauses: Record<string, string>; exceptions: Record<string, string> }) : null);
    expect((await api(a, 'POST', '/pause?minutes=5')).status).toBe(200);
    await within(1000, async () => read()?.pauses.default !== undefined, "a's own pause in its copy");
    const added = await api(a, 'POST', '/exceptions', { group: 'default', select: 'list:ai', until: '1h', reason: 'ticket 5' });
    expect(added.status).toBe(201);
    await within(1000, async () => read()?.exceptions[added.body.id] !== undefined, "a's own exception in its copy");
    expect((await api(a, 'POST', '/resume')).status).toBe(200);
    expect((await api(a, 'DELETE', `/exceptions/${added.body.id}`)).status).toBe(200);
    await within(1000, async () => {
      const s = read();
      return s !== null && Object.keys(s.pauses).length === 0 && Object.keys(s.exceptions).length === 0;
    }, "a's copy follows its revocations");
  });
});
