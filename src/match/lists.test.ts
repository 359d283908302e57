import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListInput, ListSpec } from './types.js';
import { loadLists, loadListsOffThread } from './lists.js';
import type { CompiledMatcher } from './matcher.js';
import { memoryList } from '../../test/match/helpers.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aifence-match-'));
  await writeFile(join(dir, 'ads.hosts'), '# ads\n0.0.0.0 deepseek.com\n0.0.0.0 Chat.DeepSeek.com # the chat\n');
  await writeFile(join(dir, 'ai.rpz'), '$TTL 30\n@ SOA a. b. 1 2 3 4 5\ndeepseek.com CNAME .\n*.deepseek.com CNAME .\n');
  await writeFile(join(dir, 'allow.txt'), '@@||api.deepseek.com^\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const file = (name: string, source: string, extra: Partial<ListSpec> = {}): ListInput => ({
  spec: { name, source, format: 'auto', exact: false, allow: false, ...extra },
});

describe('loadLists', () => {
  it('reads file lists relative to baseDir and reports each', async () => {
    const set = await loadLists([file('ads', 'ads.hosts'), file('ai', 'ai.rpz')], { baseDir: dir });
    expect(set.reports.map((r) => [r.name, r.format, r.entries, r.ignored, r.source])).toEqual([
      ['ads', 'hosts', 2, 1, 'ads.hosts'],
      ['ai', 'rpz', 2, 2, 'ai.rpz'],
    ]);
    expect(set.matcher.lists.map((l) => l.name)).toEqual(['ads', 'ai']);
  });

  it('fails clearly, naming list and path, when a file cannot be read', async () => {
    await expect(loadLists([file('gone', 'missing.txt')], { baseDir: dir })).rejects.toThrow(
      `list "gone": cannot read ${join(dir, 'missing.txt')}`,
    );
  });

  it('reports in-memory entries that are not names', async () => {
    const set = await loadLists([memoryList('svc', ['ok.example', 'not a name'])]);
    expect(set.reports[0]).toMatchObject({ format: 'memory', entries: 1, rejected: 1, samples: [{ line: 2, text: 'not a name', reason: 'invalid character " "' }] });
  });
});

describe('explain', () => {
  it('lists every entry on the suffix path, most specific first, with list, line and text', async () => {
    const set = await loadLists([file('ads', 'ads.hosts'), file('ai', 'ai.rpz'), file('ok', 'allow.txt')], { baseDir: dir });
    expect(await set.explain('x.Chat.DeepSeek.com.')).toEqual([
      { list: 'ads', entry: 'chat.deepseek.com', line: 3, text: '0.0.0.0 Chat.DeepSeek.com # the chat', allow: false, exact: false },
      { list: 'ads', entry: 'deepseek.com', line: 2, text: '0.0.0.0 deepseek.com', allow: false, exact: false },
      // `*.deepseek.com` is read as covering deepseek.com and its subdomains.
      { list: 'ai', entry: 'deepseek.com', line: 3, text: 'deepseek.com CNAME .', allow: false, exact: false },
      { list: 'ai', entry: 'deepseek.com', line: 4, text: '*.deepseek.com CNAME .', allow: false, exact: false },
    ]);
    const api = await set.explain('api.deepseek.com');
    expect(api[0]).toEqual({ list: 'ok', entry: 'api.deepseek.com', line: 1, text: '@@||api.deepseek.com^', allow: true, exact: false });
    expect(await set.explain('example.org')).toEqual([]);
    expect(await set.explain('not a name')).toEqual([]);
  });

  it('explains in-memory lists from their entries, and leaves out exact entries of parents', async () => {
    const set = await loadLists([
      { spec: { name: 'svc', format: 'domains', exact: false, allow: false }, entries: [{ name: 'deepseek.com', line: 7, exact: false, allow: false, text: 'deepseek.com  # catalogue' }] },
      memoryList('exact', ['deepseek.com', 'chat.deepseek.com'], { exact: true }),
    ]);
    expect(await set.explain('chat.deepseek.com')).toEqual([
      { list: 'exact', entry: 'chat.deepseek.com', line: 2, allow: false, exact: true },
      { list: 'svc', entry: 'deepseek.com', line: 7, text: 'deepseek.com  # catalogue', allow: false, exact: false },
    ]);
  });
});

describe('loadListsOffThread', () => {
  const inputs = () => [file('ads', 'ads.hosts'), file('ai', 'ai.rpz'), file('ok', 'allow.txt'), memoryList('svc', ['svc.example'])];

  it('compiles in a worker into shared memory, and explains there what this thread explains', async () => {
    const here = await loadLists(inputs(), { baseDir: dir });
    const there = await loadListsOffThread(inputs(), { baseDir: dir });
    const { pool, table, masks } = (there.matcher as CompiledMatcher).parts;
    for (const a of [pool, table, masks.bits]) expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(there.reports).toEqual(here.reports);
    const names = ['x.Chat.DeepSeek.com.', 'api.deepseek.com', 'example.org', 'not a name', 'a.svc.example', 'deepseek.com'];
    for (const n of names) expect(there.matcher.matchName(n)).toBe(here.matcher.matchName(n));
    expect(await there.explainAll(names)).toEqual(await here.explainAll(names));
    // Asked separately at once: batched into one job, each answered with its own.
    const one = await Promise.all(names.map((n) => there.explain(n)));
    expect(one).toEqual(await here.explainAll(names));
  });

  it('reuses the last set while no input changed, and compiles again when a file did', async () => {
    await writeFile(join(dir, 'moving.txt'), 'before.example\n');
    const spec = () => [file('moving', 'moving.txt'), memoryList('svc', ['svc.example'])];
    const first = await loadListsOffThread(spec(), { baseDir: dir });
    expect(await loadListsOffThread(spec(), { baseDir: dir })).toBe(first);
    await writeFile(join(dir, 'moving.txt'), 'after.example\n');
    const second = await loadListsOffThread(spec(), { baseDir: dir });
    expect(second).not.toBe(first);
    expect(second.matcher.matchName('after.example')).toBeGreaterThan(0);
    expect(second.matcher.matchName('before.example')).toBe(0);
    // Another spec (or other in-memory entries) is another set, too.
    expect(await loadListsOffThread([file('moving', 'moving.txt', { exact: true }), memoryList('svc', ['svc.example'])], { baseDir: dir })).not.toBe(second);
  });

  it('fails as loadLists fails, naming list and path', async () => {
    await expect(loadListsOffThread([file('gone', 'missing.txt')], { baseDir: dir })).rejects.toThrow(`list "gone": cannot read ${join(dir, 'missing.txt')}`);
  });
});
