// Metrics about the shared runtime state: whether Redis answers, how many
// pauses and exceptions are in force, how often the state was read.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { RuntimeState } from './runtime.js';

/** `groups`: the groups of the filter in force, each with its exceptions gauge from the first scrape (0 without any). */
export function registerStateMetrics(registry: Registry, state: RuntimeState, groups: () => readonly string[]): void {
  new Gauge({
    name: 'aifence_shared_state_connected',
    help: '1 when the shared state backend answers (always 1 without state.redis); 0 while enforcing the last state read',
    labelNames: ['backend'],
    registers: [registry],
    collect() {
      this.reset();
      const s = state.status();
      this.set({ backend: s.backend }, s.connected ? 1 : 0);
    },
  });
  new Gauge({
    name: 'aifence_shared_state_last_sync_timestamp_seconds',
    help: 'When the runtime state was last read from Redis',
    registers: [registry],
    collect() {
      this.reset();
      const s = state.status();
      if (s.lastSync) this.set(Date.parse(s.lastSync) / 1000);
    },
  });
  new Counter({
    name: 'aifence_shared_state_syncs_total',
    help: 'Reads of the runtime state from Redis, by result',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ result: 'ok' }, state.stats.syncs);
      this.inc({ result: 'error' }, state.stats.syncErrors);
    },
  });
  new Gauge({
    name: 'aifence_shared_state_ignored_entries',
    help: 'Pauses and exceptions stored in Redis that this instance does not enforce: out of the admin API\'s ranges, for a group or selector it does not know, or unreadable (each is logged once)',
    registers: [registry],
    collect() {
      this.set(state.ignored);
    },
  });
  new Gauge({
    name: 'aifence_runtime_exceptions',
    help: 'Exceptions made through the admin API and in force, by group',
    labelNames: ['group'],
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, number>(groups().map((g) => [g, 0]));
      for (const e of state.exceptions()) counts.set(e.group, (counts.get(e.group) ?? 0) + 1);
      for (const [group, n] of counts) this.set({ group }, n);
    },
  });
}
