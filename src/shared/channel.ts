// The message channel between the control plane and a worker thread's data
// plane: what each side may say (query events go through a shared ring,
// src/data/events.ts, not messages). Everything here is structured-cloneable;
// SharedArrayBuffers inside (the matcher, the verdict tables) are shared.

import type { HostPort } from '../net/address.js';
import type { FilterSpec, GroupTable } from './filter.js';
import type { CacheMemory, ClientCountsMemory } from './plane-memory.js';
import type { PlaneAddresses, PlaneStats } from './plane-stats.js';
import type { ServingConfig } from './serving-config.js';
import type { PassedSocket } from './sockets.js';

/** What a worker is started with (its workerData). */
export interface WorkerStart {
  index: number;
  config: ServingConfig;
  /** The addresses to bind; for every worker after the first, with the ports the first was given (the config may say 0). */
  listen: HostPort[];
  filter: FilterSpec;
  /** Each group's verdict table and lifts. */
  tables: GroupTable[];
  share: number;
  /** The answer cache all workers share. */
  cache: CacheMemory;
  /** Each client's connections, counted over all workers. */
  clients: ClientCountsMemory;
  /** The ring this worker writes its query events into (src/data/events.ts). */
  events: SharedArrayBuffer;
  watchTls: boolean;
  logLevel: string;
  /** Sockets the service manager passed, and which this worker adopts (socket activation); empty otherwise. */
  passed: PassedSocket[];
}

/** Control plane to worker. */
export type ToWorker =
  | { kind: 'filter'; filter: FilterSpec; tables: GroupTable[] }
  /** New verdict tables for the filter of that generation (pause, exception, schedule). */
  | { kind: 'verdicts'; generation: number; tables: GroupTable[] }
  /** `cache`: a new shared cache (its limits changed). */
  | { kind: 'configure'; config: ServingConfig; cache?: CacheMemory }
  | { kind: 'stats'; id: number }
  /** Stop reading, drain, close; a worker that shares passed sockets then waits for 'exit' (see src/data/worker.ts). */
  | { kind: 'stop'; drainMs: number }
  | { kind: 'exit' };

/** Worker to control plane. */
export type FromWorker =
  | { kind: 'started'; addresses: PlaneAddresses }
  | { kind: 'failed'; error: string; code?: string }
  | { kind: 'stats'; id: number; stats: PlaneStats }
  /** A pino line the worker logged. */
  | { kind: 'log'; line: string }
  | { kind: 'stopped' };
