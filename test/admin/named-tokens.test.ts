// Named admins: `aifence admin token --name` makes a token and its hash,
// admin.tokens takes the hash (or a file holding the token), and every
// change made with one records the name: the exception's author, the log
// lines of pauses and reloads. The daemon in its own process.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonProcess, spawnDaemon } from '../support/process.js';
import { TestUpstream } from '../support/upstream.js';

const CLI = resolve('dist/cli.js');
const newToken = (name: string) => JSON.parse(execFileSync(process.execPath, [CLI, 'admin', 'token', '--name', name, '--json'], { encoding: 'utf8' })) as { name: string; token: string; sha256: string };

let upstream: TestUpstream;
let d: DaemonProcess;
const alice = newToken('alice');
const BOB = 'bob-secret-token-from-a-mounted-file';

beforeAll(async () => {
  upstream = await TestUpstream.start();
  d = await spawnDaemon(
    `
upstream: { servers: ["${upstream.address}"], timeout: 1s }
admin:
  tokens:
    alice: { sha256: ${alice.sha256} }
    bob: { file: bob.token }
groups:
  default: { block: [service:deepseek] }
  lab: { clients: [127.0.0.7/32], block: [tag:genai] }
`,
    { 'bob.token': `${BOB}\n` },
  );
});
afterAll(async () => {
  d?.stop();
  await upstream.close();
});

const api = (path: string, token: string | null, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${d.adminPort}${path}`, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' } });

async function logged(pattern: RegExp): Promise<Record<string, unknown>> {
  for (let i = 0; i < 50; i++) {
    const line = d.output().split('\n').find((l) => pattern.test(l));
    if (line) return JSON.parse(line) as Record<string, unknown>;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no log line matches ${pattern}`);
}

describe('named admin tokens', () => {
  it('aifence admin token prints a random token and its SHA-256', () => {
    expect(alice.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(alice.sha256).toBe(createHash('sha256').update(alice.token).digest('hex'));
    expect(newToken('alice').token).not.toBe(alice.token);
    const text = execFileSync(process.execPath, [CLI, 'admin', 'token', '--name', 'carol'], { encoding: 'utf8' });
    expect(text).toMatch(/^token: {2}\S{43}\nsha256: [0-9a-f]{64}\n/);
    expect(text).toContain('carol: { sha256: ');
  });

  it('records the named admin as the author of an exception, beside an author the body gives', async () => {
    const made = await api('/exceptions', alice.token, { method: 'POST', body: JSON.stringify({ group: 'lab', select: 'service:claude', until: '2h', reason: 'ticket 9' }) });
    expect(made.status).toBe(201);
    expect(await made.json()).toMatchObject({ author: 'alice', select: 'service:claude' });
    const forBob = await api('/exceptions', BOB, { method: 'POST', body: JSON.stringify({ group: 'lab', select: 'service:openai', until: '2h', reason: 'ticket 10', author: 'carol' }) });
    expect(await forBob.json()).toMatchObject({ author: 'bob for carol' });
    expect(await logged(/runtime exception added.*service:openai|service:openai.*runtime exception added/)).toMatchObject({ admin: 'bob', select: 'service:openai' });
  });

  it('records the name on pauses and reloads', async () => {
    expect((await api('/pause?group=lab&minutes=1', BOB, { method: 'POST' })).status).toBe(200);
    expect(await logged(/"msg":"blocking paused"/)).toMatchObject({ admin: 'bob', groups: ['lab'] });
    expect((await api('/reload', alice.token, { method: 'POST' })).status).toBe(200);
    expect(await logged(/reload asked through the admin API/)).toMatchObject({ admin: 'alice' });
  });

  it('refuses a wrong token and, with named tokens configured, reads without one', async () => {
    expect((await api('/pause?minutes=1', 'not-a-token-of-anyone', { method: 'POST' })).status).toBe(401);
    expect((await api('/pause?minutes=1', alice.sha256, { method: 'POST' })).status).toBe(401); // the hash is not the token
    expect((await api('/exceptions', null)).status).toBe(401);
    expect((await api('/exceptions', alice.token)).status).toBe(200);
  });
});
