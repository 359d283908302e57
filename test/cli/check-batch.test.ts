// `aifence check` with many names, and with names that are not names.
// Many names are explained in one batch (each list read once for all of
// them); the batch must say exactly what checking each name alone says.
// Inputs that are not domain names are errors naming the input, a URL is
// checked by its host, and a client that is not an address is an error,
// from the CLI and from the admin API alike.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CheckResult, checkName, checkNames } from '../../src/control/policy/explain.js';
import { configFromText } from '../../src/control/config/load.js';
import { buildFilter } from '../../src/control/policy/filter.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';

const CLI = resolve('dist/cli.js');
const dir = mkdtempSync(join(tmpdir(), 'aifence-check-'));

const FILES: Record<string, string> = {
  'ads.hosts': '# ads\n0.0.0.0 tracker.example\n0.0.0.0 ads.shop.example\n127.0.0.1 deep.a.b.c.example\n',
  'ai.rpz': '$TTL 30\n@ SOA a. b. 1 2 3 4 5\nchat-ai.example CNAME .\n*.chat-ai.example CNAME .\nonly.example CNAME .\n',
  'exact.txt': 'exact.example\nshop.example\n',
  'rules.adblock': '||shop.example^\n@@||ok.shop.example^\n||tracker.example^\n',
};

const CONFIG = `
upstream: { servers: ["127.0.0.1:9"] }
lists:
  ads: { source: ads.hosts }
  ai: { source: ai.rpz }
  exact: { source: exact.txt, exact: true }
  rules: { source: rules.adblock }
groups:
  default:
    block: [service:deepseek, list:ads, list:ai, list:exact, list:rules]
  lab:
    clients: [10.9.0.0/16]
    block: [tag:genai, list:ads]
    allow: [service:openai]
`;

// Blocked by a parent, by the name itself, by an exact entry only, lifted by an
// @@ rule, lifted by a group's exception, catalogue services, names no list has,
// the same parent reached from several names, and repeats.
const NAMES = [
  'tracker.example', 'a.tracker.example', 'b.a.tracker.example', 'shop.example', 'x.shop.example', 'ok.shop.example',
  'y.ok.shop.example', 'ads.shop.example', 'exact.example', 'sub.exact.example', 'chat-ai.example', 'www.chat-ai.example',
  'only.example', 'deep.a.b.c.example', 'a.b.c.example', 'chat.deepseek.com', 'api.deepseek.com', 'deepseek.com',
  'chatgpt.com', 'claude.ai', 'example.org', 'www.example.org', 'tracker.example', 'Chat.DeepSeek.COM.',
];

beforeAll(() => {
  for (const [name, text] of Object.entries(FILES)) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, 'aifence.yaml'), CONFIG);
  writeFileSync(join(dir, 'names.txt'), ['# names to check', ...NAMES, ''].join('\n'));
});

const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, 'check', '--config', join(dir, 'aifence.yaml'), ...args], { encoding: 'utf8' });
const jsonLines = (text: string): CheckResult[] => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as CheckResult);

