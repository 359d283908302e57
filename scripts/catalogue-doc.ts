// Refreshes the generated blocks of docs/catalogue.md (the counts by
// country and kind, and the service table) from blocklists/; the prose
// around them is hand-written. A test fails when they differ.
//   npm run catalogue:doc          (rewrite)
//   npm run catalogue:doc -- --check   (exit 1 when out of date)

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { catalogueDocBlocks, loadCatalogue, replaceDocBlock } from '../src/control/catalogue/index.js';

const DOC = fileURLToPath(new URL('../docs/catalogue.md', import.meta.url));
const before = readFileSync(DOC, 'utf8');
let doc = before;
for (const [name, content] of Object.entries(catalogueDocBlocks(loadCatalogue()))) {
  const next = replaceDocBlock(doc, name, content);
  if (next === undefined) {
    console.error(`${DOC}: add the markers <!-- ${name}:start --> and <!-- ${name}:end --> where the block belongs`);
    process.exit(1);
  }
  doc = next;
}
if (process.argv.includes('--check')) {
  if (doc !== before) {
    console.error(`${DOC} is out of date: npm run catalogue:doc`);
    process.exit(1);
  }
} else if (doc !== before) {
  writeFileSync(DOC, doc);
  console.log(`${DOC}: updated`);
}
