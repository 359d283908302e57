// The policy in force between reloads: pauses, runtime exceptions (a
// group's or one client's) and schedules, applied to the live verdict tables
// without a reload, and the timer that applies the next change when it is
// due (an exception that lapses, a schedule that opens, a pause that ends).
// The runtime state (state/runtime.ts) holds pauses and exceptions, local or
// through Redis; this applies it.

import type { Logger } from '../../shared/logger.js';
import { parseCidr } from '../../net/address.js';
import type { Rule } from '../config/schema.js';
import { HttpError } from '../admin/http-error.js';
import { type Filter, configuredGroupOf, withClientGroups } from '../policy/filter.js';
import { RuntimeExceptions } from '../state/exceptions.js';
import { type RuntimeState, StateUnavailable } from '../state/runtime.js';

export interface LivePolicyOptions {
  log: Logger;
  clock: () => number;
  runtime: RuntimeState;
  /** The filter in force. */
  filter: () => Filter;
  /** Client exceptions added or removed a client's own table: the filter to serve from now on. */
  replaceFilter: (filter: Filter) => void;
  /** Verdict tables changed in place: the data planes are told. */
  publishVerdicts: () => void;
  /** An exception arrived (an approval made on another instance, say): its access request's status may have changed. */
  exceptionsChanged: () => void;
}

export class LivePolicy {
  private timer: NodeJS.Timeout | undefined;
  /** Who paused each group, as this instance heard it (the console shows it; the log line is the record). */
  readonly pausedBy = new Map<string, string>();

  constructor(private readonly options: LivePolicyOptions) {}

  private get log(): Logger {
    return this.options.log;
  }

