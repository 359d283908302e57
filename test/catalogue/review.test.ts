// The committed review state agrees with the catalogue: the single-source
// list is current, nothing rejected or queued is also blocked, every source
// a catalogue entry cites is in the manifest with the commit read, and the
// discovery evidence names nothing the catalogue already covers.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../src/control/catalogue/index.js';
import { coveringService, singleSourceDoc, singleSourceNames } from '../../src/control/catalogue/review.js';
import { SOURCE_PREFIXES } from '../../src/control/catalogue/schema.js';
import { readManifest } from '../../scripts/catalogue/manifest.js';
import { readRejected, rejectionOf, REJECT_REASONS } from '../../scripts/catalogue/queue.js';

const cat = loadCatalogue();
const file = (p: string) => new URL(`../../blocklists/${p}`, import.meta.url);
const manifest = readManifest(file('review/sources.tsv').pathname);
const rejected = readRejected(file('review/rejected.tsv').pathname);
const rows = (p: string) =>
  readFileSync(file(p), 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('host\t'))
    .map((l) => l.split('\t'));

describe('single-source names', () => {
  it('are listed in blocklists/review/single-source.md as the catalogue has them (npm run catalogue:candidates -- --readme)', () => {
    expect(readFileSync(file('review/single-source.md'), 'utf8')).toBe(singleSourceDoc(cat));
  });

  it("count one origin once, and take the vendor's documentation as confirmation", () => {
    const names = new Map(singleSourceNames(cat).map((n) => [n.name, n]));
    expect(names.get('antaq.com')?.sources).toEqual(['v2fly:category-ai-cn']);
    expect(names.has('clovastudio.stream.ntruss.com')).toBe(false); // vendor-docs
    expect(names.has('deepseek.com')).toBe(false);
    for (const n of names.values()) expect(new Set(n.sources.map((s) => s.split(':')[0])).size).toBe(1);
  });

  it('coveringService finds the service of a name or of a suffix entry above it, never below an exact host', () => {
    expect(coveringService(cat, 'chat.deepseek.com')?.id).toBe('deepseek');
    expect(coveringService(cat, 'tongyi.aliyun.com')?.id).toBe('qwen');
    expect(coveringService(cat, 'x.tongyi.aliyun.com')).toBeUndefined();
    expect(coveringService(cat, 'example.com')).toBeUndefined();
  });
});

describe('the source manifest', () => {
  it('names each public list with the exact commit read, and every label a catalogue entry cites is in it', () => {
    expect(manifest.length).toBeGreaterThanOrEqual(15);
    for (const s of manifest) {
      expect(s.commit, s.label).toMatch(/^[0-9a-f]{40}$/);
      expect(SOURCE_PREFIXES.has(s.label), `${s.label} is a source prefix in schema.ts`).toBe(true);
    }
    // Read before the manifest existed (../shared/data/ai/sources), or not a list at all.
    const unlisted = new Set(['adguard', 'nullgen', 'blackmatrix7', 'lobe-chat', 'vendor-docs', 'review', 'discover']);
    const labels = new Set(manifest.map((s) => s.label));
    const cited = new Set(cat.services.flatMap((s) => s.domains.flatMap((d) => d.sources.map((src) => src.split(':')[0]))));
    for (const prefix of cited) if (!unlisted.has(prefix)) expect(labels.has(prefix), prefix).toBe(true);
  });
});

describe('the review decisions', () => {
  it('reject nothing the catalogue blocks, each with a known reason and a why', () => {
    expect(rejected.length).toBeGreaterThan(2000);
    const contradictions = rejected.filter((r) => coveringService(cat, r.host)).map((r) => `${r.host} (line ${r.line})`);
    expect(contradictions).toEqual([]);
    for (const r of rejected) {
      expect(Object.keys(REJECT_REASONS), r.host).toContain(r.reason);
      expect(r.why.length, `${r.host} has a why`).toBeGreaterThan(5);
    }
    expect(new Set(rejected.map((r) => r.host)).size).toBe(rejected.length);
  });

  it('leave in the queue only names neither covered nor rejected', () => {
    const byHost = new Map(rejected.map((r) => [r.host, r]));
    for (const [host] of rows('review/queue.tsv')) {
      expect(coveringService(cat, host), host).toBeUndefined();
      expect(rejectionOf(byHost, host), host).toBeUndefined();
    }
  });

  it('give report --discover only names the catalogue does not cover', () => {
    const candidates = rows('candidates.tsv');
    expect(candidates.length).toBeGreaterThan(500);
    for (const [host] of candidates) expect(coveringService(cat, host), host).toBeUndefined();
  });
});
