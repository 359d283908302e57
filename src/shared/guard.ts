// One guard at each boundary where a fault in one part must not reach
// another: an observer called from the query path, an observer's timer. A
// throw is caught there, counted by name (aifence_observer_errors_total)
// and logged at most once per period; the caller carries on as if nothing
// had been thrown. Nothing here runs unless something failed.

import type { Logger } from './logger.js';

const WARN_EVERY_MS = 10_000;

export class Guard {
  /** Failures caught, by the name of the part that failed. */
  readonly counts: Record<string, number> = {};
  private lastLog = 0;

  constructor(private readonly log: Logger | null) {}

  /** Counts (and now and then logs) a throw caught at `name`'s boundary. */
  failed(name: string, err: unknown): void {
    this.counts[name] = (this.counts[name] ?? 0) + 1;
    const now = Date.now();
    if (this.log === null || now - this.lastLog < WARN_EVERY_MS) return;
    this.lastLog = now;
    this.log.error({ err, observer: name, errorsTotal: this.counts[name] }, 'observer failed; the query was answered and the failure counted (aifence_observer_errors_total)');
  }

  /** `fn` for a timer or an event handler: a throw is counted and logged, never left to the event loop. */
  wrap(name: string, fn: () => void): () => void {
    return () => {
      try {
        fn();
      } catch (err) {
        this.failed(name, err);
      }
    };
  }
}

/** Counts by name, added up. */
export function sumCounts(...all: Record<string, number>[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const counts of all) for (const [name, n] of Object.entries(counts)) sum[name] = (sum[name] ?? 0) + n;
  return sum;
}
