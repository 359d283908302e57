// Selectors, the matcher inputs the catalogue compiles to, the README table
// and the "did you mean" helper.

import { describe, expect, it } from 'vitest';
import { catalogueLists, catalogueVendors, loadCatalogue, renderServiceTable, resolveSelector, vendorId } from '../../src/control/catalogue/index.js';
import { closest, editDistance } from '../../src/text/suggest.js';

const cat = loadCatalogue();
const admin = ['ads', 'company-extra'];

describe('resolveSelector', () => {
  it('selects one service, every service with a tag, or an admin list', () => {
    expect(resolveSelector('service:deepseek', cat, admin)).toEqual(['service:deepseek']);
    expect(resolveSelector('tag:code', cat, admin)).toEqual(
      cat.services.filter((s) => s.tags.includes('code')).map((s) => `service:${s.id}`),
    );
    expect(resolveSelector('tag:fr', cat, admin)).toEqual(
      cat.services.filter((s) => s.country === 'fr' && s.tags.includes('genai')).map((s) => `service:${s.id}`),
    );
    expect(resolveSelector('tag:fr', cat, admin)).toContain('service:mistral');
    expect(resolveSelector('tag:kr', cat, admin)).toEqual(expect.arrayContaining(['service:naver-clova-x', 'service:upstage', 'service:wrtn']));
    expect(resolveSelector('tag:ru', cat, admin)).toEqual(expect.arrayContaining(['service:gigachat', 'service:yandex-alice', 'service:kandinsky']));
    expect(resolveSelector('tag:model-hub', cat, admin)).toEqual(expect.arrayContaining(['service:huggingface', 'service:modelscope']));
    expect(resolveSelector('tag:app-hosting', cat, admin)).toEqual(expect.arrayContaining(['service:huggingface-spaces', 'service:lovable-apps']));
    expect(resolveSelector('list:ads', cat, admin)).toEqual(['ads']);
  });

  it('throws on an unknown selector, naming the closest valid one', () => {
    expect(() => resolveSelector('service:deepsek', cat, admin)).toThrow("unknown selector 'service:deepsek'; did you mean 'service:deepseek'?");
    expect(() => resolveSelector('deepseek', cat, admin)).toThrow("unknown selector 'deepseek'; did you mean 'service:deepseek' or 'vendor:deepseek'?");
    expect(() => resolveSelector('services:claude', cat, admin)).toThrow("did you mean 'service:claude'?");
    expect(() => resolveSelector('tag:genia', cat, admin)).toThrow("did you mean 'tag:genai'?");
    expect(() => resolveSelector('list:add', cat, admin)).toThrow("did you mean 'list:ads'?");
    expect(() => resolveSelector('list:ads', cat, [])).toThrow("unknown selector 'list:ads'");
    expect(() => resolveSelector('tag:gr', cat, admin)).toThrow("unknown selector 'tag:gr'"); // only a DoH resolver is Greek
    expect(() => resolveSelector('zzzzzzzzzzzzzzzzzzzzzzzz:qqqqqqqqqqqqqqq', cat, admin)).toThrow(
      'selectors are service:ID, vendor:ID, tag:TAG (e.g. tag:genai, tag:cn) or list:NAME',
    );
  });
});

