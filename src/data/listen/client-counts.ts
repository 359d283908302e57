// What one client holds of the connection listeners, counted for the whole
// process: open connections (TCP, DoT and DoH together, against
// tcp.maxPerClient), and DoH requests in flight that a trusted reverse proxy
// forwarded for it. A client is an IPv4 address or an IPv6 /56, as for the
// rate limiter (src/net/client-key.ts).
//
// With `workers: N` the kernel hands a client's connections to whichever
// worker its source port hashes to, so the counts live in shared memory and
// a cap holds over all workers. (Splitting the cap, maxPerClient / N per
// worker, would refuse a client far below its cap whenever its connections
// happen to land together.) Counting is exact: a hash table of the clients
// holding something (open addressing under a spin lock, a few microseconds
// per connection accepted or closed), each entry with one count per worker,
// so that the control thread can take back what a worker that died held
// (its connections died with it). The table has a fixed size, twice the
// clients that can hold something at once: 2 × tcp.maxConnections.

import { clientKey, mixKey } from '../../net/client-key.js';
import { readAddress } from '../../net/read-address.js';
import type { ClientCountsMemory } from '../../shared/plane-memory.js';
import { releaseIfHeldBy, spinLock, spinUnlock } from '../../shared/spin-lock.js';

/** What is counted: each per client, separately. */
export const Counted = { Connections: 0, Forwarded: 1 } as const;
export type Counted = (typeof Counted)[keyof typeof Counted];

/** Int32 header: the lock word, the number of workers, the capacity, the hash seed, the entries in use. */
const H_LOCK = 0;
const H_WORKERS = 1;
const H_CAPACITY = 2;
const H_SEED = 3;
const H_USED = 4;
const HEADER = 8;
/** An entry: the client key's two words (word 1 is never 0 in use: 0 marks an empty slot), then a count per worker. */
const KEYS = 2;


/** Memory for `workers` threads and up to `clients` clients holding something at once. */
export function clientCountsMemory(workers: number, clients: number): ClientCountsMemory {
  let capacity = 64;
  while (capacity < clients * 2) capacity *= 2;
  const memory = new SharedArrayBuffer((HEADER + capacity * (KEYS + workers)) * 4);
  const header = new Int32Array(memory, 0, HEADER);
  header[H_WORKERS] = workers;
  header[H_CAPACITY] = capacity;
  header[H_SEED] = (Math.random() * 0x7fff_ffff) | 0;
  return memory;
}

/** A taken count, for `release`. */
export interface ClientTicket {
  readonly k0: number;
  readonly k1: number;
}

export class ClientCounts {
  private readonly table: Int32Array;
  private readonly workers: number;
  private readonly capacity: number;
  private readonly stride: number;
  private readonly seed: number;
  /** This thread's id in the lock word. */
  private readonly owner: number;
  private readonly bytes = new Uint8Array(16);
  private readonly key = new Uint32Array(2);

  /**
   * The counts in `memory` as worker `worker` adds to them (absent: a table
   * of this thread's own, for `clients` clients); the control thread is
   * worker -1.
   */
  constructor(memory?: ClientCountsMemory, readonly worker = 0, clients = 1024) {
    this.table = new Int32Array(memory ?? clientCountsMemory(1, clients));
    this.workers = this.table[H_WORKERS];
    this.capacity = this.table[H_CAPACITY];
    this.stride = KEYS + this.workers;
    this.seed = this.table[H_SEED];
    this.owner = worker + 2;
  }

  /**
   * Counts one more of `what` for the client at `address`, unless it holds
   * `limit` already (or the table is full): a ticket for `release`, or null
   * (refused; also for an address that is not one).
   */
  take(what: Counted, address: string, limit: number): ClientTicket | null {
    if (!readAddress(address, this.bytes)) return null;
    clientKey(this.bytes, this.key);
    const k0 = this.key[0] | 0;
    const k1 = (this.key[1] | (what << 4)) | 0; // the tag's byte also says what is counted
    const t = this.table;
    spinLock(t, H_LOCK, this.owner);
    try {
      let at = this.find(k0, k1);
      if (at < 0) {
        if (t[H_USED] * 2 >= this.capacity || limit < 1) return null;
        at = this.emptyFor(k0, k1);
        t[at] = k0;
        t[at + 1] = k1;
        t[H_USED]++;
      } else if (this.total(at) >= limit) {
        return null;
      }
      t[at + KEYS + this.worker]++;
      return { k0, k1 };
    } finally {
      spinUnlock(t, H_LOCK);
    }
  }

