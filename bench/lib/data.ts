// The blocklist and the dnsperf query files, generated fresh in a temp dir.
// The list is deterministic from the seed; the query names carry a run id so
// no two runs (and no two scenarios) ask the same unique name.

import { createWriteStream } from 'node:fs';
import { join } from 'node:path';

/** The zone the upstream answers: every name under it has an A record. */
export const ZONE = 'bench.test';

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'ad app apex arc atlas aura beam best bit blue bolt box bright buzz byte cast cloud code core craft cube data deal deep dev ' +
  'dial digi direct dot drive easy echo edge ever fast feed file find fire flash flow fly fox free fresh fun game gate get ' +
  'global go gold good green grid hub hyper idea info ink iron jet joy key kit lab land leaf lens level life light link live ' +
  'logic loop lux mail map market max media meta mind mint mobi net next nova one open orbit pay peak pixel play plus point ' +
  'prime pro pulse quick rapid ray real red rocket root safe sail scout search secure shift shop signal simple sky smart snap ' +
  'social solar sound spark speed spot star stream sun swift sync tech tide top track trend true trust ultra union vault view ' +
  'vision vista wave web wide win wise world zen zone'
).split(' ');
const TLDS = ['com', 'com', 'com', 'com', 'net', 'net', 'org', 'io', 'co', 'info', 'biz', 'de', 'xyz', 'app', 'online', 'site', 'ru', 'cn', 'co.uk', 'com.br', 'top', 'ai'];

/** `n` distinct registrable-looking names: brightcloud42.com, fox-media.io, … */
export function listNames(n: number, seed: number): string[] {
  const rand = prng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)];
  const seen = new Set<string>();
  while (seen.size < n) {
    const r = rand();
    const stem = r < 0.4 ? pick(WORDS) + pick(WORDS) : r < 0.6 ? `${pick(WORDS)}-${pick(WORDS)}` : pick(WORDS);
    // Most short stems are taken, so a number makes them unique, as on the real web.
    const num = r < 0.3 && rand() < 0.5 ? '' : String(Math.floor(rand() * (rand() < 0.5 ? 100 : 100_000)));
    seen.add(`${stem}${num}.${pick(TLDS)}`);
  }
  return [...seen];
}

async function writeLines(path: string, count: number, line: (i: number) => string): Promise<void> {
  const out = createWriteStream(path);
  const CHUNK = 4096;
  for (let i = 0; i < count; i += CHUNK) {
    let text = '';
    for (let j = i; j < Math.min(count, i + CHUNK); j++) text += line(j);
    if (!out.write(text)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

export interface DataFiles {
  list: string;
  /** dnsperf input per scenario. */
  queries: { blocked: string; hits: string; misses: string; mix: string };
  names: number;
}

/** As in ../shared/docs/PEERS.md: 100 hot names, so that dnsmasq's default cache (150 entries) holds them too. */
export const HIT_NAMES = 100;

/**
 * `perFile` lines in each of blocked, misses and mix: enough that none of
 * their unique names comes round twice in one run.
 */
export async function generate(dir: string, names: number, perFile: number, seed: number, runId: string): Promise<DataFiles> {
  const listed = listNames(names, seed);
  const rand = prng(seed ^ 0x5eed);
  const files: DataFiles = {
    list: join(dir, 'list.txt'),
    queries: { blocked: join(dir, 'blocked.txt'), hits: join(dir, 'hits.txt'), misses: join(dir, 'misses.txt'), mix: join(dir, 'mix.txt') },
    names,
  };
  const randomListed = () => listed[Math.floor(rand() * listed.length)];
  // A subdomain no one asked before: the index makes it unique, the random part makes it look like a tracker's.
  const blockedName = (prefix: string, i: number) => `${prefix}${i.toString(36)}${Math.floor(rand() * 0xffffff).toString(16)}.${randomListed()}`;
  const hit = (i: number) => `h${i}.${ZONE}`;

  await writeLines(files.list, listed.length, (i) => `${listed[i]}\n`);
  await writeLines(files.queries.blocked, perFile, (i) => `${blockedName('r', i)} A\n`);
  await writeLines(files.queries.hits, HIT_NAMES, (i) => `${hit(i)} A\n`);
  await writeLines(files.queries.misses, perFile, (i) => `m${i}-${runId}.${ZONE} A\n`);
  // Mix: each line drawn at random, 5% blocked, 10% misses, 85% hits, so the kinds interleave.
  let blocked = 0;
  let miss = 0;
  await writeLines(files.queries.mix, perFile, () => {
    const r = rand() * 20;
    if (r < 1) return `${blockedName('s', blocked++)} A\n`;
    if (r < 3) return `x${miss++}-${runId}.${ZONE} A\n`;
    return `${hit(Math.floor(rand() * HIT_NAMES))} A\n`;
  });
  return files;
}
