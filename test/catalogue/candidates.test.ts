// The candidate pipeline (npm run catalogue:candidates): each reader takes
// the names a public list carries and nothing else, the queue drops what the
// catalogue covers, what is shared infrastructure and what a reviewer
// rejected, and a run over a real git checkout reads the manifest's commit,
// takes `aifence report --discover` output into the same queue and keeps it
// there on the next run.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../src/control/catalogue/index.js';
import { discoverReport, domainList, expandPaths, markdown, normaliseHost, urls, v2fly } from '../../scripts/catalogue/extract.js';
import type { SourceSpec } from '../../scripts/catalogue/manifest.js';
import { buildQueue, type Rejected } from '../../scripts/catalogue/queue.js';
import { formatDiscovery, type Discovery } from '../../src/control/observe/discover.js';

const cat = loadCatalogue();

describe('readers', () => {
  it('normalise hosts: lower case, no www., no port or dot, IDN as punycode; IPs and wildcards in the middle are not hosts', () => {
    expect(normaliseHost('WWW.Example.AI.')).toBe('example.ai');
    expect(normaliseHost('*.example.ai')).toBe('example.ai');
    expect(normaliseHost('example.ai:8443')).toBe('example.ai');
    expect(normaliseHost('例え.jp')).toBe('xn--r8jz45g.jp');
    expect(normaliseHost('10.0.0.1')).toBeUndefined();
    expect(normaliseHost('a.*.example.ai')).toBeUndefined();
    expect(normaliseHost('localhost')).toBeUndefined();
  });

  it('markdown: every link with its text and heading, and bare names in table cells; URL paths are not names', () => {
    const md = [
      '## Chatbots',
      '- [Newtool](https://www.newtool.ai/app?x=1) - a chat',
      '- ![logo](https://cdn.example.com/l.png) [**Other**](http://other.example) — text',
      '| **Product** | What | URL |',
      '| Doubao | chat | doubao.com |',
      '| ERNIE | chat | baidu.com/ernie |',
    ].join('\n');
    const got = markdown(md, 'awesome-genai:README.md');
    expect(got).toContainEqual({ host: 'newtool.ai', product: 'Newtool', source: 'awesome-genai:README.md', context: 'Chatbots' });
    expect(got).toContainEqual({ host: 'other.example', product: 'Other', source: 'awesome-genai:README.md', context: 'Chatbots' });
    expect(got.some((c) => c.host === 'cdn.example.com')).toBe(true);
    expect(got).toContainEqual({ host: 'doubao.com', product: 'Doubao', source: 'awesome-genai:README.md', context: 'Chatbots' });
    expect(got.some((c) => c.host === 'baidu.com')).toBe(false);
  });

  it('domain lists: plain, hosts, adblock, Clash and v2fly syntaxes; cosmetic filters, paths and keywords skipped; the comment above is the context', () => {
    const text = [
      '# ── OpenAI ──',
      'chatgpt.com',
      '0.0.0.0 sora.com',
      '||oaistatic.com^',
      'DOMAIN-SUFFIX,oaiusercontent.com',
      'DOMAIN-KEYWORD,openai',
      'full:chat.openai.com',
      'example.com##.ai-banner',
      '||example.com/ai/$xhr',
      '! comment',
    ].join('\n');
    const got = domainList(text, 'csdznwrk:seeds.txt');
    expect(got.map((c) => c.host)).toEqual(['chatgpt.com', 'sora.com', 'oaistatic.com', 'oaiusercontent.com', 'chat.openai.com']);
    expect(got[0].context).toBe('OpenAI');
  });

  it('v2fly: follows includes once, reads domain: and full:, skips keyword: and regexp:, and names the list each came from', () => {
    const files: Record<string, string> = {
      'data/category-ai-!cn': 'include:openai\ninclude:openai\nmistral.ai # Le Chat\nkeyword:gpt\nregexp:^ai\\.',
      'data/openai': 'openai.com\nfull:chat.openai.com @cn\ndomain:sora.com',
    };
    const spec: SourceSpec = { label: 'v2fly', repo: 'v2fly/domain-list-community', commit: 'a'.repeat(40), format: 'v2fly', paths: ['category-ai-!cn'], about: '', line: 1 };
    const got = v2fly(spec, (p) => {
      if (!(p in files)) throw new Error('absent');
      return files[p];
    });
    expect(got.map((c) => `${c.source} ${c.host} ${c.context}`)).toEqual([
      'v2fly:openai openai.com domain',
      'v2fly:openai chat.openai.com full',
      'v2fly:openai sora.com domain',
      'v2fly:category-ai-!cn mistral.ai domain',
    ]);
    expect(() => v2fly({ ...spec, paths: ['nope'] }, () => { throw new Error('absent'); })).toThrow(/list 'nope'.*not in data\//);
  });

  it('data files: URLs with the CSV row or the record name as product; globs expand within a folder', () => {
    const csv = 'name,description,url,tags\nNotta,"AI 전사",https://notta.ai,"회의"\n';
    expect(urls(csv, 'ai-discover-kr:ReadMe.txt')).toEqual([{ host: 'notta.ai', product: 'Notta', source: 'ai-discover-kr:ReadMe.txt', context: '' }]);
    const ts = '  {\n    "name": "Clarice.ai",\n    "link": "https://clarice.ai/",\n  },';
    expect(urls(ts, 'ferramentas-ia:ai-tools.ts')[0]).toMatchObject({ host: 'clarice.ai', product: 'Clarice.ai' });
    const files = ['providers/a/provider.toml', 'providers/b/provider.toml', 'providers/b/models/x.toml'];
    expect(expandPaths(['providers/*/provider.toml'], () => files)).toEqual(['providers/a/provider.toml', 'providers/b/provider.toml']);
  });

  it('aifence report --discover output: CSV, JSON and the table', () => {
    const csv = 'name,clients,queries,score,first,last,why\nchat.shadow-ai.example,3,40,5,2026-12-01T00:00:00.000Z,2026-12-02T00:00:00.000Z,"AI-typical TLD .ai; word ""chat"""\n';
    expect(discoverReport(csv, 'discover')).toEqual([
      { host: 'chat.shadow-ai.example', product: 'chat.shadow-ai.example', source: 'discover', context: 'AI-typical TLD .ai; word "chat"' },
    ]);
    const json = JSON.stringify({ rows: [{ name: 'x.example.ai', why: ['a', 'b'] }] });
    expect(discoverReport(json, 'discover')).toEqual([{ host: 'x.example.ai', product: 'x.example.ai', source: 'discover', context: 'a; b' }]);
    const table = 'name          clients  queries  score  first  last  why\ny.example.ai        1        2      2  t      t     AI-typical TLD .ai\n';
    expect(discoverReport(table, 'discover').map((c) => c.host)).toEqual(['y.example.ai']);
  });

  it('reads back what aifence report --discover writes, in each format; names it escapes are not hosts and are left out', () => {
    const row = (name: string, why: string[]): Discovery => ({ name, score: 4, why, queries: 9, clients: 2, first: '2026-12-01T00:00:00.000Z', last: '2026-12-02T00:00:00.000Z' });
    const rows = [row('chat.shadow-example.ai', ['AI-typical TLD .ai', 'word "chat"']), row('a\\.b.example.ai', ['=cmd()'])];
    for (const format of ['csv', 'json', 'table'] as const) {
      const got = discoverReport(formatDiscovery(rows, format), 'discover');
      expect(got.map((c) => c.host), format).toEqual(['chat.shadow-example.ai']);
      if (format !== 'table') expect(got[0].context, format).toBe('AI-typical TLD .ai; word "chat"');
    }
  });
});

describe('the queue', () => {
  it('drops covered, shared and rejected names (a rejection covers the names below it) and groups the rest by host', () => {
    const rejected: Rejected[] = [{ host: 'medium.example', reason: 'not-ai', why: 'a blog platform', product: '', line: 2 }];
    const result = buildQueue(
      [
        { host: 'chatgpt.com', product: 'ChatGPT', source: 'awesome-genai:README.md', context: '' },
        { host: 'bing.com', product: 'Bing', source: 'radiusmethod:llms.csv', context: '' },
        { host: 'someone.medium.example', product: 'post', source: 'calegario:README.md', context: '' },
        { host: 'newtool.ai', product: 'Newtool', source: 'mahseema:README.md', context: 'Chat' },
        { host: 'newtool.ai', product: 'Newtool AI', source: 'eudk:README.md', context: 'Bots' },
      ],
      cat,
      new Set(['bing.com']),
      rejected,
    );
    expect(result).toMatchObject({ read: 5, hosts: 4, covered: 1, shared: 1, rejected: 1 });
    expect(result.queue).toEqual([{ host: 'newtool.ai', products: ['Newtool', 'Newtool AI'], sources: ['eudk:README.md', 'mahseema:README.md'], contexts: ['Chat', 'Bots'] }]);
  });
});

describe('npm run catalogue:candidates', () => {
  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd, encoding: 'utf8' }).trim();
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'scripts/catalogue-candidates.ts', ...args], { encoding: 'utf8' });

  it('reads each source at the manifest commit from outside the repo, queues what is new with its source, and keeps discovered names queued', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-candidates-'));
    const checkout = join(dir, 'sources', 'someone+awesome-list');
    mkdirSync(checkout, { recursive: true });
    git(checkout, 'init', '-q');
    writeFileSync(join(checkout, 'README.md'), '# Tools\n- [Newtool](https://newtool-example.ai)\n- [ChatGPT](https://chatgpt.com)\n- [Bing](https://www.bing.com)\n');
    git(checkout, 'add', '.');
    git(checkout, 'commit', '-qm', 'v1');
    const commit = git(checkout, 'rev-parse', 'HEAD');
    // A later commit the manifest does not name: its names must not be read.
    writeFileSync(join(checkout, 'README.md'), '# Tools\n- [Later](https://later-example.ai)\n');
    git(checkout, 'commit', '-qam', 'v2');

    const manifest = join(dir, 'sources.tsv');
    writeFileSync(manifest, `label\trepository\tcommit\tformat\tpaths\tabout\nawesome-genai\tsomeone/awesome-list\t${commit}\tmarkdown\tREADME.md\ta test list\n`);
    const report = join(dir, 'discover.csv');
    writeFileSync(report, 'name,clients,queries,score,first,last,why\nchat.shadow-example.ai,2,9,4,t,t,AI-typical TLD .ai\n');
    const out = join(dir, 'out');
    mkdirSync(out);

    const first = run('--sources', join(dir, 'sources'), '--manifest', manifest, '--discover', report, '--out', out, '--write');
    expect(first.status, first.stderr).toBe(0);
    const queue = readFileSync(join(out, 'queue.tsv'), 'utf8');
    expect(queue).toMatch(/^newtool-example\.ai\tNewtool\tawesome-genai:README\.md\t/m);
    expect(queue).toMatch(/^chat\.shadow-example\.ai\t.*\tdiscover\t/m);
    expect(queue).not.toMatch(/^(chatgpt\.com|bing\.com|later-example\.ai)\t/m);
    expect(readFileSync(join(out, 'candidates.tsv'), 'utf8')).toMatch(/^newtool-example\.ai\tNewtool$/m);

    // Run again without the report: the discovered name is still waiting for a decision.
    const second = run('--sources', join(dir, 'sources'), '--manifest', manifest, '--out', out, '--write');
    expect(second.status, second.stderr).toBe(0);
    expect(readFileSync(join(out, 'queue.tsv'), 'utf8')).toMatch(/^chat\.shadow-example\.ai\t/m);
  });

  it('says which sources are missing and how to fetch them; --strict and --write refuse to go on without them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-candidates-'));
    const manifest = join(dir, 'sources.tsv');
    writeFileSync(manifest, `label\trepository\tcommit\tformat\tpaths\tabout\nawesome-genai\tsomeone/absent\t${'b'.repeat(40)}\tmarkdown\tREADME.md\tabsent\n`);
    const lax = run('--sources', dir, '--manifest', manifest);
    expect(lax.status).toBe(0);
    expect(lax.stderr).toContain(`awesome-genai: someone/absent@bbbbbbbbbbbb not in ${join(dir, 'someone+absent')} (git clone https://github.com/someone/absent`);
    expect(run('--sources', dir, '--manifest', manifest, '--strict').status).toBe(1);
    const write = run('--sources', dir, '--manifest', manifest, '--out', dir, '--write');
    expect(write.status).toBe(1);
    expect(write.stderr).toContain('--write needs every source');
  });

  it('rejects a manifest row with a bad commit or format, naming the line and the column', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-candidates-'));
    const manifest = join(dir, 'sources.tsv');
    writeFileSync(manifest, 'label\trepository\tcommit\tformat\tpaths\tabout\nx\tsomeone/x\tmain\trss\tREADME.md\tbad\n');
    const bad = run('--sources', dir, '--manifest', manifest);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(`${manifest}:2: commit: 'main' is not a 40-hex commit`);
    expect(bad.stderr).toContain(`${manifest}:2: format: 'rss' is not one of`);
  });
});