describe('vendor selectors', () => {
  it('select the vendor\'s generative-AI services', () => {
    expect(resolveSelector('vendor:anthropic', cat, admin)).toEqual(['service:claude', 'service:claude-artifacts']);
    const bytedance = resolveSelector('vendor:bytedance', cat, admin);
    expect(bytedance).toEqual(cat.services.filter((s) => s.vendor === 'ByteDance').map((s) => `service:${s.id}`));
    expect(bytedance).toEqual(expect.arrayContaining(['service:doubao', 'service:coze', 'service:trae']));
  });

  it('never take a vendor\'s DNS resolver along', () => {
    const google = resolveSelector('vendor:google', cat, admin);
    expect(google).toContain('service:gemini');
    expect(google).not.toContain('service:google-public-dns');
    expect(() => resolveSelector('vendor:quad9-foundation', cat, admin)).toThrow(/unknown selector/);
  });

  it('are ids made from the vendor names, every one listed with its services', () => {
    expect(vendorId('GitHub (Microsoft)')).toBe('github');
    expect(vendorId('Moonshot AI')).toBe('moonshot-ai');
    expect(vendorId('01.AI')).toBe('01-ai');
    const vendors = catalogueVendors(cat);
    expect(new Set(vendors.map((v) => v.id)).size).toBe(vendors.length);
    const genai = cat.services.filter((s) => s.tags.includes('genai'));
    expect(vendors.flatMap((v) => v.services).sort()).toEqual(genai.map((s) => s.id).sort());
    for (const v of vendors) expect(v.id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
  });

  it('a selector under the wrong kind suggests the same word under the right kinds, and the vendor\'s services', () => {
    expect(() => resolveSelector('service:anthropic', cat, admin)).toThrow("did you mean 'vendor:anthropic' or 'service:claude' or 'service:claude-artifacts'?");
    expect(() => resolveSelector('tag:bytedance', cat, admin)).toThrow(/did you mean 'vendor:bytedance' or 'service:[a-z-]+' or 'service:[a-z-]+'\?/);
    expect(() => resolveSelector('vendor:claude', cat, admin)).toThrow("did you mean 'service:claude'?");
    expect(() => resolveSelector('vendor:genai', cat, admin)).toThrow("did you mean 'tag:genai'?");
    expect(() => resolveSelector('vendor:antropic', cat, admin)).toThrow("did you mean 'vendor:anthropic'?");
  });
});

describe('catalogueLists', () => {
  it('makes one in-memory list per service, named service:ID, with its entries', () => {
    const lists = catalogueLists(cat);
    expect(lists.map((l) => l.spec.name)).toEqual(cat.services.map((s) => `service:${s.id}`));
    const deepseek = lists.find((l) => l.spec.name === 'service:deepseek')!;
    expect(deepseek.spec).toEqual({ name: 'service:deepseek', format: 'domains', exact: false, allow: false });
    expect(deepseek.spec.source).toBeUndefined();
    const svc = cat.services.find((s) => s.id === 'deepseek')!;
    expect(deepseek.entries).toEqual(svc.domains.map((d) => ({ name: d.name, line: d.line, exact: d.exact, allow: false, text: d.text })));
    const gemini = lists.find((l) => l.spec.name === 'service:gemini')!;
    expect(gemini.entries!.find((e) => e.name === 'gemini.google.com')).toMatchObject({ exact: true, allow: false });
  });
});

describe('renderServiceTable', () => {
  it('is one row per service, sorted by country then id, exact hosts marked', () => {
    const lines = renderServiceTable(cat).trimEnd().split('\n');
    expect(lines[0]).toBe('| Service | Vendor | Country | Tags | Names |');
    const rows = lines.slice(2);
    expect(rows).toHaveLength(cat.services.length);
    const keys = rows.map((r) => {
      const cells = r.split(' | ');
      return `${cells[2]} ${/\(`([^`]+)`\)/.exec(cells[0])![1]}`;
    });
    expect(keys).toEqual([...keys].sort((a, b) => a.split(' ')[0].localeCompare(b.split(' ')[0]) || a.localeCompare(b)));
    expect(rows.find((r) => r.includes('`service:deepseek`') || r.includes('(`deepseek`)'))).toBe(
      '| DeepSeek (`deepseek`) | DeepSeek | cn | genai, chat, api, code | `deepseek.com` |',
    );
    expect(rows.find((r) => r.includes('(`gemini`)'))).toContain('`gemini.google.com` (exact)');
  });
});

describe('suggestions', () => {
  it('measures edit distance and keeps only plausible slips', () => {
    expect(editDistance('deepsek', 'deepseek')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(closest('uk', ['us', 'gb'])).toBe('us');
    expect(closest('chatbot', ['chat', 'code'])).toBe('chat');
    expect(closest('xyzzy', ['chat', 'code'])).toBeUndefined();
  });
});
