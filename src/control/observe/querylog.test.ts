import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeQuery } from '../../../test/support/client.js';
import type { QueryLogConfig } from '../config/querylog.js';
import { QueryEvent, type Verdict } from '../../shared/events.js';
import { createLogger } from '../../shared/logger.js';
import { QueryLog, type QueryLogOptions, anonymizeAddress } from './querylog.js';

interface Captured {
  msg: string;
  dropped?: number;
}

function setup(config: Partial<QueryLogConfig> = {}, options: QueryLogOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'aifence-querylog-'));
  const warnings: Captured[] = [];
  const log = createLogger({ level: 'warn', destination: { write: (line: string) => void warnings.push(JSON.parse(line)) } });
  const full: QueryLogConfig = { mode: 'all', path: join(dir, 'q.jsonl'), maxSize: 1 << 20, keep: 3, anonymize: false, ...config };
  // A long timer: tests flush explicitly, so nothing depends on timing.
  const qlog = new QueryLog(full, log, { flushMs: 60_000, ...options });
  return { dir, path: full.path, qlog, warnings };
}

/** The scratch event the resolver fills, reused like the resolver reuses it. */
const scratch = new QueryEvent();
function event(name: string, qtype: number, fields: Partial<Omit<QueryEvent, 'msg'>> = {}): QueryEvent {
  const msg = encodeQuery(name, qtype);
  Object.assign(scratch, { time: Date.UTC(2026, 10, 23, 10, 0, 0), client: '10.1.2.3', device: '', group: 'default', verdict: 'allowed', cached: false, list: '', rcode: 0, upstream: '', transport: 'udp', latencyMs: 0 }, fields);
  scratch.msg = msg;
  scratch.questionEnd = msg.length; // no EDNS: the question ends the message
  scratch.qtype = qtype;
  return scratch;
}

