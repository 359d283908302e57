import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger.js';
import { AccessRequestStore, MAX_PENDING_PER_CLIENT, PENDING_MS, RequestRefused, parseRequest } from './requests.js';

const log = createLogger({ level: 'silent', destination: { write: () => undefined } });
const config = { prefix: 'aifence', instance: 'dns-1' };
const fields = (client: string, select = 'service:deepseek') => ({ client, name: 'chat.deepseek.com', select, service: 'deepseek', group: 'default', reason: 'ticket 4711', duration: 86400 });

describe('access requests kept without Redis', () => {
  it('finds the one waiting instead of a second, caps a client, decides once, keeps them across a restart', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'aifence-requests-')), 'access-requests.json');
    let now = Date.parse('2026-12-07T09:00:00Z');
    const store = new AccessRequestStore(config, log, () => now, file);
    const first = await store.create(fields('10.0.0.5'));
    expect(first.existing).toBe(false);
    expect((await store.create(fields('10.0.0.5'))).request.id).toBe(first.request.id);
    for (let i = 1; i < MAX_PENDING_PER_CLIENT; i++) await store.create(fields('10.0.0.5', `list:l${i}`));
    await expect(store.create(fields('10.0.0.5', 'list:one-too-many'))).rejects.toBeInstanceOf(RequestRefused);
    expect((await store.create(fields('10.0.0.6'))).existing).toBe(false);

    const decided = await store.decide(first.request.id, { status: 'denied', by: 'alice' });
    expect(decided && 'decided' in decided && decided.decided.status).toBe('denied');
    const again = await store.decide(first.request.id, { status: 'approved', by: 'bob', until: now + 1, exception: 'aaaaaaaaaaaa' });
    expect(again && 'before' in again && again.before.by).toBe('alice');
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const restarted = new AccessRequestStore(config, log, () => now, file);
    expect(restarted.list()).toHaveLength(MAX_PENDING_PER_CLIENT + 1);
    expect(restarted.get(first.request.id)).toMatchObject({ status: 'denied', by: 'alice' });
    // A week later, what waited is gone.
    now += PENDING_MS + 1;
    expect(restarted.list().map((r) => r.status)).toEqual(['denied']);
  });

  it('reads back only what aifence writes', () => {
    const good = { id: '0123456789ab', client: '10.0.0.5', name: 'chat.deepseek.com', select: 'service:deepseek', service: 'deepseek', group: 'default', reason: 'r', duration: 3600, status: 'pending', created: 1, instance: 'dns-1' };
    expect(parseRequest(good.id, JSON.stringify(good))).toEqual(good);
    for (const bad of [
      { ...good, id: 'other' },
      { ...good, client: '::ffff:10.0.0.5' },
      { ...good, reason: 'two\nlines' },
      { ...good, duration: 1e9 },
      { ...good, status: 'approved' }, // no decision recorded
      { ...good, group: '<b>' },
      { ...good, reason: 'x'.repeat(501) },
    ]) {
      expect(parseRequest(good.id, JSON.stringify(bad)), JSON.stringify(bad).slice(0, 80)).toBeNull();
    }
    expect(parseRequest(good.id, 'not json')).toBeNull();
    expect(parseRequest(good.id, JSON.stringify({ ...good, reason: 'x'.repeat(5000) }))).toBeNull();
  });

  it('starts empty from a file that is not one of its own', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'aifence-requests-')), 'access-requests.json');
    writeFileSync(file, '{"0123456789ab": 42, "__proto__": "x"}');
    expect(new AccessRequestStore(config, log, Date.now, file).list()).toEqual([]);
    expect(readFileSync(file, 'utf8')).toContain('42');
  });
});