  /**
   * Applies exceptions that lapsed, schedules that opened or closed and
   * pauses that ended since the last look, then sets a timer for the next
   * change: no reload needed.
   */
  refresh(): void {
    clearTimeout(this.timer);
    const policy = this.options.filter().policy;
    const now = this.options.clock();
    for (const c of policy.refresh(now)) {
      const rule = c.rule && { select: c.rule.select, until: c.rule.untilText, reason: c.rule.reason, schedule: c.rule.schedule?.text };
      this.log.info({ group: c.group, kind: c.kind, ...rule }, c.kind === 'pause' ? `blocking pause ${c.change}` : `policy rule ${c.change}`);
    }
    this.options.publishVerdicts();
    const next = policy.nextChange(now);
    // Capped so that a clock that jumps (suspend, NTP step) is caught within the hour.
    if (next !== undefined) this.timer = setTimeout(() => this.refresh(), Math.min(next - now, 3_600_000)).unref();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  async pause(group: string | undefined, minutes: number, by = 'unknown'): Promise<{ group: string; until: string | null }[]> {
    const groups = this.options.filter().policy.groups;
    const targets = group === undefined ? groups : groups.filter((g) => g.name === group);
    if (targets.length === 0) throw new HttpError(404, `no group '${group}'; groups: ${groups.map((g) => g.name).join(', ')}`);
    const until = minutes > 0 ? this.options.clock() + minutes * 60_000 : 0;
    await this.options.runtime.setPause(targets.map((g) => g.name), until).catch(unavailable);
    for (const g of targets) this.pausedBy.set(g.name, by);
    this.log.warn({ groups: targets.map((g) => g.name), minutes, admin: by }, minutes > 0 ? 'blocking paused' : 'blocking resumed');
    return targets.map((g) => ({ group: g.name, until: until > 0 ? new Date(until).toISOString() : null }));
  }

  /** The groups paused now, and until when. */
  pauses(): { group: string; until: string }[] {
    return [...this.options.runtime.pauses()].map(([group, until]) => ({ group, until: new Date(until).toISOString() }));
  }

  /** Runtime exceptions: listed, added and revoked through the admin API. */
  get exceptions(): RuntimeExceptions {
    return new RuntimeExceptions(this.options.runtime, this.options.filter().policy, this.options.clock, unavailable, (fields, message) => this.log.warn(fields, message), (client) => this.groupOf(client));
  }

  /** The configured group a client's queries are decided by (its own table aside), or null when it may not query. */
  private groupOf(client: string): string | null {
    const filter = this.options.filter();
    const g = configuredGroupOf(filter)(client);
    return g === null ? null : filter.policy.groups[g].name;
  }

  /** Asks every instance sharing the state to reload too; false without shared state. */
  broadcastReload(by = 'unknown'): Promise<boolean> {
    this.log.info({ admin: by }, 'reload of every instance asked through the admin API');
    return this.options.runtime.broadcastReload().catch(unavailable);
  }

  /** Applies the runtime state (pauses, exceptions) to the live policy's tables, then re-arms the timer. */
  apply(): void {
    const policy = this.options.filter().policy;
    const now = this.options.clock();
    const pauses = this.options.runtime.pauses();
    const exceptions = this.options.runtime.exceptions();
    const rule = (e: (typeof exceptions)[number]): Rule => ({ select: e.select, until: e.until, untilText: new Date(e.until).toISOString(), reason: `${e.reason} (${e.author}, exception ${e.id})`, label: exceptionLabel(e) });
    policy.groups.forEach((g, i) => {
      const until = pauses.get(g.name) ?? 0;
      if (g.pausedUntil !== until) policy.pause(i, until, now);
      const rules = exceptions.filter((e) => e.group === g.name && e.client === undefined).map(rule);
      const skipped = policy.setRuntimeAllows(i, rules, now);
      if (skipped.length > 0) this.log.warn({ group: g.name, selectors: skipped.map((r) => r.select) }, 'runtime exceptions name nothing in this instance\'s catalogue; skipped');
    });
    this.applyClientExceptions(exceptions.filter((e) => e.client !== undefined), rule, now);
    this.refresh();
    this.options.exceptionsChanged();
  }

  /**
   * Exceptions for one client each: a table per client, in its configured
   * group. One made while the client was in another group (the config has
   * changed since) is not applied: it would carry the client's old policy.
   */
  private applyClientExceptions(exceptions: ReturnType<RuntimeState['exceptions']>, rule: (e: (typeof exceptions)[number]) => Rule, now: number): void {
    const filter = this.options.filter();
    const policy = filter.policy;
    const entries = new Map<string, { group: number; client: NonNullable<ReturnType<typeof parseCidr>>; rules: Rule[] }>();
    const groupOf = exceptions.length > 0 ? configuredGroupOf(filter) : () => null;
    for (const e of exceptions) {
      const group = groupOf(e.client!);
      const cidr = parseCidr(e.client!);
      if (group === null || cidr === null || policy.groups[group].name !== e.group) {
        this.log.warn({ exception: e.id, client: e.client, group: e.group, now: group === null ? null : policy.groups[group].name }, 'exception for a client no longer in its group: not applied');
        continue;
      }
      const key = `${group} ${e.client}`;
      const entry = entries.get(key) ?? { group, client: cidr, rules: [] };
      entry.rules.push(rule(e));
      entries.set(key, entry);
    }
    const { skipped, clientsChanged } = policy.setClientAllows([...entries.values()], now);
    if (skipped.length > 0) this.log.warn({ selectors: skipped.map((r) => r.select) }, 'client exceptions name nothing in this instance\'s catalogue; skipped');
    if (!clientsChanged) return;
    this.options.replaceFilter(withClientGroups(filter));
  }
}

/** How the query log names a runtime exception's use: its id first (it survives any cut), then who and why. */
const exceptionLabel = (e: { id: string; author: string; reason: string }): string => `exception ${e.id} (${e.author}: ${e.reason})`;

/** A change that could not reach the shared state is refused, not applied here alone. */
function unavailable(err: unknown): never {
  if (err instanceof StateUnavailable) throw new HttpError(503, err.message, { 'retry-after': '5' });
  throw err;
}