const lines = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('QueryLog', () => {
  it('holds a line while its client\'s name cannot be said yet (a lease file being read), writes it with the name once it can, and never holds at close', async () => {
    let reading = true;
    const names = (address: string) => (reading && address === '10.1.2.3' ? null : address === '10.1.2.3' ? 'dave-tablet' : '');
    const { path, qlog } = setup({}, { names });
    qlog.observe(event('first.example', 1, { client: '10.9.9.9' }));
    qlog.observe(event('held.example', 1, { time: Date.now() }));
    qlog.observe(event('after.example', 1, { client: '10.9.9.9', time: Date.now() }));
    qlog.flush();
    await new Promise((r) => setTimeout(r, 50));
    // The line before it is written; it and the ones after it wait, in order.
    expect(lines(path).map((l) => l.name)).toEqual(['first.example']);
    reading = false;
    qlog.flush();
    await new Promise((r) => setTimeout(r, 50));
    expect(lines(path).map((l) => [l.name, l.clientName])).toEqual([
      ['first.example', undefined],
      ['held.example', 'dave-tablet'],
      ['after.example', undefined],
    ]);
    // Closing writes what waits, without a name it cannot say.
    reading = true;
    qlog.observe(event('closing.example', 1, { time: Date.now() }));
    await qlog.close();
    expect(lines(path).at(-1)).toMatchObject({ name: 'closing.example', client: '10.1.2.3' });
    expect(lines(path).at(-1)).not.toHaveProperty('clientName');
  });

  it('names the client (clientName: its name at the query\'s time) and the device it gave, beside its address; anonymize drops both', async () => {
    const asked: [string, number][] = [];
    const names = (address: string, time: number) => {
      asked.push([address, time]);
      return address === '10.1.2.3' ? 'alice-laptop' : '';
    };
    const plain = setup({}, { names });
    plain.qlog.observe(event('a.example', 1, { device: 'alice-phone', transport: 'doh' }));
    plain.qlog.observe(event('b.example', 1, { client: '10.9.9.9' }));
    await plain.qlog.close();
    expect(lines(plain.path).map((l) => [l.client, l.clientName, l.device])).toEqual([
      ['10.1.2.3', 'alice-laptop', 'alice-phone'],
      ['10.9.9.9', undefined, undefined],
    ]);
    expect(Object.keys(lines(plain.path)[0]).slice(0, 4)).toEqual(['time', 'client', 'clientName', 'device']);
    expect(asked).toEqual([['10.1.2.3', Date.UTC(2026, 10, 23, 10, 0, 0)], ['10.9.9.9', Date.UTC(2026, 10, 23, 10, 0, 0)]]);
    const anonymous = setup({ anonymize: true }, { names });
    anonymous.qlog.observe(event('a.example', 1, { device: 'alice-phone', transport: 'doh' }));
    await anonymous.qlog.close();
    expect(lines(anonymous.path)[0]).toMatchObject({ client: '10.1.2.0' });
    expect(lines(anonymous.path)[0]).not.toHaveProperty('clientName');
    expect(lines(anonymous.path)[0]).not.toHaveProperty('device');
  });

  it('writes one JSON line per query with every field, the name decoded and lower-cased', async () => {
    const { path, qlog } = setup();
    qlog.observe(event('Chat.DeepSeek.COM', 65, { verdict: 'blocked', list: 'service:deepseek', rcode: 3, latencyMs: 0.123456 }));
    qlog.observe(event('example.org', 1, { upstream: '9.9.9.9:53', cached: false, latencyMs: 12.3456 }));
    qlog.observe(event('example.org', 4242, { cached: true, client: '::1', group: 'lab' }));
    qlog.observe(event('x.test', 1, { verdict: 'blocked', list: 'ads', rcode: 0 }));
    qlog.observe(event('example.org', 1, { transport: 'doh' }));
    await qlog.close();
    expect(lines(path)).toEqual([
      { time: '2026-11-23T10:00:00.000Z', client: '10.1.2.3', group: 'default', name: 'chat.deepseek.com', type: 'HTTPS', verdict: 'blocked', cached: false, service: 'deepseek', list: 'service:deepseek', rcode: 'NXDOMAIN', latencyMs: 0.12 },
      { time: '2026-11-23T10:00:00.000Z', client: '10.1.2.3', group: 'default', name: 'example.org', type: 'A', verdict: 'allowed', cached: false, rcode: 'NOERROR', upstream: '9.9.9.9:53', latencyMs: 12.35 },
      { time: '2026-11-23T10:00:00.000Z', client: '::1', group: 'lab', name: 'example.org', type: 'TYPE4242', verdict: 'allowed', cached: true, rcode: 'NOERROR', latencyMs: 0 },
      { time: '2026-11-23T10:00:00.000Z', client: '10.1.2.3', group: 'default', name: 'x.test', type: 'A', verdict: 'blocked', cached: false, list: 'ads', rcode: 'NOERROR', latencyMs: 0 },
      { time: '2026-11-23T10:00:00.000Z', client: '10.1.2.3', group: 'default', name: 'example.org', type: 'A', verdict: 'allowed', cached: false, rcode: 'NOERROR', transport: 'doh', latencyMs: 0 },
    ]);
  });

  it('logs an unreadable query without name or type', async () => {
    const { path, qlog } = setup();
    const e = event('a.test', 1, { verdict: 'invalid', group: '', rcode: 1 });
    e.questionEnd = 0;
    e.qtype = 0;
    qlog.observe(e);
    await qlog.close();
    expect(lines(path)).toEqual([{ time: '2026-11-23T10:00:00.000Z', client: '10.1.2.3', verdict: 'invalid', cached: false, rcode: 'FORMERR', latencyMs: 0 }]);
  });

  it('mode blocked keeps blocked and refused queries only', async () => {
    const { path, qlog } = setup({ mode: 'blocked' });
    const verdicts: Verdict[] = ['allowed', 'blocked', 'refused', 'invalid'];
    for (const verdict of verdicts) qlog.observe(event(`${verdict}.test`, 1, { verdict }));
    await qlog.close();
    expect(lines(path).map((l) => l.name)).toEqual(['blocked.test', 'refused.test']);
  });

  it('anonymize truncates IPv4 to /24, IPv6 to /56 and IPv4-mapped IPv6 as IPv4', async () => {
    expect(anonymizeAddress('10.1.2.3')).toBe('10.1.2.0');
    expect(anonymizeAddress('2001:db8:1:2345:6789::1')).toBe('2001:db8:1:2300::');
    expect(anonymizeAddress('::ffff:192.168.7.9')).toBe('192.168.7.0');
    expect(anonymizeAddress('::1')).toBe('::');
    const { path, qlog } = setup({ anonymize: true });
    qlog.observe(event('a.test', 1, { client: '192.168.7.200' }));
    qlog.observe(event('a.test', 1, { client: 'fd00:1:2:3ff::42' }));
    await qlog.close();
    expect(lines(path).map((l) => l.client)).toEqual(['192.168.7.0', 'fd00:1:2:300::']);
  });

  it('copies what it keeps: the scratch event is reused', async () => {
    const { path, qlog } = setup();
    qlog.observe(event('first.test', 1));
    qlog.observe(event('second.test', 28, { client: '10.9.9.9' }));
    await qlog.close();
    expect(lines(path).map((l) => [l.name, l.type, l.client])).toEqual([
      ['first.test', 'A', '10.1.2.3'],
      ['second.test', 'AAAA', '10.9.9.9'],
    ]);
  });

  it('appends to an existing file', async () => {
    const { path, qlog } = setup();
    await qlog.close();
    writeFileSync(path, '{"old":true}\n');
    const again = new QueryLog({ mode: 'all', path, maxSize: 1 << 20, keep: 3, anonymize: false }, createLogger({ level: 'silent' }));
    again.observe(event('new.test', 1));
    await again.close();
    expect(lines(path).map((l) => l.old ?? l.name)).toEqual([true, 'new.test']);
  });

  it('writes more than a batch in order, one batch a write', async () => {
    const { path, qlog } = setup({}, { batch: 3 });
    for (let i = 0; i < 10; i++) qlog.observe(event(`n${i}.test`, 1));
    await qlog.close();
    expect(lines(path).map((l) => l.name)).toEqual(Array.from({ length: 10 }, (_, i) => `n${i}.test`));
  });

  it('rotates by size, keeping `keep` files, newest in path.1', async () => {
    const { dir, path, qlog } = setup({ maxSize: 500, keep: 2 });
    // Each flush writes ~900 bytes, past maxSize, so every flush after the first rotates first.
    for (let batch = 0; batch < 5; batch++) {
      for (let i = 0; i < 5; i++) qlog.observe(event(`b${batch}-${i}.test`, 1));
      qlog.flush();
    }
    await qlog.close();
    expect(readdirSync(dir).sort()).toEqual(['q.jsonl', 'q.jsonl.1', 'q.jsonl.2']);
    const batchOf = (file: string) => [...new Set(lines(file).map((l) => String(l.name).split('-')[0]))];
    expect(batchOf(path)).toEqual(['b4']);
    expect(batchOf(`${path}.1`)).toEqual(['b3']);
    expect(batchOf(`${path}.2`)).toEqual(['b2']);
  });

  it('drops and counts entries when the buffer is full while the stream is stalled, then notes the drop in the file', async () => {
    // A one-byte stream buffer: every write reports backpressure until the file has it.
    const { path, qlog, warnings } = setup({}, { capacity: 4, highWaterMark: 1 });
    qlog.observe(event('written.test', 1));
    qlog.flush(); // stalls the stream until 'drain'
    for (let i = 0; i < 10; i++) qlog.observe(event(`while-stalled-${i}.test`, 1));
    expect(qlog.dropped).toBe(6);
    qlog.flush(); // no-op while stalled: entries stay buffered
    expect(qlog.dropped).toBe(6);
    await qlog.close();
    const out = lines(path);
    expect(out.map((l) => l.name ?? l.event)).toEqual(['written.test', 'while-stalled-0.test', 'while-stalled-1.test', 'while-stalled-2.test', 'while-stalled-3.test', 'dropped']);
    expect(out[5]).toMatchObject({ event: 'dropped', count: 6 });
    expect(typeof out[5].time).toBe('string');
    expect(warnings.filter((w) => w.dropped !== undefined)).toEqual([expect.objectContaining({ dropped: 6, msg: expect.stringContaining('dropped') })]);
  });

  it('a path that cannot be written fails at start, naming the key and the path', async () => {
    const { dir, qlog } = setup();
    await qlog.close();
    expect(() => new QueryLog({ mode: 'all', path: dir, maxSize: 1 << 20, keep: 3, anonymize: false }, createLogger({ level: 'silent' }))).toThrow(
      `queryLog.path ${dir} cannot be written (EISDIR)`,
    );
  });

  it('ignores events after close', async () => {
    const { path, qlog } = setup();
    await qlog.close();
    qlog.observe(event('late.test', 1));
    expect(qlog.dropped).toBe(0);
    expect(readFileSync(path, 'utf8')).toBe('');
  });
});