describe('check many names at once', () => {
  it('says for every name, in order, what checking it alone says, for each group', async () => {
    const filter = await buildFilter(configFromText(CONFIG, join(dir, 'aifence.yaml')));
    for (const client of ['127.0.0.1', '10.9.1.1']) {
      const batch = await checkNames(filter, NAMES, client);
      const alone: CheckResult[] = [];
      for (const name of NAMES) alone.push(await checkName(filter, name, client));
      expect(batch).toEqual(alone);
    }
    const byName = new Map((await checkNames(filter, NAMES)).map((r) => [r.name, r]));
    expect(byName.get('b.a.tracker.example')).toMatchObject({ verdict: 'blocked', list: 'ads', line: 2, entry: 'tracker.example' });
    expect(byName.get('y.ok.shop.example')).toMatchObject({ verdict: 'allowed', list: 'rules', line: 2, entry: 'ok.shop.example' });
    expect(byName.get('x.shop.example')).toMatchObject({ verdict: 'blocked', list: 'rules', line: 1, entry: 'shop.example' });
    expect(byName.get('sub.exact.example')).toMatchObject({ verdict: 'allowed', list: null });
    expect(byName.get('exact.example')).toMatchObject({ verdict: 'blocked', list: 'exact', line: 1 });
    expect(byName.get('www.chat-ai.example')).toMatchObject({ verdict: 'blocked', list: 'ai', line: 3, entry: 'chat-ai.example' });
    expect(byName.get('a.b.c.example')).toMatchObject({ verdict: 'allowed', list: null });
    expect(byName.get('Chat.DeepSeek.COM.')).toMatchObject({ verdict: 'blocked', service: 'deepseek', entry: 'deepseek.com' });
  });

  it('prints the same from --file as from the names given one by one', () => {
    const fromFile = cli('--file', join(dir, 'names.txt'), '--json');
    expect(fromFile.status).toBe(0);
    const batch = jsonLines(fromFile.stdout);
    expect(batch.map((r) => r.name)).toEqual(NAMES);
    const alone = NAMES.slice(3, 6).map((name) => jsonLines(cli(name, '--json').stdout)[0]);
    expect(batch.slice(3, 6)).toEqual(alone);
  }, 60_000);

  it('reads each list once for all the names: 1,000 listed names over a 300,000-name list take seconds, not minutes', () => {
    const big = Array.from({ length: 300_000 }, (_, i) => `host${i}.zone${i % 1000}.test`);
    writeFileSync(join(dir, 'big.txt'), big.join('\n') + '\n');
    writeFileSync(join(dir, 'big.yaml'), 'upstream: { servers: ["127.0.0.1:9"] }\nlists:\n  big: { source: big.txt }\n');
    const asked = Array.from({ length: 1000 }, (_, k) => 297 * k);
    writeFileSync(join(dir, 'many.txt'), asked.map((i) => `www.host${i}.zone${i % 1000}.test`).join('\n') + '\n');
    const started = performance.now();
    // Re-reading the list per name (0.15 s each here) took ~3 minutes for these; the batch takes ~2 s.
    const r = spawnSync(process.execPath, [CLI, 'check', '--config', join(dir, 'big.yaml'), '--file', join(dir, 'many.txt'), '--json'], { encoding: 'utf8', timeout: 90_000 });
    const seconds = (performance.now() - started) / 1000;
    expect(r.status).toBe(0);
    const results = jsonLines(r.stdout);
    expect(results).toHaveLength(1000);
    results.forEach((res, k) => expect(res).toMatchObject({ verdict: 'blocked', list: 'big', line: asked[k] + 1, entry: `host${asked[k]}.zone${asked[k] % 1000}.test` }));
    expect(seconds).toBeLessThan(60);
  }, 120_000);
});

describe('check refuses what is not a name or an address', () => {
  it('checks a URL by its host, with a note on stderr', { timeout: 30_000 }, () => {
    const r = cli('https://Chat.DeepSeek.com/a/chat?x=1', '--json');
    expect(r.status).toBe(0);
    expect(jsonLines(r.stdout)[0]).toMatchObject({ name: 'chat.deepseek.com', verdict: 'blocked', service: 'deepseek' });
    expect(r.stderr).toContain('note: "https://Chat.DeepSeek.com/a/chat?x=1" is a URL: checking its host chat.deepseek.com');
  });

  it.each([
    ['', 'empty name'],
    ['bad..name', 'empty label'],
    [`${'a'.repeat(64)}.example`, 'label longer than 63 octets'],
    ['not a name', 'invalid character " "'],
    ['http://', 'is a URL without a host name'],
  ])('names the input %j and why it is not a name, with exit code 2', (input, why) => {
    const r = cli(input, '--json');
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(JSON.stringify(input));
    expect(r.stderr).toContain(why);
  });

  it('names file and line of a bad name in --file, and still checks the rest', () => {
    writeFileSync(join(dir, 'some-bad.txt'), 'tracker.example\nbad..name\nexample.org\n');
    const r = cli('--file', join(dir, 'some-bad.txt'), '--json');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${join(dir, 'some-bad.txt')}:2: "bad..name" is not a domain name: empty label`);
    expect(jsonLines(r.stdout).map((x) => [x.name, x.verdict])).toEqual([
      ['tracker.example', 'blocked'],
      ['example.org', 'allowed'],
    ]);
  });

  it('refuses a --client that is not an IP address, rather than answering "refused"', () => {
    const r = cli('tracker.example', '--client', 'notanip', '--json');
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('client "notanip" is not an IP address');
  });
});

describe('admin /check refuses what is not a name or an address', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startDaemon('lists:\n  ads: { source: ads.hosts }\n', ['127.0.0.1:9'], { files: { 'ads.hosts': FILES['ads.hosts'] } });
  });
  afterAll(() => d?.stop());
  const get = async (query: string) => {
    const res = await fetch(`http://127.0.0.1:${d.daemon.adminAddress!.port}/check?${query}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('answers 400 naming a bad name or client; checks a URL by its host', async () => {
    expect(await get('name=bad..name')).toMatchObject({ status: 400, body: { error: expect.stringContaining('"bad..name" is not a domain name: empty label') } });
    expect(await get('name=tracker.example&client=notanip')).toMatchObject({ status: 400, body: { error: expect.stringContaining('client "notanip" is not an IP address') } });
    const url = await get(`name=${encodeURIComponent('http://x.tracker.example/pixel.gif')}`);
    expect(url).toMatchObject({ status: 200, body: { name: 'x.tracker.example', verdict: 'blocked', list: 'ads', line: 2, note: expect.stringContaining('is a URL') } });
  });
});
