// Blocked attempts over the last hour, per minute, by service, group and
// client, for the console's charts, and the hour's totals (queries,
// blocked, allowed by exception). One observer on the query path: a
// blocked query bumps three counters in the current minute's maps (keys are
// strings the query path already holds, and the client's name from the
// identity table); other queries bump a number or two. Each map is capped,
// so a client spraying names or addresses cannot grow it.

import type { QueryEvent, QueryObserver } from '../../../shared/events.js';
import { type ClientNames, NO_NAMES, clientLabel } from '../../identity/who.js';

export const MINUTES = 60;
/** Distinct keys kept per minute and dimension; beyond it they count as "other". */
const MAX_KEYS = 200;
export const OTHER = '(other)';

export type Dimension = 'service' | 'group' | 'client';

class Minute {
  at = 0;
  /** Blocked queries. */
  total = 0;
  /** Every answered query, and the allowed ones an exception let through. */
  queries = 0;
  excepted = 0;
  readonly service = new Map<string, number>();
  readonly group = new Map<string, number>();
  readonly client = new Map<string, number>();
  reset(at: number): void {
    this.at = at;
    this.total = 0;
    this.queries = 0;
    this.excepted = 0;
    this.service.clear();
    this.group.clear();
    this.client.clear();
  }
}

function bump(map: Map<string, number>, key: string): void {
  const n = map.get(key);
  if (n !== undefined) map.set(key, n + 1);
  else if (map.size < MAX_KEYS) map.set(key, 1);
  else map.set(OTHER, (map.get(OTHER) ?? 0) + 1);
}

export class ConsoleStats implements QueryObserver {
  readonly observerName = 'console';
  private readonly minutes = Array.from({ length: MINUTES }, () => new Minute());

  constructor(
    private readonly clock: () => number = Date.now,
    /** The client's host name (identity); a blocked client is counted as `name (address)`. */
    private readonly names: ClientNames = NO_NAMES,
  ) {}

  /** The service column of each list name seen (a blocked query must not build the same string again). */
  private readonly labels = new Map<string, string>();

  private serviceLabel(list: string): string {
    let label = this.labels.get(list);
    if (label === undefined) {
      label = list.startsWith('service:') ? list.slice(8) : list ? `list:${list}` : '-';
      // List names come from the config and the catalogue; the bound is for a config reloaded many times.
      if (this.labels.size >= 4096) this.labels.clear();
      this.labels.set(list, label);
    }
    return label;
  }

  observe(e: QueryEvent): void {
    const at = Math.floor(e.time / 60_000);
    const m = this.minutes[at % MINUTES];
    if (m.at !== at) m.reset(at);
    m.queries++;
    if (e.exception !== '') m.excepted++;
    if (e.verdict !== 'blocked') return;
    m.total++;
    bump(m.service, this.serviceLabel(e.list));
    bump(m.group, e.group || '-');
    // The live view takes the name known now (a lease file being read names nobody for these few milliseconds).
    bump(m.client, clientLabel(e.client, this.names(e.client, e.time) ?? '', e.device));
  }

  /** The last hour's totals. */
  totals(): { queries: number; blocked: number; excepted: number } {
    const now = Math.floor(this.clock() / 60_000);
    const t = { queries: 0, blocked: 0, excepted: 0 };
    for (const m of this.minutes) {
      if (m.at <= now - MINUTES || m.at > now) continue;
      t.queries += m.queries;
      t.blocked += m.total;
      t.excepted += m.excepted;
    }
    return t;
  }

  /** Per minute, oldest first, the last hour: blocked counts per key of `by` (top `top` keys over the hour, the rest as other). */
  series(by: Dimension, top = 6): { minutes: number[]; keys: string[]; counts: number[][]; totals: Map<string, number> } {
    const now = Math.floor(this.clock() / 60_000);
    const minutes = Array.from({ length: MINUTES }, (_, i) => now - MINUTES + 1 + i);
    const live = minutes.map((at) => {
      const m = this.minutes[at % MINUTES];
      return m.at === at ? m : null;
    });
    const totals = new Map<string, number>();
    for (const m of live) if (m) for (const [k, n] of m[by]) totals.set(k, (totals.get(k) ?? 0) + n);
    const ranked = [...totals].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([k]) => k);
    const keys = ranked.slice(0, top);
    const rest = ranked.length > top;
    const counts = live.map((m) => {
      const row = keys.map((k) => m?.[by].get(k) ?? 0);
      if (rest) row.push(m ? [...m[by]].filter(([k]) => !keys.includes(k)).reduce((s, [, n]) => s + n, 0) : 0);
      return row;
    });
    return { minutes: minutes.map((m) => m * 60_000), keys: rest ? [...keys, OTHER] : keys, counts, totals };
  }
}
