// Beyond 65,536 distinct list combinations, mask ids take three bytes per
// node. 17 lists and one name per subset of them force 2^17 combinations.
import { describe, expect, it } from 'vitest';
import type { Entry, ListInput } from '../../src/match/types.js';
import { loadLists } from '../../src/match/lists.js';

const LISTS = 17;
const NAMES = 1 << LISTS;

describe('more than 65,536 mask ids', () => {
  it('keeps every combination apart', async () => {
    const entries: Entry[][] = Array.from({ length: LISTS }, () => []);
    for (let i = 1; i < NAMES; i++) {
      for (let l = 0; l < LISTS; l++) if ((i >>> l) & 1) entries[l].push({ name: `n${i}.example`, line: i, exact: false, allow: false });
    }
    const inputs: ListInput[] = entries.map((e, l) => ({ spec: { name: `l${l}`, format: 'domains', exact: false, allow: l === 16 }, entries: e }));
    const { matcher } = await loadLists(inputs);
    expect(matcher.maskCount).toBe(NAMES); // every subset, and the empty one
    for (let i = 1; i < NAMES; i += 997) {
      const mask = matcher.matchName(`www.n${i}.example`);
      for (let l = 0; l < LISTS; l++) {
        const inList = ((i >>> l) & 1) === 1;
        expect([matcher.blocks(mask, l), matcher.allows(mask, l)]).toEqual([inList && l !== 16, inList && l === 16]);
      }
    }
  });
});
