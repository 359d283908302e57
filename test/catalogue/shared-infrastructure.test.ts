// Shared infrastructure stays reachable whatever an admin enables: with
// every service and every tag selected at once, none of the names in
// shared-infrastructure.txt (nor their www. subdomain) is blocked, and every
// catalogue name below a [shared] one is an exact host, never a suffix.

import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { catalogueLists, loadCatalogue, resolveSelector } from '../../src/control/catalogue/index.js';
import { hostnameProblem } from '../../src/control/catalogue/schema.js';
import { blockers, type Blocker } from './blockers.js';

const cat = loadCatalogue();
// Each name with its section: [shared] hosts others below it, [own] does not.
const entries: { name: string; section: string }[] = [];
let section = 'shared';
for (const raw of readFileSync(new URL('./shared-infrastructure.txt', import.meta.url), 'utf8').split('\n')) {
  const line = raw.trim();
  if (line === '' || line.startsWith('#')) continue;
  const header = /^\[(shared|own)\]$/.exec(line);
  if (header) section = header[1];
  else entries.push({ name: line, section });
}
const shared = entries.map((e) => e.name);
const hosting = entries.filter((e) => e.section === 'shared').map((e) => e.name);

// Everything on at once: every service selector and every tag selector.
const selected = new Set(
  [...cat.services.map((s) => `service:${s.id}`), ...cat.tags().map((t) => `tag:${t}`)].flatMap((sel) => resolveSelector(sel, cat, [])),
);
const inputs = catalogueLists(cat).filter((l) => selected.has(l.spec.name));

describe('shared-infrastructure.txt', () => {
  it('is a list of distinct, valid host names', () => {
    expect(shared.length).toBeGreaterThan(400);
    expect(new Set(shared).size).toBe(shared.length);
    for (const name of shared) expect(hostnameProblem(name), name).toBeUndefined();
  });

  it('every service is selected when everything is enabled', () => {
    expect(inputs.length).toBe(cat.services.length);
  });
});

describe.each(blockers)('shared infrastructure is never blocked (%s)', (_kind, make) => {
  let blocked: Blocker;
  beforeAll(async () => {
    blocked = await make(inputs);
  });

  it('blocks none of the names, nor their www. subdomains', () => {
    for (const name of shared) {
      expect([...blocked(name)], name).toEqual([]);
      expect([...blocked(`www.${name}`)], `www.${name}`).toEqual([]);
    }
  });
});

describe('catalogue names on shared hosting domains', () => {
  it('are exact hosts, never suffixes', () => {
    expect(hosting.length).toBeGreaterThan(300);
    const offenders: string[] = [];
    for (const s of cat.services) {
      for (const d of s.domains) {
        const parent = hosting.find((n) => d.name.endsWith(`.${n}`));
        if (parent && !d.exact) offenders.push(`${s.id}: ${d.name} (below ${parent}) at ${d.file}:${d.line}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
