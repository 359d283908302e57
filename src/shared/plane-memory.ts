// The shared memory every data plane of a process attaches to, as it travels
// from the thread that made it to each worker (src/shared/channel.ts): the
// answer cache's (src/data/resolve/cache.ts) and the client connection
// counts' (src/data/listen/client-counts.ts). Only their shape is here; the
// data plane owns the layout inside.

/** The answer cache's limits, as a thread attaching to it needs them. */
export interface CacheLimits {
  maxEntries: number;
  /** Bytes of answers (with their keys and bookkeeping) kept at most: the slab's size. */
  maxSize: number;
  minTtl: number;
  maxTtl: number;
  /** Expired answers are kept this long (seconds) to be served stale; null: never. */
  serveStale: { maxStale: number } | null;
}

/** A cache's shared memory and limits: what a worker thread attaches to. */
export interface CacheMemory {
  options: CacheLimits;
  slab: SharedArrayBuffer;
  slots: SharedArrayBuffer;
  hashes: SharedArrayBuffer;
  /** The lock word and the ring's counters. */
  state: SharedArrayBuffer;
}

/** Shared memory of the client connection counts: one per process, handed to every worker. */
export type ClientCountsMemory = SharedArrayBuffer;
