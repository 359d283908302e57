// Turning the compiled lists and each group's rules into a verdict per
// matcher mask id. A query's decision is one matcher walk and one array
// read: policy adds nothing per query. Rules that expire or follow a
// schedule change the tables only when `refresh` sees them change.

import type { GroupConfig, Rule } from '../config/schema.js';
import type { Matcher } from '../../match/types.js';
import type { BlockAnswers } from '../../wire/answers.js';
import { type GroupVerdicts, PASS } from '../../shared/filter.js';
import { sharedArray } from '../../match/shared.js';
import { scheduleActive } from './schedule.js';

/** Resolves one selector (`service:ID`, `tag:TAG`, `list:NAME`) to list names; throws on an unknown one. */
export type SelectorResolver = (selector: string) => string[];

export { PASS };

interface CompiledRule {
  rule: Rule;
  /** List ids the rule's selector stands for. */
  lists: number[];
}

export interface GroupPolicy extends GroupVerdicts {
  readonly config: GroupConfig;
  readonly block: CompiledRule[];
  /** The config's allow rules, then the runtime exceptions (admin API, shared state). */
  allow: CompiledRule[];
  /** Admin lists no group selects: they apply to every group. */
  readonly everyone: number[];
  /** Which rules were active (and whether blocking was paused) when `verdicts` was compiled, to notice changes. */
  active: string;
  /** Blocking is paused until this wall-clock time (POST /pause); 0 = not paused. */
  pausedUntil: number;
}

export interface RuleChange {
  group: string;
  kind: 'block' | 'allow' | 'pause';
  /** The rule that changed; absent for a pause. */
  rule?: Rule;
  change: 'lapsed' | 'started' | 'stopped';
}

/** What decided a name for a group, for `aifence check` (off the hot path). */
export interface Decision {
  blocker: number;
  /** The rule whose selector made the blocking list apply (absent for lists that apply to everyone). */
  blockRule?: Rule;
  /** The allow rule that lifted a block, when one did. */
  allowRule?: Rule;
  /** The list whose allow entry lifted a block, when one did. */
  allowList?: number;
  /** Blocking is paused for the group. */
  paused?: boolean;
}

export const isActive = (rule: Rule, now: number): boolean =>
  (rule.until === undefined || now < rule.until) && (rule.schedule === undefined || scheduleActive(rule.schedule, now));

export class Policy {
  readonly groups: GroupPolicy[];
  private readonly compile: (rule: Rule) => CompiledRule;
  /** Per group, the runtime rules last set, to skip recompiling for nothing. */
  private readonly runtimeKeys: string[] = [];

  constructor(
    private readonly matcher: Matcher,
    groups: readonly GroupConfig[],
    select: SelectorResolver,
    adminLists: readonly string[],
    answersFor: (group: GroupConfig) => BlockAnswers,
    now: number,
  ) {
    const ids = new Map(matcher.lists.map((l, i) => [l.name, i]));
    const compile = (rule: Rule): CompiledRule => ({ rule, lists: select(rule.select).map((n) => ids.get(n)!).filter((i) => i !== undefined) });
    this.compile = compile;
    const compiled = groups.map((g) => ({ g, block: g.block.map(compile), allow: g.allow.map(compile) }));
    // A configured list blocks for everyone unless some group selects it.
    const selected = new Set(compiled.flatMap((c) => [...c.block, ...c.allow].flatMap((r) => r.lists)));
    const everyone = adminLists.map((n) => ids.get(n)!).filter((i) => i !== undefined && !selected.has(i));
    this.groups = compiled.map(({ g, block, allow }) => ({
      name: g.name,
      config: g,
      verdicts: new Int32Array(0),
      answers: answersFor(g),
      block,
      allow,
      everyone,
      active: '',
      pausedUntil: 0,
    }));
    for (const group of this.groups) this.compileGroup(group, now);
  }

  /** Recompiles the groups whose active rules changed since the last look; says what changed. */
  refresh(now: number): RuleChange[] {
    const changes: RuleChange[] = [];
    for (const group of this.groups) {
      const before = group.active;
      if (signature(group, now) === before) continue;
      const paused = group.pausedUntil > now;
      if ((before[0] === 'P') !== paused) changes.push({ group: group.name, kind: 'pause', change: paused ? 'started' : 'lapsed' });
      const rules = [...group.block.map((r) => ['block', r] as const), ...group.allow.map((r) => ['allow', r] as const)];
      rules.forEach(([kind, r], i) => {
        const was = before[i + 1] === '1';
        const is = isActive(r.rule, now);
        if (was === is) return;
        const change = is ? 'started' : r.rule.until !== undefined && now >= r.rule.until ? 'lapsed' : 'stopped';
        changes.push({ group: group.name, kind, rule: r.rule, change });
      });
      this.compileGroup(group, now);
    }
    return changes;
  }

