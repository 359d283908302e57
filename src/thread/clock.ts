// Time that means the same in every thread: each thread has its own
// performance.now() origin, so a time measured in a job or worker thread is
// passed on as epoch milliseconds at the monotonic clock's resolution.

import { performance } from 'node:perf_hooks';

// Read once per thread (a module is loaded once in each): the global `performance` and its
// `timeOrigin` are getters, and every cache hit reads this clock.
const TIME_ORIGIN = performance.timeOrigin;

/** Epoch milliseconds, with the monotonic clock's resolution: one scale in every thread. */
export const epochNow = (): number => TIME_ORIGIN + performance.now();

/** Notes that a phase ended, at `at` (epoch ms; default now): the phase may have run on another thread. */
export type PhaseMark = (phase: string, at?: number) => void;
