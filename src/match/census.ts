// Counting the names behind mask ids, off the hot path: how many names of
// the compiled trie carry each wanted mask, with the first few of them, for
// messages that must say "4 names, e.g. chat.deepseek.com". One pass over
// the node pool (its records in order, no lookups), names built only for
// the examples.

import { FLAG_FIN, FLAG_SUB, LEN_MASK, type CompiledParts } from './matcher.js';

export interface Census {
  /** Per mask id: names whose own mask it is (0 for masks not wanted). */
  counts: Int32Array;
  /** Per wanted mask id: up to `examples` of those names, in pool order (shallow names first). */
  examples: Map<number, string[]>;
}

/**
 * For every mask id with `wanted[id] === 1`, the names of the trie that
 * carry it: each node counts once, by the mask of its own name (its exact
 * entries', else the one it passes to its subdomains, inherited when it
 * adds nothing). Memory: one map entry per node under a wanted mask.
 */
export function census(parts: CompiledParts, wanted: Uint8Array, examples = 3): Census {
  const { pool, maskWidth: width } = parts;
  const counts = new Int32Array(wanted.length);
  const found = new Map<number, string[]>();
  const read = (at: number): number => (width === 1 ? pool[at] : width === 2 ? pool[at] | (pool[at + 1] << 8) : pool[at] | (pool[at + 1] << 8) | (pool[at + 2] << 16));
  // Nodes whose subdomains carry a wanted mask, and that mask. Records come by depth: parents first.
  const carries = new Map<number, number>();
  let at = 1; // the root's flags byte, never read
  while (at < pool.length) {
    const node = at;
    const flags = pool[at];
    at += 1 + (flags & LEN_MASK);
    let parent = 0;
    for (let shift = 0; ; shift += 7) {
      const b = pool[at++];
      parent |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    let sub = carries.get(parent) ?? -1;
    if ((flags & FLAG_SUB) !== 0) {
      sub = read(at);
      at += width;
    }
    if (sub >= 0 && wanted[sub] === 1) carries.set(node, sub);
    let own = sub;
    if ((flags & FLAG_FIN) !== 0) {
      own = read(at);
      at += width;
    }
    if (own < 0 || wanted[own] !== 1) continue;
    counts[own]++;
    let list = found.get(own);
    if (list === undefined) found.set(own, (list = []));
    if (list.length < examples) list.push(nameAt(pool, node));
  }
  return { counts, examples: found };
}

/** The name of the node at `offset`: its label, then its parents' (trie labels are normalised ASCII, no escaping needed). */
function nameAt(pool: Uint8Array, offset: number): string {
  const labels: string[] = [];
  for (let node = offset; node !== 0; ) {
    const len = pool[node] & LEN_MASK;
    labels.push(String.fromCharCode(...pool.subarray(node + 1, node + 1 + len)));
    let at = node + 1 + len;
    let parent = 0;
    for (let shift = 0; ; shift += 7) {
      const b = pool[at++];
      parent |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    node = parent;
  }
  return labels.join('.');
}
