// Exceptions for one client (what approving an access request makes): the
// name opens for that address only, in its own group, on the in-process
// plane and on worker threads alike, and closes again when revoked.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TYPES, query } from '../support/client.js';
import { adminCall } from '../support/admin.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

const TOKEN = 'client-exceptions-token-123';
let upstream: TestUpstream;

beforeAll(async () => {
  upstream = await TestUpstream.start();
});
afterAll(async () => {
  await upstream.close();
});

const config = (workers: number) =>
  `workers: ${workers}\nadmin: { listen: "127.0.0.1:0", token: "${TOKEN}" }\nlists:\n  ai: { source: ai.txt }\ngroups:\n  default: { block: [list:ai] }\n  lab: { clients: [127.0.0.64/26], block: [list:ai] }\n`;

describe.each([1, 2])('an exception for one client (workers: %i)', (workers) => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startDaemon(config(workers), [upstream.address], { files: { 'ai.txt': 'chat.banned.test\n' } });
  });
  afterAll(async () => {
    await d?.stop();
  });

  const api = (method: string, path: string, body?: unknown) => adminCall(d.daemon.adminAddress!.port, TOKEN, method, path, body);
  const rcodeFrom = async (from: string) => (await query(d.port, 'chat.banned.test', TYPES.A, { from })).rcode;

  it('opens the name for that address only, in its group', async () => {
    expect(await rcodeFrom('127.0.0.2')).toBe(3);
    const added = await api('POST', '/exceptions', { client: '127.0.0.2', select: 'list:ai', until: '1h', reason: 'access request' });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ client: '127.0.0.2', group: 'default', select: 'list:ai' });
    await expect.poll(() => rcodeFrom('127.0.0.2')).toBe(0);
    expect(await rcodeFrom('127.0.0.3')).toBe(3);
    expect(await rcodeFrom('127.0.0.65')).toBe(3);
    // The check explains it for that client, and not for another.
    expect((await api('GET', '/check?name=chat.banned.test&client=127.0.0.2')).body).toMatchObject({ verdict: 'allowed', group: 'default' });
    expect((await api('GET', '/check?name=chat.banned.test&client=127.0.0.3')).body).toMatchObject({ verdict: 'blocked' });

    // A client of another group: its exception is in its own group, the others there stay blocked.
    const lab = await api('POST', '/exceptions', { client: '::ffff:127.0.0.65', select: 'list:ai', until: '1h', reason: 'lab' });
    expect(lab.body).toMatchObject({ client: '127.0.0.65', group: 'lab' });
    await expect.poll(() => rcodeFrom('127.0.0.65')).toBe(0);
    expect(await rcodeFrom('127.0.0.66')).toBe(3);
    expect(await rcodeFrom('127.0.0.2')).toBe(0);

    // Revoked: closed again.
    expect((await api('DELETE', `/exceptions/${added.body.id}`)).status).toBe(200);
    await expect.poll(() => rcodeFrom('127.0.0.2')).toBe(3);
    expect(await rcodeFrom('127.0.0.65')).toBe(0);
  });

  it('refuses a client of another group than the one named, and an address that is none', async () => {
    const wrong = await api('POST', '/exceptions', { client: '127.0.0.65', group: 'default', select: 'list:ai', until: '1h', reason: 'x' });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toContain('is not the group of client 127.0.0.65 (lab)');
    const bad = await api('POST', '/exceptions', { client: 'chat.banned.test', select: 'list:ai', until: '1h', reason: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain('is not an IP address');
  });
});
