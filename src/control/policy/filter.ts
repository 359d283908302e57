// Building everything a reload swaps in: the compiled lists, the client
// classifier, every group's verdict tables and block answers. Used by
// `serve` and by the CLI (`check`, `lists`, `groups`) so all decide alike.

import { type Catalogue, catalogueLists, loadCatalogue, resolveSelector, serviceListName } from '../catalogue/index.js';
import type { Config } from '../config/schema.js';
import { checkSelectors } from '../config/selectors.js';
import { type CompiledLists, adoptCompiled, loadListsOffThread } from '../../match/lists.js';
import { type PhaseMark, epochNow } from '../../thread/clock.js';
import type { CompiledMatcher } from '../../match/matcher.js';
import type { ListInput, ListSet } from '../../match/types.js';
import { type FilterSpec, type FilterState, answersOf } from '../../shared/filter.js';
import { ClientClassifier, REFUSED } from '../../shared/clients.js';
import { Policy } from './policy.js';

export interface Filter {
  state: FilterState;
  /** The same filter as plain data and shared memory, for the worker threads. */
  spec: FilterSpec;
  /** The rules behind the state's verdict tables: pauses, exceptions and schedules recompile them here. */
  policy: Policy;
  lists: ListSet;
  catalogue: Catalogue;
}

let generation = 0;

export interface BuildOptions {
  /** The lists as compiled earlier from the same inputs (a snapshot): used as they are, nothing read. */
  compiled?: CompiledLists;
  /** End the compile's thread with it (the daemon's start), rather than keep it warm for reloads. */
  retire?: boolean;
  /** Notes when each phase ended (the start log's phases). */
  mark?: PhaseMark;
}

export async function buildFilter(config: Config, catalogue: Catalogue = loadCatalogue(), now = Date.now(), options: BuildOptions = {}): Promise<Filter> {
  const { compiled, retire, mark } = options;
  const adminNames = config.lists.map((l) => l.name);
  const select = (selector: string) => resolveSelector(selector, catalogue, adminNames);
  // Resolve every selector before compiling anything: a typo fails fast, with its suggestion.
  checkSelectors(config, select);
  const inputs: ListInput[] = [...config.lists.map((spec) => ({ spec })), ...catalogueLists(catalogue)];
  // Read and compiled in a worker thread: a reload never holds the query loop.
  const lists = compiled ? adoptCompiled(inputs, compiled, { baseDir: config.baseDir }) : await loadListsOffThread(inputs, { baseDir: config.baseDir, retire, mark });
  mark?.('lists', epochNow());
  const matcher = lists.matcher as CompiledMatcher;
  // The DoH canaries only work with the answer their clients look for, whatever the group's block page.
  const answerOf = new Map(catalogue.services.map((s) => [serviceListName(s.id), s.answer]));
  const spec: FilterSpec = {
    generation: ++generation,
    parts: matcher.parts,
    access: config.access.clients,
    groups: config.groups.map((g) => ({ name: g.name, clients: g.clients, devices: g.devices, answer: g.answer ?? config.blocking.answer })),
    ttl: config.blocking.ttl,
    listAnswers: matcher.lists.map((l) => answerOf.get(l.name) ?? null),
  };
  const answers = answersOf(spec, matcher.lists.map((l) => l.name));
  const policy = new Policy(matcher, config.groups, select, adminNames, (g) => answers.groups[config.groups.indexOf(g)], now, config.enforce);
  const clients = new ClientClassifier(spec.access, spec.groups.map((g) => g.clients), spec.groups.map((g) => g.devices));
  mark?.('verdictTables', epochNow());
  return { state: { generation: spec.generation, matcher, clients, groups: policy.groups, listAnswers: answers.lists }, spec, policy, lists, catalogue };
}

/**
 * The same filter with the policy's client tables in it (after the config's
 * groups): each client with exceptions of its own is classified, by its
 * address as a prefix, into its table. Matcher, tables and generation stay
 * the same; only the groups and the classifier are new.
 */
export function withClientGroups(filter: Filter): Filter {
  const { policy, spec, state } = filter;
  const configured = spec.groups.slice(0, policy.groups.length);
  // A client table is reached by its address; a device a group lists still wins over it, as over any address.
  const groups = [...configured, ...policy.clientGroups.map((cg) => ({ name: cg.name, clients: [cg.client], devices: [], answer: configured[cg.base].answer }))];
  const next: FilterSpec = { ...spec, groups };
  const clients = new ClientClassifier(next.access, groups.map((g) => g.clients), groups.map((g) => g.devices));
  return { ...filter, spec: next, state: { ...state, clients, groups: [...policy.groups, ...policy.clientGroups] } };
}

/** The group a client belongs to by the config alone (its own table aside), or null when it may not query. */
export function configuredGroupOf(filter: Filter): (client: string) => number | null {
  const configured = filter.spec.groups.slice(0, filter.policy.groups.length);
  const classifier = new ClientClassifier(filter.spec.access, configured.map((g) => g.clients));
  return (client) => {
    const g = classifier.classify(client);
    return g === REFUSED ? null : g;
  };
}
