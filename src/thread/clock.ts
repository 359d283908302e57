// Time that means the same in every thread: each thread has its own
// performance.now() origin, so a time measured in a job or worker thread is
// passed on as epoch milliseconds at the monotonic clock's resolution.

/** Epoch milliseconds, with the monotonic clock's resolution: one scale in every thread. */
export const epochNow = (): number => performance.timeOrigin + performance.now();

/** Notes that a phase ended, at `at` (epoch ms; default now): the phase may have run on another thread. */
export type PhaseMark = (phase: string, at?: number) => void;
