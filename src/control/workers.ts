// The control plane's handle on one worker thread's data plane: starts it,
// posts it filters, verdict tables and config, asks for its counters, reads
// its query events from their shared ring every 10 ms, relays its log lines,
// and stops it. A worker that dies is started again with the same addresses
// and the current filter: the kernel meanwhile spreads its clients over the
// others (its sockets closed with it).

import type { AddressInfo } from 'node:net';
import type { Worker } from 'node:worker_threads';
import pino from 'pino';
import { type PlaneAddresses, type PlaneStats, noPlaneStats } from '../shared/plane-stats.js';
import { DRAIN_MS, EventReader, eventRing } from '../data/events.js';
import { ListenError } from '../shared/listen-error.js';
import type { FromWorker, ToWorker, WorkerStart as WorkerStartWithRing } from '../shared/channel.js';
import type { QueryObserver } from '../shared/events.js';
import type { Logger } from '../shared/logger.js';
import type { HostPort } from '../net/address.js';
import { startThread } from '../thread/run.js';

/** What a worker starts with, but its event ring: each start (and restart) gets a new one here. */
type WorkerStart = Omit<WorkerStartWithRing, 'events'>;

/** The worker entry: .ts from sources (tests, tsx), .js from dist. */
const WORKER_MODULE = new URL(`../data/worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
/** How long a stats request waits before the last answer stands in. */
const STATS_TIMEOUT_MS = 2000;
/** How long a stopping worker may take beyond its drain time before it is terminated. */
const STOP_GRACE_MS = 2000;
/** A worker that keeps dying is not restarted more often than this. */
const RESTART_DELAY_MS = 1000;

export interface WorkerHooks {
  log: Logger;
  /** Observers of every answered query (metrics, query log, console), on this thread. */
  observers: QueryObserver;
  /** The filter, tables and cache to start (or restart) with: the current ones. */
  current: () => Pick<WorkerStart, 'filter' | 'tables' | 'cache'>;
  /** Told when a worker thread has ended, whatever the reason. */
  exited: (index: number) => void;
  /**
   * A worker that served passed sockets died: its end closed their
   * descriptors, which every thread shares, so the process cannot go on
   * serving them (src/control/activation.ts). Told instead of a restart.
   */
  lostPassedSockets: (index: number) => void;
}

export class WorkerPlane {
  private worker!: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, (stats: PlaneStats) => void>();
  private lastStats: PlaneStats | null = null;
  private stopping = false;
  /** The thread is running (false between a death and its restart). */
  private alive = false;
  /** Resolves the stop in progress when the worker says it has drained. */
  private stopped: (() => void) | null = null;
  /** The current thread's event ring: a restarted worker gets a new one (its string table starts afresh). */
  private events!: EventReader;
  private drainTimer: NodeJS.Timeout | undefined;
  /** Events dropped by threads that have ended (their rings are gone). */
  private droppedBefore = 0;
  addresses!: PlaneAddresses;

  private constructor(
    private readonly start: WorkerStart,
    private readonly hooks: WorkerHooks,
  ) {}

  /** Starts the worker and waits until it listens; a listener that cannot open rejects, naming it. */
  static async start(start: WorkerStart, hooks: WorkerHooks): Promise<WorkerPlane> {
    const plane = new WorkerPlane(start, hooks);
    await plane.spawn(start);
    return plane;
  }

  private spawn(start: WorkerStart): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const ring = eventRing();
      const worker = startThread(WORKER_MODULE, { ...start, events: ring });
      if (this.events) this.droppedBefore += this.events.dropped;
      this.events = new EventReader(ring, start.index, this.hooks.observers);
      clearInterval(this.drainTimer);
      this.drainTimer = setInterval(() => this.drain(), DRAIN_MS).unref();
      this.worker = worker;
      this.alive = true;
      let started = false;
      worker.on('message', (m: FromWorker) => {
        switch (m.kind) {
          case 'started':
            started = true;
            this.addresses = m.addresses;
            return resolve();
          case 'failed':
            return reject(m.code ? new ListenError(m.error, m.code) : new Error(m.error));
          case 'stopped':
            return this.stopped?.();
          default:
            return this.heard(m);
        }
      });
      worker.on('error', (err) => {
        if (!started) reject(err);
        else this.hooks.log.error({ worker: start.index, err: err.message }, 'worker thread failed');
      });
      worker.on('exit', (code) => {
        if (this.worker === worker) this.alive = false;
        this.hooks.exited(start.index);
        this.drain(); // what it answered before it ended still counts
        for (const answer of this.waiting.values()) answer(this.lastStats ?? noPlaneStats());
        this.waiting.clear();
        if (!started) return reject(new Error(`worker ${start.index} exited with code ${code} while starting`));
        if (this.stopping || this.worker !== worker) return;
        if (start.passed.some((s) => s.adopt)) return this.hooks.lostPassedSockets(start.index);
        this.hooks.log.error({ worker: start.index, code }, 'worker thread exited; starting it again');
        setTimeout(() => void this.respawn(), RESTART_DELAY_MS).unref();
      });
    });
  }

  private async respawn(): Promise<void> {
    if (this.stopping) return;
    try {
      // The same addresses, the filter in force now.
      await this.spawn({ ...boundTo(this.start, this.addresses), ...this.hooks.current() });
      this.hooks.log.info({ worker: this.start.index }, 'worker thread serving again');
    } catch (err) {
      this.hooks.log.error({ worker: this.start.index, err: (err as Error).message }, 'worker thread did not start again; retrying');
      setTimeout(() => void this.respawn(), RESTART_DELAY_MS).unref();
    }
  }

  private heard(m: FromWorker): void {
    switch (m.kind) {
      case 'stats': {
        // The worker wrote every event these counters count before it sent them.
        this.drain();
        this.lastStats = m.stats;
        const answer = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        return answer?.(m.stats);
      }
      case 'log':
        return relayLog(this.hooks.log, m.line, this.start.index);
      default:
        return;
    }
  }

  /** Hands the events the worker wrote since the last drain to the observers. */
  private drain(): void {
    try {
      this.events.drain();
    } catch (err) {
      this.hooks.log.error({ worker: this.start.index, err: (err as Error).message }, 'reading query events failed');
    }
  }

  /** Events the worker could not hand over because the control thread fell behind (the ring was full). */
  get droppedEvents(): number {
    return this.droppedBefore + this.events.dropped;
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  setFilter(filter: WorkerStart['filter'], tables: WorkerStart['tables']): void {
    this.post({ kind: 'filter', filter, tables });
  }

  setVerdicts(generation: number, tables: WorkerStart['tables']): void {
    this.post({ kind: 'verdicts', generation, tables });
  }

  configure(config: WorkerStart['config'], cache?: WorkerStart['cache']): void {
    this.post({ kind: 'configure', config, cache });
  }

  /** The worker's counters now; the last known ones if it does not answer within 2 s (busy, or restarting). */
  stats(): Promise<PlaneStats> {
    const id = this.nextId++;
    return new Promise<PlaneStats>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(this.lastStats ?? noPlaneStats());
      }, STATS_TIMEOUT_MS).unref();
      this.waiting.set(id, (stats) => {
        clearTimeout(timer);
        resolve(stats);
      });
      this.post({ kind: 'stats', id });
    });
  }

  /** The counters last heard, without asking. */
  get known(): PlaneStats | null {
    return this.lastStats;
  }

  /** Drains and closes the worker's listeners; terminates it if it takes longer than drainMs and a grace. */
  async stop(drainMs: number): Promise<void> {
    this.stopping = true;
    const worker = this.worker;
    // A thread that died and waits for its restart has nothing to stop (its exit will not come again).
    if (this.alive) {
      const done = new Promise<void>((resolve) => {
        this.stopped = resolve;
        worker.once('exit', () => resolve());
      });
      this.post({ kind: 'stop', drainMs });
      const deadline = setTimeout(() => void worker.terminate(), drainMs + STOP_GRACE_MS);
      await done;
      clearTimeout(deadline);
    }
    clearInterval(this.drainTimer);
    this.drain();
  }

  /** Once every worker has stopped: lets this one end (one that shares passed sockets waits for this) and waits until it has. */
  async end(): Promise<void> {
    if (!this.alive) return;
    const worker = this.worker;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    this.post({ kind: 'exit' });
    const deadline = setTimeout(() => void worker.terminate(), STOP_GRACE_MS);
    await exited;
    clearTimeout(deadline);
  }
}

/** `start` with the addresses a worker was given instead of the configured ones (which may say port 0): for the other workers, and restarts. */
export function boundTo(start: WorkerStart, bound: PlaneAddresses): WorkerStart {
  const config = { ...start.config, listenTls: bound.tls.map(hostPort), listenHttps: bound.https.map(hostPort), listenHttp: bound.http.map(hostPort) };
  return { ...start, config, listen: bound.udp.map(hostPort) };
}

const hostPort = (a: AddressInfo): HostPort => ({ host: a.address, port: a.port, family: a.family === 'IPv6' ? 6 : 4 });

/** A worker's pino line, logged again by the control thread's logger with the worker's index. */
function relayLog(log: Logger, line: string, worker: number): void {
  try {
    const { level, msg, time: _time, ...fields } = JSON.parse(line) as { level: number; msg?: string; time?: number };
    const method = (pino.levels.labels[level] ?? 'info') as 'info';
    log[method]({ ...fields, worker }, msg ?? '');
  } catch {
    log.info({ worker }, line.trim());
  }
}
