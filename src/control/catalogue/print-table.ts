// Prints the catalogue's service table; with --write, rewrites the block
// between the README's services markers (and nothing else in the README).
//   npx tsx src/control/catalogue/print-table.ts [--write]

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadCatalogue } from './load.js';
import { renderServiceTable, replaceReadmeBlock, TABLE_END, TABLE_START } from './table.js';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));
const table = renderServiceTable(loadCatalogue());

if (process.argv.includes('--write')) {
  const updated = existsSync(README) ? replaceReadmeBlock(readFileSync(README, 'utf8'), table) : undefined;
  if (updated === undefined) {
    console.error(`${README}: add the markers ${TABLE_START} and ${TABLE_END} where the table belongs`);
    process.exit(1);
  }
  writeFileSync(README, updated);
  console.log(`${README}: services table updated`);
} else {
  process.stdout.write(table);
}
