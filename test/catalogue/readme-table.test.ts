// The README's services table is generated: this fails when the block
// between its markers differs from renderServiceTable. Fix with
//   npx tsx src/control/catalogue/print-table.ts --write

import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadCatalogue, readmeBlock, renderServiceTable, replaceReadmeBlock } from '../../src/control/catalogue/index.js';

const README = new URL('../../README.md', import.meta.url);

describe('README services table', () => {
  it('matches the catalogue', (ctx) => {
    const block = existsSync(README) ? readmeBlock(readFileSync(README, 'utf8')) : undefined;
    // Only while the README has no markers yet.
    if (block === undefined) ctx.skip('README.md has no <!-- services:start --> / <!-- services:end --> markers yet');
    expect(block!.trim(), 'run: npx tsx src/control/catalogue/print-table.ts --write').toBe(renderServiceTable(loadCatalogue()).trim());
  });

  it('rewrites only the block between the markers', () => {
    const readme = '# Title\n\nIntro.\n\n<!-- services:start -->\nstale\n<!-- services:end -->\n\nAfter.\n';
    const updated = replaceReadmeBlock(readme, '| new |\n')!;
    expect(updated).toBe('# Title\n\nIntro.\n\n<!-- services:start -->\n| new |\n<!-- services:end -->\n\nAfter.\n');
    expect(readmeBlock(updated)!.trim()).toBe('| new |');
    expect(replaceReadmeBlock('# no markers\n', '| x |\n')).toBeUndefined();
  });
});