  /** Pauses blocking for one group until `until` (wall clock); it resumes by itself. 0 resumes now. */
  pause(index: number, until: number, now: number): RuleChange[] {
    this.groups[index].pausedUntil = until;
    return this.refresh(now);
  }

  /** Throws, with a suggestion, when `select` names nothing in this configuration and catalogue. */
  checkSelector(select: string): void {
    this.compile({ select });
  }

  /**
   * Replaces the group's runtime exceptions with `rules` (after its config
   * allow rules) and recompiles it. Returns the rules skipped because their
   * selector names nothing here (made on an instance with another catalogue).
   */
  setRuntimeAllows(index: number, rules: Rule[], now: number): Rule[] {
    const group = this.groups[index];
    // The same rules as last time (most shared-state changes touch one group): the tables stand.
    const key = rules.map((r) => `${r.select} ${r.until}`).join('\n');
    if (this.runtimeKeys[index] === key) return [];
    this.runtimeKeys[index] = key;
    const compiled: CompiledRule[] = [];
    const skipped: Rule[] = [];
    for (const rule of rules) {
      try {
        compiled.push(this.compile(rule));
      } catch {
        skipped.push(rule);
      }
    }
    group.allow = [...group.allow.slice(0, group.config.allow.length), ...compiled];
    this.compileGroup(group, now);
    return skipped;
  }

  /**
   * When a rule may next change state: the earliest `until` still ahead,
   * or the next minute when a schedule is in play. Undefined: never.
   */
  nextChange(now: number): number | undefined {
    let next: number | undefined;
    for (const group of this.groups) {
      if (group.pausedUntil > now) next = Math.min(next ?? Infinity, group.pausedUntil);
      for (const { rule } of [...group.block, ...group.allow]) {
        if (rule.until !== undefined && rule.until > now) next = Math.min(next ?? Infinity, rule.until);
        if (rule.schedule !== undefined) next = Math.min(next ?? Infinity, (Math.floor(now / 60_000) + 1) * 60_000);
      }
    }
    return next;
  }

  /** Why `mask` gets its verdict in group `index` at `now`: the same logic as the table, keeping the reasons. */
  decide(index: number, mask: number, now: number): Decision {
    const group = this.groups[index];
    if (group.pausedUntil > now) return { blocker: PASS, paused: true };
    const m = this.matcher;
    const blockRules = group.block.filter((r) => isActive(r.rule, now));
    const allowRules = group.allow.filter((r) => isActive(r.rule, now));
    const candidates: { list: number; rule?: Rule }[] = [
      ...blockRules.flatMap((r) => r.lists.map((list) => ({ list, rule: r.rule }))),
      ...group.everyone.map((list) => ({ list })),
    ];
    const hit = mask > 0 ? candidates.find((c) => m.blocks(mask, c.list)) : undefined;
    if (hit === undefined) return { blocker: PASS };
    const allowRule = allowRules.find((r) => r.lists.some((l) => m.blocks(mask, l) || m.allows(mask, l)));
    if (allowRule) return { blocker: PASS, blockRule: hit.rule, allowRule: allowRule.rule };
    const allowList = candidates.map((c) => c.list).find((l) => m.allows(mask, l));
    if (allowList !== undefined) return { blocker: PASS, blockRule: hit.rule, allowList };
    return { blocker: hit.list, blockRule: hit.rule };
  }

  private compileGroup(group: GroupPolicy, now: number): void {
    const m = this.matcher;
    const blockIds = unique([...group.block.filter((r) => isActive(r.rule, now)).flatMap((r) => r.lists), ...group.everyone]);
    const allowIds = unique(group.allow.filter((r) => isActive(r.rule, now)).flatMap((r) => r.lists));
    const usedIds = unique([...blockIds, ...allowIds]);
    // Shared memory: worker threads read the same table, posted by reference.
    const verdicts = sharedArray(Int32Array, m.maskCount).fill(PASS);
    const paused = group.pausedUntil > now;
    for (let mask = 1; mask < m.maskCount && !paused; mask++) {
      const blocker = blockIds.find((id) => m.blocks(mask, id));
      if (blocker === undefined) continue;
      // Lifted by an allow entry (`@@` rule, allowlist) in any list the group uses, or by any name an allow rule selects.
      const lifted = usedIds.some((id) => m.allows(mask, id)) || allowIds.some((id) => m.blocks(mask, id));
      if (!lifted) verdicts[mask] = blocker;
    }
    group.verdicts = verdicts; // one reference swap: a query sees the old table or the new
    group.active = signature(group, now);
  }
}

function signature(group: GroupPolicy, now: number): string {
  let s = group.pausedUntil > now ? 'P' : '-';
  for (const r of group.block) s += isActive(r.rule, now) ? '1' : '0';
  for (const r of group.allow) s += isActive(r.rule, now) ? '1' : '0';
  return s;
}

const unique = (ids: number[]): number[] => [...new Set(ids)];
