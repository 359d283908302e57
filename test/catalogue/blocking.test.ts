// What the catalogue blocks, checked against the plain reference and the
// real matcher: every catalogued name under its service's selectors,
// subdomains only for suffix entries, nothing outside the catalogue.

import { beforeAll, describe, expect, it } from 'vitest';
import { catalogueLists, loadCatalogue, resolveSelector, type Service } from '../../src/control/catalogue/index.js';
import { loadLists } from '../../src/match/lists.js';
import { blockers, type Blocker } from './blockers.js';

const cat = loadCatalogue();
const inputs = catalogueLists(cat);
const PROBE = 'aifence-probe';

/** Every selector that takes in `s`: its id, its tags, and its country for AI services. */
function selectorsOf(s: Service): string[] {
  const tags = s.tags.includes('genai') ? [...s.tags, s.country] : s.tags;
  return [`service:${s.id}`, ...tags.map((t) => `tag:${t}`)];
}

// Every entry, and the suffix entries apart: looked up per name, not scanned (the catalogue has some 1,800 names).
const entryNames = new Set(cat.services.flatMap((s) => s.domains.map((d) => d.name)));
const suffixNames = new Set(cat.services.flatMap((s) => s.domains.filter((d) => !d.exact).map((d) => d.name)));

/** Is `name` catalogued, itself or below a suffix entry, by any service? */
function catalogued(name: string): boolean {
  if (entryNames.has(name)) return true;
  const labels = name.split('.');
  return labels.some((_, i) => i > 0 && suffixNames.has(labels.slice(i).join('.')));
}

/** The lists a selector stands for, resolved once. */
const resolved = new Map<string, Set<string>>();
const listsOf = (sel: string): Set<string> => {
  let lists = resolved.get(sel);
  if (!lists) resolved.set(sel, (lists = new Set(resolveSelector(sel, cat, []))));
  return lists;
};

describe.each(blockers)('catalogue blocking (%s)', (_kind, make) => {
  let blocked: Blocker;
  beforeAll(async () => {
    blocked = await make(inputs);
  });

  it('blocks every catalogued name under each selector that takes in its service', () => {
    for (const s of cat.services) {
      const list = `service:${s.id}`;
      for (const sel of selectorsOf(s)) expect(listsOf(sel).has(list), `${sel} takes ${list}`).toBe(true);
      for (const d of s.domains) expect(blocked(d.name), d.name).toContain(list);
    }
  });

  it('blocks the subdomains of suffix entries and not those of exact hosts', () => {
    for (const s of cat.services) {
      const list = `service:${s.id}`;
      for (const d of s.domains) {
        const sub = `${PROBE}.${d.name}`;
        if (d.exact) expect(blocked(sub).has(list), `${sub} (exact ${d.name})`).toBe(false);
        else {
          expect(blocked(sub), sub).toContain(list);
          expect(blocked(`a.b.${sub}`), `a.b.${sub}`).toContain(list);
        }
      }
    }
  });

  it('blocks nothing outside the catalogue: parents, look-alikes, unrelated names', () => {
    const outside = ['example.com', 'com', 'cn', 'ai', 'deepseek.co', 'deepseek.com.example.net', 'notdeepseek.com', 'xn--deepseek-xyz.com'];
    for (const s of cat.services) {
      for (const d of s.domains) {
        outside.push(`x${d.name}`, `${d.name}.${PROBE}`);
        const parent = d.name.slice(d.name.indexOf('.') + 1);
        if (!catalogued(parent)) outside.push(parent);
      }
    }
    for (const name of outside) {
      if (catalogued(name)) continue;
      expect([...blocked(name)], name).toEqual([]);
    }
  });

  it('blocks DeepSeek’s key hosts under service:deepseek', () => {
    for (const host of ['deepseek.com', 'www.deepseek.com', 'chat.deepseek.com', 'api.deepseek.com', 'platform.deepseek.com', 'cdn.deepseek.com']) {
      expect(blocked(host), host).toContain('service:deepseek');
    }
  });
});

describe('the real matcher', () => {
  it('takes every catalogue entry, rejecting none', async () => {
    const { reports } = await loadLists(inputs);
    expect(reports.map((r) => [r.name, r.entries, r.rejected, r.skipped])).toEqual(
      cat.services.map((s) => [`service:${s.id}`, s.domains.length, 0, 0]),
    );
  });
});

describe('selector coverage', () => {
  const ids = (sel: string) => resolveSelector(sel, cat, []).map((l) => l.slice('service:'.length));

  it('tag:cn takes in every Chinese service named in the brief', () => {
    const cn = ids('tag:cn');
    for (const id of [
      'deepseek', 'qwen', 'alibaba-model-studio', 'kimi', 'doubao', 'dola', 'coze', 'trae', 'volcengine-ark',
      'zhipu', 'ernie', 'minimax', 'hailuo', 'iflytek-spark', 'yuanbao', 'hunyuan', 'stepfun', '01-ai', 'baichuan',
    ]) {
      expect(cn, id).toContain(id);
    }
    for (const s of cat.services) expect(cn.includes(s.id), s.id).toBe(s.country === 'cn' && s.tags.includes('genai'));
  });

  it('tag:genai takes in every service except the DoH-bypass ones', () => {
    const genai = new Set(ids('tag:genai'));
    const doh = new Set(ids('tag:doh-bypass'));
    for (const s of cat.services) {
      expect(genai.has(s.id) !== doh.has(s.id), s.id).toBe(true);
      expect(doh.has(s.id), s.id).toBe(s.tags.includes('doh-bypass'));
    }
  });

  it('the big Western services are there under their own ids', () => {
    const us = ids('tag:us');
    for (const id of ['openai', 'sora', 'claude', 'gemini', 'gemini-api', 'notebooklm', 'copilot', 'github-copilot', 'perplexity', 'grok', 'meta-ai', 'character-ai', 'poe', 'you-com']) {
      expect(us, id).toContain(id);
    }
    expect(ids('tag:fr')).toContain('mistral');
    expect(ids('tag:ca')).toContain('cohere');
    expect(ids('service:manus')).toEqual(['manus']);
  });

  it('the DoH-bypass canaries are exact hosts, and icloud.com is not blocked', () => {
    const names = (id: string) => cat.services.find((s) => s.id === id)!.domains;
    expect(names('firefox-canary')).toMatchObject([{ name: 'use-application-dns.net', exact: true }]);
    expect(names('icloud-private-relay').map((d) => [d.name, d.exact])).toEqual([
      ['mask.icloud.com', true],
      ['mask-h2.icloud.com', true],
    ]);
    expect(ids('tag:us')).not.toContain('google-public-dns');
  });
});
