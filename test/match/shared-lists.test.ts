// Every real list in ../shared/data/blocklists, loaded together the way
// the daemon loads its configured lists, with the counts pinned.
//
// Each `entries` figure equals the count the publisher prints in the file's
// header ("Number of entries", "Entries", "Number of unique domains"); the
// RPZ files count two entries per name (`name CNAME .` and `*.name CNAME .`).
// `ignored` is the header comments plus, for hosts files, the 14 preamble
// lines (localhost, broadcasthost, ip6-*, `0.0.0.0 0.0.0.0`): for StevenBlack
// 4,291 + 14 and 4,255 + 14 comment lines. None of these lists has a line we
// skip or reject: their generators write clean lines. The parser tests
// (src/match/parse.test.ts) cover every skip and reject reason.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ListSet } from '../../src/match/types.js';
import { loadLists } from '../../src/match/lists.js';
import { CompiledMatcher } from '../../src/match/matcher.js';
import { anyBlockNoAllow } from '../../src/match/verdict.js';
import { join } from 'node:path';
import { SHARED_DATA, sharedDataPresent } from '../support/shared-data.js';

const DIR = join(SHARED_DATA, 'blocklists');

// [file, detected format, entries, ignored, skipped, rejected]
const EXPECTED: [string, string, number, number, number, number][] = [
  ['hagezi-gambling-onlydomains.wildcard.txt', 'domains', 168_582, 10, 0, 0],
  ['hagezi-light.domains.txt', 'domains', 89_931, 11, 0, 0],
  ['hagezi-light.hosts.txt', 'hosts', 89_931, 11, 0, 0],
  ['hagezi-multi-onlydomains.wildcard.txt', 'domains', 175_819, 10, 0, 0],
  ['hagezi-multi.adblock.txt', 'adblock', 175_819, 10, 0, 0],
  ['hagezi-tif.normal.dnsmasq.txt', 'dnsmasq', 58_004, 10, 0, 0],
  ['hagezi-tif.normal.rpz.txt', 'rpz', 116_008, 14, 0, 0],
  ['oisd-big.abp.txt', 'adblock', 184_630, 11, 0, 0],
  ['oisd-big.domainswild2.txt', 'domains', 184_630, 12, 0, 0],
  ['oisd-small.dnsmasq2.txt', 'dnsmasq', 42_432, 10, 0, 0],
  ['oisd-small.rpz.txt', 'rpz', 84_864, 13, 0, 0],
  ['stevenblack-fakenews-gambling-social.hosts', 'hosts', 101_367, 4_305, 0, 0],
  ['stevenblack-hosts.hosts', 'hosts', 88_763, 4_269, 0, 0],
  ['stevenblack-porn-only.hosts', 'hosts', 76_678, 62, 0, 0],
  ['ultimatehosts-via-hagezi.dnscrypt-wildcard.txt', 'wildcard', 147_753, 14, 0, 0],
];

describe.runIf(sharedDataPresent('blocklists'))('the shared blocklists', () => {
  let set: ListSet;

  it('loads every list with the pinned counts', async () => {
    const files = readdirSync(DIR).filter((f) => !f.endsWith('-LICENSE.txt')).sort();
    expect(files).toEqual(EXPECTED.map((e) => e[0]));
    set = await loadLists(
      files.map((f) => ({ spec: { name: f, source: f, format: 'auto', exact: false, allow: false } })),
      { baseDir: DIR },
    );
    expect(set.reports.map((r) => [r.name, r.format, r.entries, r.ignored, r.skipped, r.rejected])).toEqual(EXPECTED);
  });

  it('holds 873,705 distinct names once compiled together', () => {
    const matcher = set.matcher as CompiledMatcher;
    // 1,785,211 entries name 873,705 distinct names: most names are in
    // several lists. Counting the names of every line with a plain script
    // gives 873,717; the 12 missing are the hosts preamble names
    // (localhost, localhost.localdomain, local, broadcasthost, 0.0.0.0 and
    // the seven ip6-* names), which are ignored, not entries.
    expect(set.reports.reduce((n, r) => n + r.entries, 0)).toBe(1_785_211);
    expect(matcher.names).toBe(873_705);
    expect(matcher.nodes).toBe(975_323);
  });

  it('blocks the names of each list, and not popular names outside them', async () => {
    const { matcher } = set;
    const verdict = anyBlockNoAllow(matcher);
    const mask = matcher.matchName('sub.cdn.ofo.ac');
    expect(verdict[mask]).toBe(1);
    expect(matcher.lists.filter((_, l) => matcher.blocks(mask, l)).map((l) => l.name)).toEqual([
      'hagezi-multi-onlydomains.wildcard.txt',
      'hagezi-multi.adblock.txt',
      'hagezi-tif.normal.dnsmasq.txt',
      'hagezi-tif.normal.rpz.txt',
    ]);
    for (const name of ['0-0-0checkmate.com', 'herobet88.000.pe', 'ad-assets.futurecdn.net', 'x.0.tcp.ngrok.io', 'www.000free.us']) {
      expect(verdict[matcher.matchName(name)], name).toBe(1);
    }
    for (const name of ['google.com', 'wikipedia.org', 'github.com', 'localhost']) {
      expect(matcher.matchName(name), name).toBe(0);
    }
    expect(await set.explain('www.ad-assets.futurecdn.net')).toContainEqual({
      list: 'stevenblack-hosts.hosts', entry: 'ad-assets.futurecdn.net', line: 40, text: '0.0.0.0 ad-assets.futurecdn.net', allow: false, exact: false,
    });
  });
});
