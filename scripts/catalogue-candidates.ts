// A maintainer's tool: compares the catalogue with the public AI lists in
// ../shared/data/ai/ai-domains.tsv and prints
//   1. names the lists carry that no catalogue entry covers, grouped by the
//      service the lists name, each with its sources (candidates to review:
//      many are over-reach the catalogue leaves out on purpose);
//   2. catalogue names that rest on one source (one list, or a reviewer's
//      word alone), to confirm when a second source appears.
// With --readme it rewrites the single-source block of blocklists/README.md.
//   npm run catalogue:candidates [-- --data DIR] [--readme]   (DIR holds ai-domains.tsv)

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCatalogue } from '../src/control/catalogue/load.js';
import { coveringService, singleSourceNames, singleSourceBlock, replaceSingleSourceBlock } from '../src/control/catalogue/review.js';

const args = process.argv.slice(2);
const dataAt = args.indexOf('--data');
// The shared data sits beside the checkout (../shared/data); AIFENCE_SHARED_DATA overrides, as for the tests.
const shared = process.env.AIFENCE_SHARED_DATA ?? fileURLToPath(new URL('../../shared/data/', import.meta.url));
const dataDir = dataAt >= 0 ? args[dataAt + 1] : join(shared, 'ai');
const cat = loadCatalogue();

const rows = readFileSync(join(dataDir, 'ai-domains.tsv'), 'utf8')
  .split('\n')
  .slice(1)
  .filter((l) => l.trim() !== '' && !l.startsWith('#'))
  .map((l) => {
    const [domain, service, country, sources] = l.split('\t');
    // Source entries read `owner/repo:path[label](kind)`; keep `repo:file`, short enough to scan.
    const short = (sources ?? '')
      .split(';')
      .map((s) => s.trim().replace(/^[^/]+\//, '').replace(/\(.*\)$/, ''))
      .filter(Boolean);
    return { domain: domain.trim().toLowerCase(), service: service || '?', country: country || '?', sources: short };
  });

const uncovered = new Map<string, typeof rows>();
for (const row of rows) {
  if (coveringService(cat, row.domain)) continue;
  const key = `${row.service} (${row.country})`;
  uncovered.set(key, [...(uncovered.get(key) ?? []), row]);
}

const out: string[] = [];
const count = [...uncovered.values()].reduce((n, r) => n + r.length, 0);
out.push(`# ${count} names in ai-domains.tsv not covered by the catalogue (${uncovered.size} services)`, '');
for (const [service, list] of [...uncovered].sort(([a], [b]) => a.localeCompare(b))) {
  out.push(service);
  for (const r of list) out.push(`  ${r.domain}\t${r.sources.length} source${r.sources.length === 1 ? '' : 's'}: ${r.sources.join(' ; ')}`);
}
const single = singleSourceNames(cat);
out.push('', `# ${single.length} catalogue names resting on one source`, '');
for (const s of single) out.push(`  ${s.service}\t${s.name}${s.exact ? ' (exact)' : ''}\t${s.sources.join(', ')}`);
process.stdout.write(out.join('\n') + '\n');

if (args.includes('--readme')) {
  const path = fileURLToPath(new URL('../blocklists/README.md', import.meta.url));
  const updated = replaceSingleSourceBlock(readFileSync(path, 'utf8'), singleSourceBlock(cat));
  if (updated === undefined) {
    console.error(`${path}: the single-source markers are missing`);
    process.exit(1);
  }
  writeFileSync(path, updated);
  console.error(`${path}: single-source list updated`);
}
