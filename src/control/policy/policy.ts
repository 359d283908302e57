// Turning the compiled lists and each group's rules into a verdict per
// matcher mask id. A query's decision is one matcher walk and one array
// read: policy adds nothing per query. Rules that expire or follow a
// schedule change the tables only when `refresh` sees them change.
//
// Precedence, strongest first: `enforce` (no group rule, exception or pause
// changes it), a pause (every other block lifted), the group's allow rules
// and runtime exceptions, allow entries in the lists the group uses, the
// group's block rules and the lists that apply to everyone.

import type { GroupConfig, Rule } from '../config/schema.js';
import type { Cidr } from '../../net/address.js';
import type { Matcher } from '../../match/types.js';
import type { BlockAnswers } from '../../wire/answers.js';
import { type GroupVerdicts, type Lift, PASS, liftedVerdict } from '../../shared/filter.js';
import { sharedArray } from '../../match/shared.js';
import { scheduleActive } from './schedule.js';

/** Resolves one selector (`service:ID`, `tag:TAG`, `list:NAME`) to list names; throws on an unknown one. */
export type SelectorResolver = (selector: string) => string[];

export { PASS };

export interface CompiledRule {
  rule: Rule;
  /** List ids the rule's selector stands for. */
  lists: number[];
}

export interface GroupPolicy extends GroupVerdicts {
  readonly config: GroupConfig;
  readonly block: CompiledRule[];
  /** The config's allow rules, then the runtime exceptions (admin API, shared state). */
  allow: CompiledRule[];
  /** What let each lifted verdict through (see GroupTable). */
  lifts: Lift[];
  /** Admin lists no group selects: they apply to every group. */
  readonly everyone: number[];
  /** Which rules were active (and whether blocking was paused) when `verdicts` was compiled, to notice changes. */
  active: string;
  /** Blocking is paused until this wall-clock time (POST /pause); 0 = not paused. */
  pausedUntil: number;
}

/**
 * One client's own table: its group's rules and exceptions plus the
 * exceptions made for that client alone (an approved access request). The
 * client's address, as a prefix of its own, puts it in this table instead
 * of its group's; everything else (name, block answers, pauses) is the group's.
 */
export interface ClientGroupPolicy extends GroupPolicy {
  /** The group it derives from (an index into Policy.groups). */
  readonly base: number;
  readonly client: Cidr;
  /** The exceptions for this client only. */
  own: CompiledRule[];
  /** The group's table this one was last compiled beside: a newer one means the group's rules changed. */
  baseVerdicts: Int32Array;
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
  /** Blocked by `enforce`: no group rule, exception or pause changes it. */
  enforced?: boolean;
}

/** A selector compared with `enforce`: how much of what it selects is enforced. */
export interface EnforcedOverlap {
  /** Mask ids the selector covers (names it selects, by what the lists say of them). */
  selected: number;
  /** Of those, the ones `enforce` blocks. */
  enforced: number;
  /** The enforce selectors they come from. */
  by: string[];
}

/** The label runs through the event ring's string table: at most 255 UTF-8 bytes. */
const LABEL_BYTES = 255;

/** How the query log names what let a blocked name through (short: it goes on every such line). */
export function liftLabel(rule: Rule): string {
  return clamp(rule.label ?? `allow ${rule.select}${rule.reason ? ` (${rule.reason})` : ''}`);
}

/** `text` cut to fit `max` UTF-8 bytes, at a character, with '…' where it was cut. */
export function clamp(text: string, max = LABEL_BYTES): string {
  if (Buffer.byteLength(text) <= max) return text;
  let out = '';
  let bytes = 3; // the '…'
  for (const c of text) {
    bytes += Buffer.byteLength(c);
    if (bytes > max) break;
    out += c;
  }
  return out + '…';
}

export const isActive = (rule: Rule, now: number): boolean =>
  (rule.until === undefined || now < rule.until) && (rule.schedule === undefined || scheduleActive(rule.schedule, now));

export class Policy {
  readonly groups: GroupPolicy[];
  /** `enforce`, compiled: blocked for every group whatever its rules, exceptions or pauses. */
  readonly enforced: CompiledRule[];
  /** Per mask id: the enforced list that blocks it, or PASS. */
  private readonly enforcedBy: Int32Array;
  /** Tables for single clients, after `groups` in the filter's list of groups (see setClientAllows). */
  clientGroups: ClientGroupPolicy[] = [];
  private readonly compile: (rule: Rule) => CompiledRule;
  /** Per group, the runtime rules last set, to skip recompiling for nothing. */
  private readonly runtimeKeys: string[] = [];

