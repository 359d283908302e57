// Turning the compiled lists and a group's selectors into a verdict per
// mask id, once per reload. A query's decision is then one matcher walk and
// one array read: policy adds nothing per query.

import type { GroupConfig } from '../config/schema.js';
import type { Matcher } from '../match/types.js';

/** Resolves one selector (`service:ID`, `tag:TAG`, `list:NAME`) to list names; throws on an unknown one. */
export type SelectorResolver = (selector: string) => string[];

/** Verdict table value for names that no selected list blocks. */
export const PASS = -1;

export interface GroupPolicy {
  name: string;
  /** Per mask id: the id of the list that blocks the name, or PASS. */
  verdicts: Int32Array;
}

/**
 * Which lists a group uses. Admin lists that no group selects apply to every
 * group (a configured list blocks for everyone unless groups say otherwise);
 * catalogue lists apply only where selected.
 */
export function groupLists(group: GroupConfig, resolveSelector: SelectorResolver, unselectedAdminLists: readonly string[]) {
  const block = new Set<string>(unselectedAdminLists);
  for (const s of group.block) for (const name of resolveSelector(s)) block.add(name);
  const allow = new Set<string>();
  for (const s of group.allow) for (const name of resolveSelector(s)) allow.add(name);
  return { block, allow };
}

/**
 * A name is blocked for the group when a list it blocks with says so, and
 * nothing lifts it: an allow entry (`@@` rule or allowlist) in any list the
 * group uses, or any entry of a list that the group's `allow` selects.
 */
export function compileGroup(name: string, matcher: Matcher, lists: { block: Set<string>; allow: Set<string> }): GroupPolicy {
  const blockIds: number[] = [];
  const allowIds: number[] = [];
  const usedIds: number[] = [];
  matcher.lists.forEach((spec, id) => {
    if (lists.block.has(spec.name)) blockIds.push(id);
    if (lists.allow.has(spec.name)) allowIds.push(id);
    if (lists.block.has(spec.name) || lists.allow.has(spec.name)) usedIds.push(id);
  });
  const verdicts = new Int32Array(matcher.maskCount).fill(PASS);
  for (let mask = 1; mask < matcher.maskCount; mask++) {
    const blocker = blockIds.find((id) => matcher.blocks(mask, id));
    if (blocker === undefined) continue;
    const lifted = usedIds.some((id) => matcher.allows(mask, id)) || allowIds.some((id) => matcher.blocks(mask, id));
    if (!lifted) verdicts[mask] = blocker;
  }
  return { name, verdicts };
}
