// The catalogue loads and validates; bad files are rejected with errors
// that name the file, the line, the key, the bad value and what is right.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CatalogueError, catalogueCountries, loadCatalogue, renderSummary, resolveSelector, type CatalogueIssue } from '../../src/control/catalogue/index.js';
import { COUNTRIES, ISO_COUNTRIES, UNKNOWN_COUNTRY } from '../../src/control/catalogue/schema.js';

describe('the shipped catalogue', () => {
  const cat = loadCatalogue();

  it('loads from the package blocklists/ and validates', () => {
    expect(cat.services.length).toBeGreaterThan(100);
    expect(new Set(cat.services.map((s) => s.id)).size).toBe(cat.services.length);
    for (const s of cat.services) {
      expect(s.file, s.id).toMatch(/\/blocklists\/.+\.yaml$/);
      expect(s.domains.length, s.id).toBeGreaterThan(0);
      for (const d of s.domains) {
        expect(d.sources.length, d.name).toBeGreaterThan(0);
        expect(d.text, d.name).toContain(d.name);
      }
    }
  });

  it('lists every tag in use, with the countries of the AI services', () => {
    const tags = cat.tags();
    expect(tags).toEqual([...tags].sort());
    for (const t of ['genai', 'doh-bypass', 'chat', 'api', 'code', 'cn', 'us', 'fr']) expect(tags).toContain(t);
    // Countries only of DoH resolvers are not tags (LibreDNS is Greek; no Greek AI service yet).
    expect(tags).not.toContain('gr');
    expect(tags).toContain('ch'); // Swiss AI services (Lumo, Euria) make it one, though Quad9 alone did not
  });

  it('is parsed again only when a file changed (every reload asks for it)', () => {
    expect(loadCatalogue()).toBe(cat);
    const d = mkdtempSync(join(tmpdir(), 'aifence-catalogue-'));
    try {
      const file = join(d, 'x.yaml');
      writeFileSync(file, `services:\n${SERVICE()}\n`);
      const first = loadCatalogue(d);
      expect(loadCatalogue(d)).toBe(first);
      writeFileSync(file, `services:\n${SERVICE({ name: 'Example AI 2' })}\n`);
      const second = loadCatalogue(d);
      expect(second).not.toBe(first);
      expect(second.services[0].name).toBe('Example AI 2');
      writeFileSync(join(d, 'y.yaml'), `services:\n${SERVICE({ id: 'other-ai', domains: '\n      - { name: other-ai.com, sources: [review] }' })}\n`);
      expect(loadCatalogue(d).services.map((s) => s.id)).toEqual(['example-ai', 'other-ai']);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('embeds the 249 ISO 3166-1 alpha-2 codes, and zz for a vendor whose country is not known', () => {
    expect(ISO_COUNTRIES.size).toBe(249);
    expect(ISO_COUNTRIES.has('zz')).toBe(false);
    expect(UNKNOWN_COUNTRY).toBe('zz');
    expect([...COUNTRIES].sort()).toEqual([...ISO_COUNTRIES, 'zz'].sort());
  });
});

const SERVICE = (over: Record<string, string> = {}) => {
  const f = {
    id: 'example-ai',
    name: 'Example AI',
    vendor: 'Example',
    country: 'us',
    tags: '[genai, chat]',
    reviewed: '2026-11-23',
    domains: '\n      - { name: example-ai.com, sources: [review] }',
    ...over,
  };
  return Object.entries(f)
    .map(([k, v], i) => `${i === 0 ? '  - ' : '    '}${k}: ${v}`)
    .join('\n');
};

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Writes the files to a fresh directory and returns the loader's issues (none if it loads). */
function issuesFor(files: Record<string, string>): CatalogueIssue[] {
  dir = mkdtempSync(join(tmpdir(), 'aifence-catalogue-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  try {
    loadCatalogue(dir);
    return [];
  } catch (e) {
    expect(e).toBeInstanceOf(CatalogueError);
    return (e as CatalogueError).issues;
  }
}

/** The single issue for one bad service file, checked for file and line. */
function oneIssue(service: string, line: number): CatalogueIssue {
  const issues = issuesFor({ 'ai/example.yaml': `services:\n${service}\n` });
  expect(issues, JSON.stringify(issues)).toHaveLength(1);
  expect(issues[0].file).toBe(join(dir!, 'ai/example.yaml'));
  expect(issues[0].line).toBe(line);
  return issues[0];
}

describe('validation', () => {
  it('accepts a well-formed file', () => {
    expect(issuesFor({ 'ai/example.yaml': `services:\n${SERVICE()}\n` })).toEqual([]);
  });

  it('rejects a country that is not ISO alpha-2 lower case, naming the right one', () => {
    expect(oneIssue(SERVICE({ country: 'uk' }), 5)).toMatchObject({ key: 'services[0].country', message: expect.stringMatching(/'uk' is not .*use 'gb'/) });
    expect(oneIssue(SERVICE({ country: 'CN' }), 5).message).toMatch(/'CN' .*use 'cn'/);
    expect(oneIssue(SERVICE({ country: 'xx' }), 5).message).toMatch(/'xx' .*e\.g\. cn, us.*zz when the country of the vendor is not known/);
  });

  it("takes zz for a vendor whose country is not known: tag:zz selects it, no real country's tag ever does", () => {
    const known = SERVICE({ id: 'korean-ai', country: 'kr', domains: '\n      - { name: korean-ai.test, sources: [review] }' });
    const unknown = SERVICE({ id: 'somewhere-ai', country: 'zz', domains: '\n      - { name: somewhere-ai.test, sources: [review] }' });
    const unknown2 = SERVICE({ id: 'elsewhere-ai', country: 'zz', domains: '\n      - { name: elsewhere-ai.test, sources: [review] }' });
    expect(issuesFor({ 'ai/a.yaml': `services:\n${known}\n${unknown}\n${unknown2}\n` })).toEqual([]);
    const cat = loadCatalogue(dir!);
    expect(resolveSelector('tag:zz', cat, [])).toEqual(['service:somewhere-ai', 'service:elsewhere-ai']);
    expect(resolveSelector('tag:genai', cat, [])).toEqual(['service:korean-ai', 'service:somewhere-ai', 'service:elsewhere-ai']);
    for (const cc of ISO_COUNTRIES) {
      let selected: string[] = [];
      try {
        selected = resolveSelector(`tag:${cc}`, cat, []);
      } catch {
        // a country with no service is not a tag at all
      }
      expect(selected, cc).not.toContain('service:somewhere-ai');
    }
    // Listed as "unknown", last whatever its count, and not counted as a country.
    expect(catalogueCountries(cat).map((c) => [c.code, c.name])).toEqual([
      ['kr', 'South Korea'],
      ['zz', 'unknown'],
    ]);
    expect(renderSummary(cat)).toMatch(/from vendors in 1 countries and 2 whose country is not known \(`tag:zz`\)/);
    expect(renderSummary(cat)).toContain('| unknown | `tag:zz` | 2 |');
    // Like any country code, zz is not written as a tag.
    expect(oneIssue(SERVICE({ country: 'zz', tags: '[genai, zz]' }), 6).message).toMatch(/'zz'; the country tag comes from 'country'/);
  });

  it('rejects unknown tags, country codes as tags, and a missing class tag', () => {
    expect(oneIssue(SERVICE({ tags: '[genai, chatbot]' }), 6)).toMatchObject({ key: 'services[0].tags', message: expect.stringMatching(/unknown tag 'chatbot'; did you mean 'chat'\?/) });
    expect(oneIssue(SERVICE({ tags: '[genai, cn]' }), 6).message).toMatch(/'cn'; the country tag comes from 'country'/);
    expect(oneIssue(SERVICE({ tags: '[chat]' }), 6).message).toMatch(/needs exactly one of genai, doh-bypass; has 0/);
    expect(oneIssue(SERVICE({ tags: '[genai, doh-bypass]' }), 6).message).toMatch(/has 2/);
  });

  it('rejects bad host names, saying what is wrong and the fix', () => {
    const withName = (name: string) => SERVICE({ domains: `\n      - { name: '${name}', sources: [review] }` });
    expect(oneIssue(withName('Example-AI.com'), 9)).toMatchObject({
      key: 'services[0].domains[0].name',
      message: expect.stringMatching(/'Example-AI\.com' must be lower case; write 'example-ai\.com'/),
    });
    expect(oneIssue(withName('example-ai.com.'), 9).message).toMatch(/must not end with a dot; write 'example-ai\.com'/);
    expect(oneIssue(withName(`${'a'.repeat(64)}.com`), 9).message).toMatch(/label of 64 characters; at most 63/);
    expect(oneIssue(withName(`${'abcdefghi.'.repeat(25)}coms`), 9).message).toMatch(/is 254 characters long; at most 253/);
    expect(oneIssue(withName('localhost'), 9).message).toMatch(/at least two labels/);
    expect(oneIssue(withName('bad-.example.com'), 9).message).toMatch(/label 'bad-'/);
    expect(oneIssue(withName('exa mple.com'), 9).message).toMatch(/label 'exa mple'/);
    expect(oneIssue(withName('a..com'), 9).message).toMatch(/empty label/);
    expect(issuesFor({ 'x.yaml': `services:\n${withName('_dmarc.example-ai.com')}\n` })).toEqual([]);
  });

  it('rejects unknown keys, suggesting the known one', () => {
    const svc = SERVICE().replace('    domains:', '    domain:');
    const issues = issuesFor({ 'ai/example.yaml': `services:\n${svc}\n` });
    expect(issues.map((i) => [i.line, i.key, i.message])).toEqual([
      [8, 'services[0].domain', expect.stringMatching(/unknown key; did you mean 'domains'\?/)],
      [2, 'services[0].domains', expect.stringMatching(/expected a non-empty list/)],
    ]);
    expect(oneIssue(SERVICE({ domains: '\n      - { name: example-ai.com, exactly: true, sources: [review] }' }), 9)).toMatchObject({
      key: 'services[0].domains[0].exactly',
      message: expect.stringMatching(/did you mean 'exact'\?/),
    });
    expect(issuesFor({ 'a.yaml': `service:\n${SERVICE()}\n` })[0]).toMatchObject({ line: 1, key: 'service' });
  });

  it('rejects bad values of exact, sources, id and reviewed', () => {
    expect(oneIssue(SERVICE({ domains: '\n      - { name: example-ai.com, exact: yes, sources: [review] }' }), 9)).toMatchObject({
      key: 'services[0].domains[0].exact',
      message: "'yes' is not true or false",
    });
    expect(oneIssue(SERVICE({ domains: '\n      - { name: example-ai.com, sources: [v2ray:openai] }' }), 9).message).toMatch(
      /unknown source 'v2ray:openai'; did you mean 'v2fly'\?/,
    );
    expect(oneIssue(SERVICE({ domains: '\n      - { name: example-ai.com }' }), 9).message).toMatch(/sources: missing|missing; say where/);
    expect(oneIssue(SERVICE({ id: 'Example_AI' }), 2)).toMatchObject({ key: 'services[0].id', message: expect.stringMatching(/'Example_AI' is not a valid id/) });
    expect(oneIssue(SERVICE({ reviewed: '23/11/2026' }), 7).message).toMatch(/'23\/11\/2026' is not a date; use YYYY-MM-DD/);
    expect(oneIssue(SERVICE({ name: '42' }), 3).message).toMatch(/42 is not a non-empty string \(quote it\)/);
  });

  it('reports YAML syntax errors with their line', () => {
    const issues = issuesFor({ 'bad.yaml': 'services:\n  - id: x\n    tags: [genai\n' });
    expect(issues[0]).toMatchObject({ file: join(dir!, 'bad.yaml'), key: '(yaml)' });
    expect(issues[0].line).toBeGreaterThanOrEqual(3);
  });

  it('collects every problem of every file into one error message', () => {
    dir = mkdtempSync(join(tmpdir(), 'aifence-catalogue-'));
    writeFileSync(join(dir, 'a.yaml'), `services:\n${SERVICE({ country: 'uk', tags: '[genai, chatbot]' })}\n`);
    writeFileSync(join(dir, 'b.yaml'), `services:\n${SERVICE({ id: 'other', reviewed: 'soon' })}\n`);
    expect(() => loadCatalogue(dir)).toThrow(
      new RegExp(`^catalogue has 3 problems:\\n  ${dir}/a\\.yaml:5: services\\[0\\]\\.country: 'uk'.*\\n.*a\\.yaml:6: .*chatbot.*\\n.*b\\.yaml:7: services\\[0\\]\\.reviewed: 'soon'[^\\n]*$`),
    );
  });

  it('rejects an id used twice, naming both places', () => {
    const issues = issuesFor({
      'a.yaml': `services:\n${SERVICE()}\n`,
      'b.yaml': `services:\n${SERVICE({ domains: '\n      - { name: other.com, sources: [review] }' })}\n`,
    });
    expect(issues).toEqual([{ file: join(dir!, 'b.yaml'), line: 2, key: 'id', message: `'example-ai' is already the id of a service at ${join(dir!, 'a.yaml')}:2` }]);
  });

  it('rejects a name claimed by two services unless both say shares:', () => {
    const a = (shares = '') => SERVICE({ id: 'a', domains: `\n      - { name: example.com, sources: [review] }${shares}` });
    const b = (shares = '') => SERVICE({ id: 'b', domains: `\n      - { name: chat.example.com, sources: [review] }${shares}` });
    const issues = issuesFor({ 'a.yaml': `services:\n${a()}\n`, 'b.yaml': `services:\n${b()}\n` });
    expect(issues).toEqual([
      {
        file: join(dir!, 'b.yaml'),
        line: 9,
        key: 'b.domains',
        message: expect.stringMatching(new RegExp(`'chat\\.example\\.com' is also claimed by service 'a' \\(suffix 'example\\.com' at ${dir}/a\\.yaml:9\\).*shares: \\[a\\]`)),
      },
    ]);
    // One-sided sharing is not enough; both sides is.
    expect(issuesFor({ 'a.yaml': `services:\n${a()}\n`, 'b.yaml': `services:\n${b('\n    shares: [a]')}\n` })).toHaveLength(1);
    expect(issuesFor({ 'a.yaml': `services:\n${a('\n    shares: [b]')}\n`, 'b.yaml': `services:\n${b('\n    shares: [a]')}\n` })).toEqual([]);
    // An exact host claims only itself.
    const exactA = SERVICE({ id: 'a', domains: '\n      - { name: example.com, exact: true, sources: [review] }' });
    expect(issuesFor({ 'a.yaml': `services:\n${exactA}\n`, 'b.yaml': `services:\n${b()}\n` })).toEqual([]);
    // The same name twice, across services, is reported once.
    const sameB = SERVICE({ id: 'b', domains: '\n      - { name: example.com, exact: true, sources: [review] }' });
    expect(issuesFor({ 'a.yaml': `services:\n${a()}\n`, 'b.yaml': `services:\n${sameB}\n` })).toMatchObject([
      { file: expect.stringMatching(/b\.yaml$/), message: expect.stringMatching(/same name at .*a\.yaml:9/) },
    ]);
  });

  it('rejects shares: naming no service', () => {
    const a = SERVICE({ id: 'a', shares: '[exampel-ai]', domains: '\n      - { name: a.example, sources: [review] }' });
    const issues = issuesFor({ 'a.yaml': `services:\n${a}\n${SERVICE()}\n` });
    expect(issues).toEqual([{ file: join(dir!, 'a.yaml'), line: 2, key: 'a.shares', message: expect.stringMatching(/'exampel-ai' .*did you mean 'example-ai'\?/) }]);
  });

  it('rejects duplicate and redundant names within a service', () => {
    const dup = '\n      - { name: example.com, sources: [review] }\n      - { name: example.com, exact: true, sources: [review] }';
    expect(oneIssue(SERVICE({ domains: dup }), 10).message).toMatch(/'example\.com' is listed twice \(also at .*:9\)/);
    const under = '\n      - { name: example.com, sources: [review] }\n      - { name: api.example.com, sources: [review] }';
    expect(oneIssue(SERVICE({ domains: under }), 10).message).toMatch(/'api\.example\.com' is already covered by 'example\.com'/);
  });

  it('rejects a directory with no catalogue files', () => {
    dir = mkdtempSync(join(tmpdir(), 'aifence-catalogue-'));
    expect(() => loadCatalogue(dir)).toThrow(/no \.yaml files found/);
  });
});
