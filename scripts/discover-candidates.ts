// A maintainer's tool: writes blocklists/candidates.tsv, the names public AI
// lists carry that no catalogue entry covers (from ../shared/data/ai/ai-domains.tsv),
// which `aifence report --discover` flags when clients query them.
//   npx tsx scripts/discover-candidates.ts [--data DIR]

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCatalogue } from '../src/control/catalogue/load.js';
import { coveringService } from '../src/control/catalogue/review.js';

const args = process.argv.slice(2);
const at = args.indexOf('--data');
const shared = process.env.AIFENCE_SHARED_DATA ?? fileURLToPath(new URL('../../shared/data/', import.meta.url));
const dir = at >= 0 ? args[at + 1] : join(shared, 'ai');
const cat = loadCatalogue();
const rows = readFileSync(join(dir, 'ai-domains.tsv'), 'utf8')
  .split('\n')
  .slice(1)
  .filter((l) => l.trim() !== '' && !l.startsWith('#'))
  .map((l) => l.split('\t'))
  .map(([domain, service]) => [domain.trim().toLowerCase(), (service ?? '?').trim() || '?'])
  .filter(([domain]) => /^[a-z0-9.-]+$/.test(domain) && !coveringService(cat, domain))
  .sort(([a], [b]) => a.localeCompare(b));
const header = '# Names public AI lists carry that no catalogue entry covers (scripts/discover-candidates.ts).\n# aifence report --discover flags clients querying them. domain<TAB>service as the lists name it\n';
writeFileSync(new URL('../blocklists/candidates.tsv', import.meta.url), header + rows.map((r) => r.join('\t') + '\n').join(''));
console.log(`${rows.length} candidate names written to blocklists/candidates.tsv`);
