// `enforce` from outside, the daemon in its own process with the real
// catalogue: a ban no group's allow, pause or runtime exception re-opens,
// the 409 for an exception that would, the start-up warning about the allow
// that overlaps it, and /check saying "enforced".

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../support/client.js';
import { type DaemonProcess, spawnDaemon } from '../support/process.js';
import { TestUpstream } from '../support/upstream.js';

const RESEARCH = '127.0.0.3';
let upstream: TestUpstream;
let d: DaemonProcess;

beforeAll(async () => {
  upstream = await TestUpstream.start();
  d = await spawnDaemon(`
upstream: { servers: ["${upstream.address}"], timeout: 1s }
enforce: [service:deepseek]
groups:
  default:
    block: [tag:cn]
  research:
    clients: [${RESEARCH}/32]
    block: [tag:genai]
    allow: [tag:chat]
`);
});
afterAll(async () => {
  d?.stop();
  await upstream.close();
});

const api = (path: string, init: RequestInit = {}) => {
  const token = readFileSync(join(d.dir, 'data', 'admin.token'), 'utf8').trim();
  return fetch(`http://127.0.0.1:${d.adminPort}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers } });
};

const rcode = async (name: string) => (await query(d.port, name, 1, { from: RESEARCH })).rcode;

describe('enforce', () => {
  it('blocks chat.deepseek.com for a group that allows tag:chat, and lets the rest of tag:chat through', async () => {
    expect(await rcode('chat.deepseek.com')).toBe(3);
    expect(await rcode('chatgpt.com')).toBe(0);
    expect(await rcode('claude.ai')).toBe(0); // tag:chat too
    expect(upstream.count('chat.deepseek.com')).toBe(0);
  });

  it('warns at start about the allow that overlaps the enforced ban, naming the group, the rule and a count', async () => {
    for (let i = 0; i < 50 && !d.output().includes('policy conflict'); i++) await new Promise((r) => setTimeout(r, 100));
    const line = d.output().split('\n').find((l) => l.includes('policy conflict in group'));
    expect(line).toBeDefined();
    const entry = JSON.parse(line!) as { group: string; msg: string; conflicts: { allow: string; kind: string; names: number; examples: string[] }[] };
    expect(entry.group).toBe('research');
    expect(entry.msg).toMatch(/allow tag:chat covers \d+ names? enforced for everyone \(enforce: service:deepseek\)/);
    const enforced = entry.conflicts.find((c) => c.kind === 'enforced')!;
    expect(enforced.names).toBeGreaterThan(0);
    expect(enforced.examples.length).toBeGreaterThan(0);
    expect(enforced.examples.every((n) => n.includes('deepseek'))).toBe(true);
  });

  it('refuses a runtime exception for an enforced service with a 409 that says why', async () => {
    const r = await api('/exceptions', { method: 'POST', body: JSON.stringify({ group: 'research', select: 'service:deepseek', until: '4h', reason: 'ticket 1' }) });
    expect(r.status).toBe(409);
    expect(((await r.json()) as { error: string }).error).toMatch(/service:deepseek is enforced/);
    expect(await rcode('chat.deepseek.com')).toBe(3);
    // One that selects more than the enforced service is taken, with a note; the enforced part stays blocked.
    const wide = await api('/exceptions', { method: 'POST', body: JSON.stringify({ group: 'default', select: 'tag:cn', until: '4h', reason: 'ticket 2' }) });
    expect(wide.status).toBe(201);
    expect(((await wide.json()) as { note?: string }).note).toMatch(/service:deepseek stay blocked/);
    expect((await query(d.port, 'chat.deepseek.com')).rcode).toBe(3);
  });

  it('holds through a pause of the group, and /check says enforced', async () => {
    expect(await rcode('www.midjourney.com')).toBe(3); // research blocks tag:genai
    expect((await api('/pause?group=research&minutes=5', { method: 'POST' })).status).toBe(200);
    expect(await rcode('www.midjourney.com')).toBe(0);
    expect(await rcode('chat.deepseek.com')).toBe(3);
    const check = (await (await api(`/check?name=chat.deepseek.com&client=${RESEARCH}`)).json()) as Record<string, unknown>;
    expect(check).toMatchObject({ verdict: 'blocked', group: 'research', enforced: true, rule: { select: 'service:deepseek' }, service: 'deepseek' });
  });

  it('blocks an answer whose CNAME points at an enforced name, in the paused group too', async () => {
    upstream.behave = (name) =>
      name === 'alias.cloaked.example'
        ? { kind: 'answer', records: [{ name, type: 5, class: 1, ttl: 300, domain: 'chat.deepseek.com' }, { name: 'chat.deepseek.com', type: 1, class: 1, ttl: 300, address: '192.0.2.9' }] }
        : { kind: 'answer' };
    expect(await rcode('alias.cloaked.example')).toBe(3);
    expect((await query(d.port, 'alias.cloaked.example')).rcode).toBe(3); // default, from the cache
  });
});
