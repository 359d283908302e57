// Conflict warnings, from the compiled selections: for each group, every
// allow rule that re-opens names another group blocks, that overlaps a
// country block (`tag:cn`), or that covers names `enforce` keeps blocked.
// An allow beats its own group's blocks by design (that is what it is
// for); these are the cases an admin may not have meant: a ministry-wide
// ban that a team's `allow: [tag:chat]` quietly undoes for that team.

import { COUNTRIES } from '../catalogue/schema.js';
import { census } from '../../match/census.js';
import type { CompiledMatcher } from '../../match/matcher.js';
import { PASS, type CompiledRule, type Policy } from './policy.js';

export type ConflictKind = 'other-groups' | 'country' | 'enforced';

export interface Conflict {
  /** The allow rule's selector. */
  allow: string;
  kind: ConflictKind;
  /** The block rules it overlaps: another group's (`default: service:deepseek`), its own group's country block (`tag:cn`), or the enforce selectors. */
  against: string[];
  /** Names of the compiled lists it re-opens (or that stay blocked, for `enforced`). */
  names: number;
  /** Up to three of them. */
  examples: string[];
}

export interface GroupConflicts {
  group: string;
  conflicts: Conflict[];
}

/** A country tag (`tag:cn`): the block rules whose overlaps are always worth a warning. */
const isCountryBlock = (select: string): boolean => select.startsWith('tag:') && COUNTRIES.has(select.slice(4));

interface Pending {
  group: number;
  allow: string;
  kind: ConflictKind;
  against: Set<string>;
  masks: number[];
}

/** Every group's conflicts; groups without any are left out. Config rules only (runtime exceptions are checked when made). */
export function policyConflicts(policy: Policy): GroupConflicts[] {
  const m = policy.matcher;
  // Each rule's selection as one byte per mask id, computed once: 1 blocks, 2 allows (both: 3).
  const selections = new Map<CompiledRule, Uint8Array>();
  const selection = (r: CompiledRule): Uint8Array => {
    let s = selections.get(r);
    if (s !== undefined) return s;
    s = new Uint8Array(m.maskCount);
    for (let mask = 1; mask < m.maskCount; mask++) for (const l of r.lists) s[mask] |= (m.blocks(mask, l) ? 1 : 0) | (m.allows(mask, l) ? 2 : 0);
    selections.set(r, s);
    return s;
  };
  const opens = (r: CompiledRule, mask: number) => selection(r)[mask] !== 0;
  const blocks = (r: CompiledRule, mask: number) => (selection(r)[mask] & 1) !== 0;
  const enforced = policy.enforcedTable;
  const pending: Pending[] = [];
  policy.groups.forEach((group, gi) => {
    for (const allow of group.allow.slice(0, group.config.allow.length)) {
      const found = new Map<ConflictKind, Pending>();
      const note = (kind: ConflictKind, against: string, mask: number) => {
        let p = found.get(kind);
        if (p === undefined) found.set(kind, (p = { group: gi, allow: allow.rule.select, kind, against: new Set(), masks: [] }));
        p.against.add(against);
        if (p.masks.at(-1) !== mask) p.masks.push(mask);
      };
      for (let mask = 1; mask < m.maskCount; mask++) {
        if (!opens(allow, mask)) continue;
        if (enforced[mask] !== PASS) {
          for (const r of policy.enforced) if (blocks(r, mask)) note('enforced', r.rule.select, mask);
          continue; // stays blocked: nothing else to say about it
        }
        policy.groups.forEach((other, oi) => {
          for (const b of other.block) {
            if (!blocks(b, mask)) continue;
            // Another group's block, country or not; the group's own block only when it is a country's.
            if (oi !== gi) note('other-groups', `${other.name}: ${b.rule.select}`, mask);
            else if (isCountryBlock(b.rule.select)) note('country', b.rule.select, mask);
          }
        });
      }
      pending.push(...found.values());
    }
  });
  if (pending.length === 0) return [];
  // One pass over the trie counts the names behind every mask involved.
  const wanted = new Uint8Array(m.maskCount);
  for (const p of pending) for (const mask of p.masks) wanted[mask] = 1;
  const counted = census((m as CompiledMatcher).parts, wanted);
  const out: GroupConflicts[] = [];
  for (const p of pending) {
    const names = p.masks.reduce((n, mask) => n + counted.counts[mask], 0);
    if (names === 0) continue;
    const examples = p.masks.flatMap((mask) => counted.examples.get(mask) ?? []).slice(0, 3);
    const group = policy.groups[p.group].name;
    let entry = out.find((g) => g.group === group);
    if (entry === undefined) out.push((entry = { group, conflicts: [] }));
    entry.conflicts.push({ allow: p.allow, kind: p.kind, against: [...p.against], names, examples });
  }
  return out;
}

/** One conflict in words, for the log and `aifence groups`. */
export function describeConflict(c: Conflict): string {
  const e = c.examples.length > 0 ? `, e.g. ${c.examples.join(', ')}` : '';
  const n = `${c.names} name${c.names === 1 ? '' : 's'}`;
  switch (c.kind) {
    case 'other-groups':
      return `allow ${c.allow} re-opens ${n} that other groups block (${c.against.join('; ')})${e}`;
    case 'country':
      return `allow ${c.allow} re-opens ${n} of this group's country block (${c.against.join(', ')})${e}`;
    case 'enforced':
      return `allow ${c.allow} covers ${n} enforced for everyone (enforce: ${c.against.join(', ')}), which ${c.names === 1 ? 'stays' : 'stay'} blocked${e}`;
  }
}

interface Log {
  warn(obj: object, msg: string): void;
}

/** One warning line per group with conflicts, at start and after each reload. */
export function logConflicts(policy: Policy, log: Log): GroupConflicts[] {
  const all = policyConflicts(policy);
  for (const g of all) {
    log.warn({ group: g.group, conflicts: g.conflicts }, `policy conflict in group '${g.group}': ${g.conflicts.map(describeConflict).join('; ')}`);
  }
  return all;
}