  /** Gives back what `take` counted (nothing for null). */
  release(ticket: ClientTicket | null): void {
    if (ticket === null) return;
    const t = this.table;
    spinLock(t, H_LOCK, this.owner);
    try {
      const at = this.find(ticket.k0, ticket.k1);
      if (at < 0) return; // taken back with a dead worker's counts
      const own = at + KEYS + this.worker;
      if (t[own] > 0) t[own]--;
      if (this.total(at) === 0) this.remove(at);
    } finally {
      spinUnlock(t, H_LOCK);
    }
  }

  /** Clients holding something now. */
  get clients(): number {
    return Atomics.load(this.table, H_USED);
  }

  /**
   * Takes back every count of `worker`, which died (the control thread
   * calls this). It may have died holding the lock, even in the middle of a
   * change: the table is rebuilt from its entries.
   */
  forgetWorker(worker: number): void {
    const t = this.table;
    releaseIfHeldBy(t, H_LOCK, worker + 2);
    spinLock(t, H_LOCK, this.owner);
    try {
      const kept: Int32Array[] = [];
      const seen = new Set<string>();
      for (let at = HEADER; at < HEADER + this.capacity * this.stride; at += this.stride) {
        if (t[at + 1] === 0) continue;
        t[at + KEYS + worker] = 0;
        const id = `${t[at]}/${t[at + 1]}`;
        if (this.total(at) > 0 && !seen.has(id)) {
          seen.add(id);
          kept.push(t.slice(at, at + this.stride));
        }
      }
      t.fill(0, HEADER);
      t[H_USED] = 0;
      for (const entry of kept) {
        t.set(entry, this.emptyFor(entry[0], entry[1]));
        t[H_USED]++;
      }
    } finally {
      spinUnlock(t, H_LOCK);
    }
  }

  private home(k0: number, k1: number): number {
    return mixKey(k0, k1, this.seed) & (this.capacity - 1);
  }

  private slot(i: number): number {
    return HEADER + i * this.stride;
  }

  /** The entry holding the key, or -1. */
  private find(k0: number, k1: number): number {
    const t = this.table;
    for (let i = this.home(k0, k1); ; i = (i + 1) & (this.capacity - 1)) {
      const at = this.slot(i);
      if (t[at + 1] === 0) return -1;
      if (t[at] === k0 && t[at + 1] === k1) return at;
    }
  }

  /** The first empty slot on the key's probe run (the table is never over half full). */
  private emptyFor(k0: number, k1: number): number {
    const t = this.table;
    for (let i = this.home(k0, k1); ; i = (i + 1) & (this.capacity - 1)) {
      const at = this.slot(i);
      if (t[at + 1] === 0) return at;
    }
  }

  private total(at: number): number {
    let n = 0;
    for (let w = 0; w < this.workers; w++) n += this.table[at + KEYS + w];
    return n;
  }

  /** Empties the entry at `at`, moving later entries of the run back so that every key stays reachable from its home. */
  private remove(at: number): void {
    const t = this.table;
    const mask = this.capacity - 1;
    let hole = (at - HEADER) / this.stride;
    t.fill(0, at, at + this.stride);
    t[H_USED]--;
    for (let i = (hole + 1) & mask; ; i = (i + 1) & mask) {
      const from = this.slot(i);
      if (t[from + 1] === 0) return;
      const home = this.home(t[from], t[from + 1]);
      // The entry at i may fill the hole if its home is not in (hole, i] (cyclically).
      const stays = hole <= i ? home > hole && home <= i : home > hole || home <= i;
      if (stays) continue;
      const to = this.slot(hole);
      t.copyWithin(to, from, from + this.stride);
      t.fill(0, from, from + this.stride);
      hole = i;
    }
  }
}
