// Building everything a reload swaps in: the compiled lists, the client
// classifier, every group's verdict tables and block answers. Used by
// `serve` and by the CLI (`check`, `lists`, `groups`) so all decide alike.

import { type Catalogue, catalogueLists, loadCatalogue, resolveSelector, serviceListName } from '../catalogue/index.js';
import type { Config, GroupConfig } from '../config/schema.js';
import { checkSelectors } from '../config/selectors.js';
import { loadListsOffThread } from '../../match/lists.js';
import type { ListInput, ListSet } from '../../match/types.js';
import type { FilterState } from '../../shared/filter.js';
import { BlockAnswers } from '../../wire/answers.js';
import { ClientClassifier } from '../../data/resolve/clients.js';
import { Policy } from './policy.js';

export interface Filter {
  state: FilterState;
  /** The rules behind the state's verdict tables: pauses, exceptions and schedules recompile them here. */
  policy: Policy;
  lists: ListSet;
  catalogue: Catalogue;
}

export async function buildFilter(config: Config, catalogue: Catalogue = loadCatalogue(), now = Date.now()): Promise<Filter> {
  const adminNames = config.lists.map((l) => l.name);
  const select = (selector: string) => resolveSelector(selector, catalogue, adminNames);
  // Resolve every selector before compiling anything: a typo fails fast, with its suggestion.
  checkSelectors(config, select);
  const inputs: ListInput[] = [...config.lists.map((spec) => ({ spec })), ...catalogueLists(catalogue)];
  // Read and compiled in a worker thread: a reload never holds the query loop.
  const lists = await loadListsOffThread(inputs, { baseDir: config.baseDir });
  const matcher = lists.matcher;
  const reasons = matcher.lists.map((l) => l.name);
  const { ttl } = config.blocking;
  const answersFor = (g: GroupConfig) => new BlockAnswers(g.answer ?? config.blocking.answer, ttl, reasons);
  const policy = new Policy(matcher, config.groups, select, adminNames, answersFor, now);
  const clients = new ClientClassifier(config.access.clients, config.groups.map((g) => g.clients));
  // The DoH canaries only work with the answer their clients look for, whatever the group's block page.
  const forced = { nxdomain: new BlockAnswers({ kind: 'nxdomain' }, ttl, reasons), nodata: new BlockAnswers({ kind: 'nodata' }, ttl, reasons) };
  const answerOf = new Map(catalogue.services.map((s) => [serviceListName(s.id), s.answer]));
  const listAnswers = matcher.lists.map((l) => {
    const answer = answerOf.get(l.name);
    return answer === undefined ? undefined : forced[answer];
  });
  return { state: { matcher, clients, groups: policy.groups, listAnswers }, policy, lists, catalogue };
}
