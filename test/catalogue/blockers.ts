// Two ways to ask "which lists block this name?": a plain reference (a Set
// per kind plus a suffix walk, obviously right) and the real matcher. The
// catalogue tests run against both, so they pin the catalogue's meaning and
// the matcher's agreement with it.

import type { ListInput } from '../../src/match/types.js';
import { loadLists } from '../../src/match/lists.js';

/** The names of the lists that block `name` (lower case, no trailing dot). */
export type Blocker = (name: string) => Set<string>;

export function referenceBlocker(inputs: readonly ListInput[]): Blocker {
  const exact = new Map<string, Set<string>>();
  const suffix = new Map<string, Set<string>>();
  for (const { spec, entries } of inputs) {
    for (const e of entries ?? []) {
      const table = spec.exact || e.exact ? exact : suffix;
      const lists = table.get(e.name) ?? new Set<string>();
      lists.add(spec.name);
      table.set(e.name, lists);
    }
  }
  return (name) => {
    const out = new Set(exact.get(name));
    const labels = name.split('.');
    for (let i = 0; i < labels.length; i++) {
      for (const list of suffix.get(labels.slice(i).join('.')) ?? []) out.add(list);
    }
    return out;
  };
}

export async function matcherBlocker(inputs: readonly ListInput[]): Promise<Blocker> {
  const { matcher } = await loadLists(inputs);
  return (name) => {
    const mask = matcher.matchName(name);
    const out = new Set<string>();
    if (mask <= 0) return out;
    matcher.lists.forEach((spec, id) => {
      if (matcher.blocks(mask, id)) out.add(spec.name);
    });
    return out;
  };
}

export const blockers: [string, (inputs: readonly ListInput[]) => Blocker | Promise<Blocker>][] = [
  ['reference', referenceBlocker],
  ['matcher', matcherBlocker],
];