  constructor(
    readonly matcher: Matcher,
    groups: readonly GroupConfig[],
    select: SelectorResolver,
    adminLists: readonly string[],
    answersFor: (group: GroupConfig) => BlockAnswers,
    now: number,
    enforce: readonly string[] = [],
  ) {
    const ids = new Map(matcher.lists.map((l, i) => [l.name, i]));
    const compile = (rule: Rule): CompiledRule => ({ rule, lists: select(rule.select).map((n) => ids.get(n)!).filter((i) => i !== undefined) });
    this.compile = compile;
    this.enforced = enforce.map((s) => compile({ select: s }));
    this.enforcedBy = this.enforcedMasks();
    const compiled = groups.map((g) => ({ g, block: g.block.map(compile), allow: g.allow.map(compile) }));
    // A configured list blocks for everyone unless some group (or enforce) selects it.
    const selected = new Set([...this.enforced, ...compiled.flatMap((c) => [...c.block, ...c.allow])].flatMap((r) => r.lists));
    const everyone = adminLists.map((n) => ids.get(n)!).filter((i) => i !== undefined && !selected.has(i));
    this.groups = compiled.map(({ g, block, allow }) => ({
      name: g.name,
      config: g,
      verdicts: new Int32Array(0),
      lifts: [],
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
    this.syncClients(now);
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

  /** How much of what `select` stands for is enforced (throws like checkSelector on an unknown selector). */
  enforcedOverlap(select: string): EnforcedOverlap {
    const { lists } = this.compile({ select });
    const m = this.matcher;
    let selected = 0;
    let enforced = 0;
    const by = new Set<string>();
    for (let mask = 1; mask < m.maskCount; mask++) {
      if (!lists.some((l) => m.blocks(mask, l) || m.allows(mask, l))) continue;
      selected++;
      const list = this.enforcedBy[mask];
      if (list === PASS) continue;
      enforced++;
      for (const r of this.enforced) if (r.lists.includes(list)) by.add(r.rule.select);
    }
    return { selected, enforced, by: [...by] };
  }

  /** Per mask id, the enforced list that blocks it or PASS (read-only; for the conflict warnings). */
  get enforcedTable(): Int32Array {
    return this.enforcedBy;
  }

  /**
   * Replaces the group's runtime exceptions with `rules` (after its config
   * allow rules) and recompiles it. Returns the rules skipped because their
   * selector names nothing here (made on an instance with another catalogue).
   */
  setRuntimeAllows(index: number, rules: Rule[], now: number): Rule[] {
    const group = this.groups[index];
    // The same rules as last time (most shared-state changes touch one group): the tables stand.
    const key = rules.map((r) => `${r.select} ${r.until} ${r.label ?? ''}`).join('\n');
    if (this.runtimeKeys[index] === key) return [];
    this.runtimeKeys[index] = key;
    const { compiled, skipped } = this.compileAll(rules);
    group.allow = [...group.allow.slice(0, group.config.allow.length), ...compiled];
    this.compileGroup(group, now);
    this.syncClients(now);
    return skipped;
  }

  /** Rules compiled; those whose selector names nothing here (made on an instance with another catalogue) apart. */
  private compileAll(rules: readonly Rule[]): { compiled: CompiledRule[]; skipped: Rule[] } {
    const compiled: CompiledRule[] = [];
    const skipped: Rule[] = [];
    for (const rule of rules) {
      try {
        compiled.push(this.compile(rule));
      } catch {
        skipped.push(rule);
      }
    }
    return { compiled, skipped };
  }

  /** The group at a filter index: a config group, or a client's own table after them. */
  group(index: number): GroupPolicy {
    return this.groups[index] ?? this.clientGroups[index - this.groups.length];
  }

  /**
   * Replaces the per-client exceptions: one table per (group, client), each
   * its group's rules plus that client's own exceptions. Returns the rules
   * skipped (their selector names nothing here) and whether the set of
   * clients changed (the client classifier must then be rebuilt).
   */
  setClientAllows(entries: readonly { group: number; client: Cidr; rules: Rule[] }[], now: number): { skipped: Rule[]; clientsChanged: boolean } {
    const skipped: Rule[] = [];
    const before = new Map(this.clientGroups.map((cg) => [`${cg.base} ${cg.client.text}`, cg]));
    const next: ClientGroupPolicy[] = [];
    for (const { group, client, rules } of entries) {
      const { compiled: own, skipped: unknown } = this.compileAll(rules);
      skipped.push(...unknown);
      if (own.length === 0) continue;
      const base = this.groups[group];
      const kept = before.get(`${group} ${client.text}`);
      const cg: ClientGroupPolicy = kept ?? { ...base, base: group, client, own, baseVerdicts: new Int32Array(0), verdicts: new Int32Array(0), active: '' };
      if (kept && ownKey(kept.own) !== ownKey(own)) cg.baseVerdicts = new Int32Array(0); // recompile below
      cg.own = own;
      next.push(cg);
    }
    const clientsChanged = next.length !== this.clientGroups.length || next.some((cg, i) => cg !== this.clientGroups[i]);
    this.clientGroups = next;
    this.syncClients(now);
    return { skipped, clientsChanged };
  }

  /** Recompiles the client tables whose group's table changed, or whose own rules started or lapsed. */
  private syncClients(now: number): void {
    for (const cg of this.clientGroups) {
      const base = this.groups[cg.base];
      const allow = [...base.allow, ...cg.own];
      cg.allow = allow;
      cg.pausedUntil = base.pausedUntil;
      if (cg.baseVerdicts === base.verdicts && signature(cg, now) === cg.active) continue;
      this.compileGroup(cg, now);
      cg.baseVerdicts = base.verdicts;
    }
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
    for (const cg of this.clientGroups) {
      for (const { rule } of cg.own) if (rule.until !== undefined && rule.until > now) next = Math.min(next ?? Infinity, rule.until);
    }
    return next;
  }

  /** Why `mask` gets its verdict in group `index` at `now`: the same logic as the table, keeping the reasons. */
  decide(index: number, mask: number, now: number): Decision {
    const group = this.group(index);
    const enforced = mask > 0 ? this.enforcedBy[mask] : PASS;
    if (enforced !== PASS) return { blocker: enforced, blockRule: this.enforced.find((r) => r.lists.includes(enforced))?.rule, enforced: true };
    if (group.pausedUntil > now) return { blocker: PASS, paused: true };
    const candidates: { list: number; rule?: Rule }[] = [
      ...group.block.filter((r) => isActive(r.rule, now)).flatMap((r) => r.lists.map((list) => ({ list, rule: r.rule }))),
      ...group.everyone.map((list) => ({ list })),
    ];
    const hit = mask > 0 ? candidates.find((c) => this.matcher.blocks(mask, c.list)) : undefined;
    if (hit === undefined) return { blocker: PASS };
    const lift = this.lifter(mask, group.allow.filter((r) => isActive(r.rule, now)), candidates.map((c) => c.list));
    if (lift === null) return { blocker: hit.list, blockRule: hit.rule };
    return 'rule' in lift ? { blocker: PASS, blockRule: hit.rule, allowRule: lift.rule } : { blocker: PASS, blockRule: hit.rule, allowList: lift.list };
  }

  /** What lifts a block of `mask`: the first allow rule that selects it, else the first used list with an allow entry for it. */
  private lifter(mask: number, allowRules: readonly CompiledRule[], usedIds: readonly number[]): { rule: Rule } | { list: number } | null {
    const m = this.matcher;
    const rule = allowRules.find((r) => r.lists.some((l) => m.blocks(mask, l) || m.allows(mask, l)));
    if (rule) return { rule: rule.rule };
    const list = usedIds.find((l) => m.allows(mask, l));
    return list === undefined ? null : { list };
  }

  /** Per mask: blocked by an enforced list, unless an enforced list's own allow entry (`@@`) lifts it. */
  private enforcedMasks(): Int32Array {
    const m = this.matcher;
    const ids = unique(this.enforced.flatMap((r) => r.lists));
    const table = new Int32Array(m.maskCount).fill(PASS);
    if (ids.length === 0) return table;
    for (let mask = 1; mask < m.maskCount; mask++) {
      const blocker = ids.find((id) => m.blocks(mask, id));
      if (blocker !== undefined && !ids.some((id) => m.allows(mask, id))) table[mask] = blocker;
    }
    return table;
  }

  private compileGroup(group: GroupPolicy, now: number): void {
    const m = this.matcher;
    const blockIds = unique([...group.block.filter((r) => isActive(r.rule, now)).flatMap((r) => r.lists), ...group.everyone]);
    const allowRules = group.allow.filter((r) => isActive(r.rule, now));
    const usedIds = unique([...blockIds, ...allowRules.flatMap((r) => r.lists)]);
    // Shared memory: worker threads read the same table, posted by reference.
    const verdicts = sharedArray(Int32Array, m.maskCount).fill(PASS);
    const lifts: Lift[] = [];
    const liftIds = new Map<string, number>();
    const lifted = (blocker: number, by: string): number => {
      const list = m.lists[blocker].name;
      const key = `${list} ${by}`;
      let k = liftIds.get(key);
      if (k === undefined) {
        k = lifts.length;
        lifts.push({ list, by });
        liftIds.set(key, k);
      }
      return liftedVerdict(k);
    };
    const paused = group.pausedUntil > now;
    for (let mask = 1; mask < m.maskCount; mask++) {
      const enforced = this.enforcedBy[mask];
      if (enforced !== PASS) {
        verdicts[mask] = enforced;
        continue;
      }
      const blocker = blockIds.find((id) => m.blocks(mask, id));
      if (blocker === undefined) continue;
      // Lifted: the query log names what let it through, so every exception's use is accounted for.
      if (paused) {
        verdicts[mask] = lifted(blocker, 'pause');
        continue;
      }
      const lift = this.lifter(mask, allowRules, usedIds);
      if (lift === null) verdicts[mask] = blocker;
      else verdicts[mask] = lifted(blocker, 'rule' in lift ? liftLabel(lift.rule) : clamp(`allow entry in list:${m.lists[lift.list].name}`));
    }
    // Two reference swaps in one turn: a query on this thread sees the old pair or the new.
    group.verdicts = verdicts;
    group.lifts = lifts;
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

const ownKey = (rules: readonly CompiledRule[]): string => rules.map((r) => `${r.rule.select} ${r.rule.until}`).join('\n');
