// Building everything a reload swaps in: the compiled lists, the default
// group's verdict table and the block answers. Used by `serve` and by the
// CLI (`check`, `lists`) so both decide exactly alike.

import { type Catalogue, catalogueLists, loadCatalogue, resolveSelector } from '../catalogue/index.js';
import type { Config } from '../config/schema.js';
import { loadLists } from '../match/lists.js';
import type { ListInput, ListSet } from '../match/types.js';
import type { FilterState } from '../resolve/resolver.js';
import { BlockAnswers } from '../wire/answers.js';
import { compileGroup, groupLists } from './policy.js';

export interface Filter {
  state: FilterState;
  lists: ListSet;
  catalogue: Catalogue;
}

export async function buildFilter(config: Config, catalogue: Catalogue = loadCatalogue()): Promise<Filter> {
  const adminNames = config.lists.map((l) => l.name);
  const select = (selector: string) => resolveSelector(selector, catalogue, adminNames);
  const group = config.groups.default;
  // Resolve selectors before compiling: a typo fails fast with its suggestion.
  const selected = new Set([...group.block, ...group.allow].flatMap(select));
  const unselectedAdmin = adminNames.filter((n) => !selected.has(n));
  const inputs: ListInput[] = [...config.lists.map((spec) => ({ spec })), ...catalogueLists(catalogue)];
  const lists = await loadLists(inputs, { baseDir: config.baseDir });
  const matcher = lists.matcher;
  const policy = compileGroup('default', matcher, groupLists(group, select, unselectedAdmin));
  const answers = new BlockAnswers(config.blocking.answer, config.blocking.ttl, matcher.lists.map((l) => l.name));
  return { state: { matcher, policy, answers }, lists, catalogue };
}
