// The compiled filter: what the control plane builds and the data plane
// reads per query. Everything big in it (the matcher's arrays, each group's
// verdict table) lives in SharedArrayBuffers, so one compiled filter serves
// every worker thread by reference; a reload swaps the whole object.

import type { CompiledParts } from '../match/matcher.js';
import type { Matcher } from '../match/types.js';
import type { Cidr } from '../net/address.js';
import type { ClientClassifier } from './clients.js';
import { BlockAnswers, type BlockMode } from '../wire/answers.js';

/** Verdict table value for names that the group lets through and no rule of it would block. */
export const PASS = -1;

/**
 * A block lifted for a group: the list that would have blocked, and what
 * let the name through (an allow rule, a runtime exception, a list's allow
 * entry, a pause), as the query log names it.
 */
export interface Lift {
  /** The list's name (`service:ID` for the catalogue's). */
  list: string;
  by: string;
}

/** The verdict that says "allowed by lifts[k]": -2, -3, … */
export const liftedVerdict = (k: number): number => -2 - k;

/** lifts[] index of a verdict below PASS. */
export const liftIndex = (verdict: number): number => -2 - verdict;

/** One group's tables, swapped together when its rules change. */
export interface GroupTable {
  /**
   * Per matcher mask id: the id of the list that blocks the name for this
   * group (>= 0); PASS; or, below PASS, a block lifted (liftIndex into lifts).
   */
  verdicts: Int32Array;
  /** What lifted each lifted verdict. */
  lifts: readonly Lift[];
}

/** What the query path needs of one group. */
export interface GroupVerdicts extends GroupTable {
  readonly name: string;
  /** The group's block answers (its own `answer`, or `blocking.answer`). */
  readonly answers: BlockAnswers;
}

/** Everything a reload rebuilds, swapped as one reference so a query sees either the old state or the new. */
export interface FilterState {
  /** Which compile this is (FilterSpec.generation): cached CNAME-target masks say which matcher they were computed with. */
  generation: number;
  matcher: Matcher;
  clients: ClientClassifier;
  /** By group index (0 is default), as the classifier returns it. */
  groups: readonly GroupVerdicts[];
  /** Answers that a list imposes whatever the group's mode (the DoH canaries need NXDOMAIN / NODATA), by list id. */
  listAnswers: readonly (BlockAnswers | undefined)[];
}

/**
 * A FilterState as plain data, to post to a worker thread: the matcher's
 * parts and the verdict tables are SharedArrayBuffers (shared, not copied);
 * the rest (prefixes, answer modes) is small and rebuilt in the worker.
 */
export interface FilterSpec {
  /** Bumped by every reload: verdict updates name the filter they belong to. */
  generation: number;
  parts: CompiledParts;
  /** `access.clients`. */
  access: readonly Cidr[];
  /** Per group: its name, client prefixes, device ids and block answer. */
  groups: readonly { name: string; clients: readonly Cidr[]; devices: readonly string[]; answer: BlockMode }[];
  ttl: number;
  /** Per list id: the answer the list imposes whatever the group (DoH canaries), or null. */
  listAnswers: readonly ('nxdomain' | 'nodata' | null)[];
}

/** The block answers every group and list uses, from the spec. */
export function answersOf(spec: FilterSpec, reasons: readonly string[]): { groups: BlockAnswers[]; lists: (BlockAnswers | undefined)[] } {
  const forced = { nxdomain: new BlockAnswers({ kind: 'nxdomain' }, spec.ttl, reasons), nodata: new BlockAnswers({ kind: 'nodata' }, spec.ttl, reasons) };
  return {
    groups: spec.groups.map((g) => new BlockAnswers(g.answer, spec.ttl, reasons)),
    lists: spec.listAnswers.map((kind) => (kind === null ? undefined : forced[kind])),
  };
}
