// Review aids: the single-source list in blocklists/README.md is current,
// and `npm run catalogue:candidates` reports uncovered and single-source
// names from the shared public lists.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../src/control/catalogue/index.js';
import { coveringService, replaceSingleSourceBlock, singleSourceBlock, singleSourceNames } from '../../src/control/catalogue/review.js';
import { SHARED_DATA, sharedDataPresent } from '../support/shared-data.js';

const cat = loadCatalogue();

describe('single-source names', () => {
  it('are listed in blocklists/README.md as the catalogue has them (npm run catalogue:candidates -- --readme)', () => {
    const readme = readFileSync(new URL('../../blocklists/README.md', import.meta.url), 'utf8');
    expect(replaceSingleSourceBlock(readme, singleSourceBlock(cat))).toBe(readme);
  });

  it('count one origin once, and take the vendor\'s documentation as confirmation', () => {
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

describe.runIf(sharedDataPresent('ai/ai-domains.tsv'))('npm run catalogue:candidates', () => {
  it('prints uncovered names by service with sources, then single-source names', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/catalogue-candidates.ts'], {
      encoding: 'utf8',
      env: { ...process.env, AIFENCE_SHARED_DATA: SHARED_DATA },
    });
    expect(out).toMatch(/^# \d+ names in ai-domains.tsv not covered by the catalogue \(\d+ services\)$/m);
    // Over-reach the catalogue leaves out on purpose shows up as a candidate, with its source.
    expect(out).toMatch(/^ {2}bing\.com\t1 source: shadowai-domains:llms\.csv/m);
    expect(out).not.toMatch(/^ {2}chatgpt\.com\t/m);
    expect(out).toMatch(/^# \d+ catalogue names resting on one source$/m);
    expect(out).toMatch(/^ {2}ant-afu\tantaq\.com\tv2fly:category-ai-cn$/m);
  });
});
