// The compiled matcher against a plain reference: per list, a Set of names,
// with a walk up the name's suffixes. Names come from a small pool of labels
// so that lists and queries overlap, with IDN, mixed case, trailing dots,
// 63-octet labels and names around the 253-octet limit.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ListInput } from '../../src/match/types.js';
import { loadLists } from '../../src/match/lists.js';
import { toWire } from './helpers.js';

const L63 = 'q'.repeat(63);
const LABELS = ['com', 'net', 'deepseek', 'chat', 'a', 'b', 'x-y', '_srv', 'bücher', '例え', L63, 'r'.repeat(62)];
/** IDN labels as the reference spells them in ASCII (worked out by hand, not by the code under test). */
const PUNY: Record<string, string> = { bücher: 'xn--bcher-kva', 例え: 'xn--r8jz45g' };

/** Reference normalisation: lower case, punycode from the table, no trailing dot; undefined if too long. */
function refNormalize(name: string): string | undefined {
  const labels = name.replace(/\.$/, '').toLowerCase().split('.').map((l) => PUNY[l] ?? l);
  const out = labels.join('.');
  return out.length > 253 ? undefined : out;
}

interface RefList {
  allow: boolean;
  exact: Set<string>;
  subtree: Set<string>;
}

/** Does the reference list mention `name` (itself or a parent with a subtree entry)? */
function refMatches(list: RefList, name: string): boolean {
  if (list.exact.has(name) || list.subtree.has(name)) return true;
  for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
    if (list.subtree.has(name.slice(dot + 1))) return true;
  }
  return false;
}

const mixCase = (s: string, bits: number): string =>
  [...s].map((ch, i) => ((bits >>> i % 31) & 1 ? ch.toUpperCase() : ch)).join('');

const rawName = fc
  .tuple(fc.array(fc.constantFrom(...LABELS), { minLength: 1, maxLength: 5 }), fc.integer(), fc.boolean())
  .map(([labels, bits, dot]) => mixCase(labels.join('.'), bits) + (dot ? '.' : ''));

const listArb = fc.record({
  names: fc.array(fc.tuple(rawName, fc.boolean()), { maxLength: 12 }),
  exact: fc.boolean(),
  allow: fc.boolean(),
});

describe('compiled matcher = reference', () => {
  it('gives every list the same say on every name, by matchName and by matchWire', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(listArb, { minLength: 1, maxLength: 5 }), fc.array(rawName, { minLength: 1, maxLength: 25 }), fc.integer(), async (lists, queries, caseBits) => {
        const inputs: ListInput[] = lists.map((l, i) => ({
          spec: { name: `l${i}`, format: 'domains', exact: l.exact, allow: l.allow },
          entries: l.names.map(([name, exact], line) => ({ name, line: line + 1, exact, allow: false })),
        }));
        const refs: RefList[] = lists.map((l) => {
          const ref: RefList = { allow: l.allow, exact: new Set(), subtree: new Set() };
          for (const [name, exact] of l.names) {
            const n = refNormalize(name);
            if (n !== undefined) (l.exact || exact ? ref.exact : ref.subtree).add(n);
          }
          return ref;
        });
        const { matcher } = await loadLists(inputs);
        // Every query, plus every entry and a child of each, so hits are common.
        const names = [...queries, ...lists.flatMap((l) => l.names.flatMap(([n]) => [n, `sub.${n}`]))];
        for (const raw of names) {
          const n = refNormalize(raw);
          const mask = matcher.matchName(raw);
          if (n === undefined) {
            expect(mask, raw).toBe(-1);
            continue;
          }
          expect(matcher.matchWire(toWire(mixCase(n, caseBits), 12), 12), raw).toBe(mask);
          refs.forEach((ref, l) => {
            const hit = refMatches(ref, n);
            expect([matcher.blocks(mask, l), matcher.allows(mask, l)], `${raw} in list ${l}`).toEqual([hit && !ref.allow, hit && ref.allow]);
          });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reads the 253-octet edge exactly: longest names match, one octet more is malformed', async () => {
    const longest = [L63, L63, L63, 'r'.repeat(61)].join('.');
    const { matcher } = await loadLists([{ spec: { name: 'l', format: 'domains', exact: false, allow: false }, entries: [{ name: longest, line: 1, exact: false, allow: false }] }]);
    expect(matcher.blocks(matcher.matchName(longest.toUpperCase() + '.'), 0)).toBe(true);
    expect(matcher.blocks(matcher.matchWire(toWire(longest), 0), 0)).toBe(true);
    expect(matcher.matchName(longest + 'r')).toBe(-1);
  });
});
