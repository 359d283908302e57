// docs/catalogue.md is generated between its markers: this fails when a
// block differs from what the catalogue renders. Fix with
//   npm run catalogue:doc

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { catalogueDocBlocks, docBlock, loadCatalogue, replaceDocBlock } from '../../src/control/catalogue/index.js';

const DOC = new URL('../../docs/catalogue.md', import.meta.url);

describe('docs/catalogue.md', () => {
  it('carries the counts and the service table the catalogue renders (npm run catalogue:doc)', () => {
    const doc = readFileSync(DOC, 'utf8');
    for (const [name, content] of Object.entries(catalogueDocBlocks(loadCatalogue()))) {
      expect(docBlock(doc, name)?.trim(), `block '${name}': run npm run catalogue:doc`).toBe(content.trim());
    }
  });

  it('rewrites only the block between the markers', () => {
    const doc = '# Title\n\n<!-- services:start -->\nstale\n<!-- services:end -->\n\nAfter.\n';
    const updated = replaceDocBlock(doc, 'services', '| new |\n')!;
    expect(updated).toBe('# Title\n\n<!-- services:start -->\n| new |\n<!-- services:end -->\n\nAfter.\n');
    expect(docBlock(updated, 'services')!.trim()).toBe('| new |');
    expect(replaceDocBlock('# no markers\n', 'services', '| x |\n')).toBeUndefined();
    expect(docBlock(doc, 'summary')).toBeUndefined();
  });
});
