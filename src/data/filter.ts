// The data plane's side of the compiled filter: a FilterState rebuilt from
// the spec the control plane posts. The matcher and the verdict tables are
// the control plane's shared memory, used in place; only the client
// classifier and the block answers (a few KB) are built here.

import { CompiledMatcher } from '../match/matcher.js';
import { ClientClassifier } from '../shared/clients.js';
import { type FilterSpec, type FilterState, type GroupTable, type GroupVerdicts, answersOf } from '../shared/filter.js';

/** The FilterState for `spec` with the given verdict tables (by group), as a worker thread uses it. */
export function stateOf(spec: FilterSpec, tables: readonly GroupTable[]): FilterState {
  const matcher = new CompiledMatcher(spec.parts);
  const answers = answersOf(spec, matcher.lists.map((l) => l.name));
  return {
    generation: spec.generation,
    matcher,
    clients: new ClientClassifier(spec.access, spec.groups.map((g) => g.clients), spec.groups.map((g) => g.devices)),
    groups: spec.groups.map((g, i): GroupVerdicts => ({ name: g.name, verdicts: tables[i].verdicts, lifts: tables[i].lifts, answers: answers.groups[i] })),
    listAnswers: answers.lists,
  };
}

/** New verdict tables for the same filter (a pause, an exception or a schedule changed them): two reference swaps per group, in one turn. */
export function swapVerdicts(state: FilterState, tables: readonly GroupTable[]): void {
  state.groups.forEach((g, i) => {
    if (tables[i] === undefined) return;
    g.verdicts = tables[i].verdicts;
    g.lifts = tables[i].lifts;
  });
}
