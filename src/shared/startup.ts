// When each phase of `aifence serve`'s start ended, for the start log's
// `phases`: milliseconds since the process was started, including the
// first Node that re-executed itself for the memory settings
// (commands/serve-memory.ts passes its start on in AIFENCE_STARTED_AT).
// What `npm run bench:start` measures from outside, split by where it goes.

import { type PhaseMark, epochNow } from '../thread/clock.js';

/** The variable the memory re-exec passes its start in (epoch ms); removed at once, so no thread or child inherits it. */
export const STARTED_AT = 'AIFENCE_STARTED_AT';


/** When this process started: the re-exec's first Node when there was one (a value that makes no sense is ignored), else this Node. */
function processStart(env: Record<string, string | undefined>): number {
  const passed = Number(env[STARTED_AT]);
  delete env[STARTED_AT];
  const origin = performance.timeOrigin;
  // The first Node started before this one, and not long before: anything else is not ours.
  return Number.isFinite(passed) && passed <= origin && origin - passed < 60_000 ? passed : origin;
}

export class StartupClock {
  /** Epoch ms of the process's start. */
  readonly origin: number;
  private readonly marks: [string, number][] = [];

  constructor(env: Record<string, string | undefined> = process.env) {
    this.origin = processStart(env);
    // Node itself: up to the first line of the program.
    if (this.origin < performance.timeOrigin) this.marks.push(['exec', performance.timeOrigin]);
  }

  /** `phase` ended now (or at `at`, epoch ms: a time another thread measured). */
  readonly mark: PhaseMark = (phase, at = epochNow()) => {
    this.marks.push([phase, at]);
  };

  /** Milliseconds since the process started. */
  elapsed(at = epochNow()): number {
    return Math.round(at - this.origin);
  }

  /** Each phase's end, in milliseconds since the process started, in the order marked. */
  phases(): Record<string, number> {
    return Object.fromEntries(this.marks.map(([phase, at]) => [phase, this.elapsed(at)]));
  }
}

/** This process's clock: made when the bin starts (cli.ts imports this first), before any thread could copy the environment. */
export const startup = new StartupClock();
