// Running jobs in a worker thread, so that heavy work (reading and compiling
// lists, explaining verdicts, parsing the catalogue) never holds the query
// loop. Results come back by postMessage: SharedArrayBuffers inside them are
// shared, not copied.
//
// One worker per job module, started on the first job, one job at a time,
// and ended IDLE_MS after the last: a burst of reloads finds it warm (no
// start-up, JIT already done), and the garbage a job makes lives and dies
// in the worker's heap, so the daemon needs no forced GC to stay small.
//
// The job module is the worker's entry: it calls `serveJobs(handler)`.
// Under tsx or vitest (sources in TypeScript) the worker registers tsx
// before importing the module.

import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type Worker as WorkerType, Worker, parentPort } from 'node:worker_threads';

/** How long an idle worker stays, warm for the next job. */
const IDLE_MS = 5000;
/** The workers' scheduling priority (Linux nice: 0 normal, 19 lowest); see yieldToQueryThread. */
const WORKER_NICE = 10;

type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

interface Pending {
  id: number;
  data: unknown;
  /** End the thread once this job is done (and nothing else waits): a job that leaves a big heap behind. */
  retire: boolean;
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
}

export class JobRunner {
  private worker: WorkerType | null = null;
  private readonly queue: Pending[] = [];
  private current: Pending | null = null;
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  /** The last job asked to retire the thread after it. */
  private retireNext = false;

  /** `module`: the URL of the worker entry (.js, or .ts under tsx/vitest). */
  constructor(
    private readonly module: URL,
    private readonly idleMs = IDLE_MS,
  ) {}

  /** Whether a worker thread is running (busy, or idle and warm). */
  get alive(): boolean {
    return this.worker !== null;
  }

  /** `retire`: end the thread as soon as this job is done and no other is queued, rather than keep it warm (its memory goes with it). */
  run<T>(data: unknown, options: { retire?: boolean } = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, data, retire: options.retire === true, resolve: resolve as (r: unknown) => void, reject });
      this.next();
    });
  }

  private next(): void {
    if (this.current !== null) return;
    const job = this.queue.shift();
    if (job === undefined) {
      this.worker?.unref(); // an idle worker never keeps the process alive (the CLI exits when done)
      clearTimeout(this.idleTimer);
      if (this.retireNext) this.retire();
      else this.idleTimer = setTimeout(() => this.retire(), this.idleMs).unref();
      return;
    }
    clearTimeout(this.idleTimer);
    this.current = job;
    this.retireNext = job.retire;
    const worker = this.worker ?? this.start();
    worker.ref();
    worker.postMessage({ id: job.id, data: job.data });
  }

  private start(): WorkerType {
    const module = this.module;
    const worker = startThread(module);
    worker.on('message', (reply: Reply) => {
      const job = this.current;
      if (job === null || reply.id !== job.id) return;
      this.current = null;
      if (reply.ok) job.resolve(reply.result);
      else job.reject(new Error(reply.error));
      this.next();
    });
    // A worker that crashes fails its job; the next job starts a new one.
    const lost = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = null;
      const job = this.current;
      this.current = null;
      job?.reject(err);
      this.next();
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`worker ${module.pathname} exited with code ${code} during a job`)));
    this.worker = worker;
    return worker;
  }

  private retire(): void {
    const worker = this.worker;
    if (worker === null || this.current !== null) return;
    this.worker = null;
    void worker.terminate();
  }
}

/** Starts `module` in a worker thread; TypeScript sources (under tsx or vitest) get tsx registered first. */
export function startThread(module: URL, workerData?: unknown): WorkerType {
  return module.pathname.endsWith('.ts')
    ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(module.href)}); })`, { eval: true, workerData })
    : new Worker(module, { workerData });
}

/** In the worker: answer each job with `handler`'s result, or with its error's message. */
export function serveJobs(handler: (data: never) => unknown): void {
  yieldToQueryThread();
  const collect = fullGc();
  parentPort!.on('message', async ({ id, data }: { id: number; data: never }) => {
    try {
      parentPort!.postMessage({ id, ok: true, result: await handler(data) } satisfies Reply);
    } catch (err) {
      parentPort!.postMessage({ id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies Reply);
    }
    // A job leaves ~100 MB of garbage per million names (file text, strings, the builder's arrays): give it
    // back now, in this thread's heap, rather than keep it until the worker retires. The query thread is not paused.
    collect();
  });
}

/** The URL of a sibling module of `base` (an import.meta.url), with the same extension (.ts from sources, .js from dist). */
export function siblingModule(base: string, name: string): URL {
  return new URL(`./${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}

/**
 * Lowers this thread's scheduling priority: where the daemon has one core (a
 * small VM, a container with a CPU limit, a pinned process), a compile then
 * takes about a tenth of the CPU from a busy query thread instead of half.
 * Nice 10 rather than 19: at 19 a compile on a machine busy with other
 * processes got under 1% of a core and a 300k-name reload took 30 s.
 * Linux only: setpriority() on a thread id affects that thread alone, and
 * /proc/thread-self names it. Elsewhere the worker keeps normal priority.
 */
function yieldToQueryThread(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, WORKER_NICE);
  } catch {
    // not Linux, or not allowed: the worker still runs off the query thread
  }
}

let gc: (() => void) | undefined;

/** A full collection of this thread's heap only (each worker is its own isolate): for job threads, between the phases of a big job. */
export function fullGc(): () => void {
  if (gc === undefined) {
    // The documented --expose-gc, turned on from inside so that no launcher has to pass it.
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  return gc;
}
