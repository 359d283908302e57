// A lock word in shared memory for work of a few microseconds that threads
// share (the answer cache, the per-client connection counts): 0 is free,
// else the holder's id, so that a thread that died holding it can be named
// and the lock taken back.

/** Spins before a waiting thread sleeps a little (the holder may have lost its core). */
const SPINS = 256;

/** Spins (then naps) until `owner` holds the lock at `word[index]`. */
export function spinLock(word: Int32Array, index: number, owner: number): void {
  for (let spins = 0; Atomics.compareExchange(word, index, 0, owner) !== 0; spins++) {
    if (spins >= SPINS) Atomics.wait(word, index, Atomics.load(word, index), 0.1);
  }
}

export function spinUnlock(word: Int32Array, index: number): void {
  Atomics.store(word, index, 0);
}

/** Frees the lock if thread `owner` held it when it died; true when it did. */
export function releaseIfHeldBy(word: Int32Array, index: number, owner: number): boolean {
  return Atomics.compareExchange(word, index, owner, 0) === owner;
}
