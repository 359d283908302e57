// One cache's lock: the first Int32 of its shared state, holding the id of
// the thread in it (0: free), so the control plane can take it back from a
// worker that died holding it. Each lookup, store and clear holds it for a
// few microseconds; a hit is copied out of the slab under it, so the answer
// is built after the lock is released from bytes no other thread can change.

import { releaseIfHeldBy, spinLock, spinUnlock } from '../../../shared/spin-lock.js';

export class CacheLock {
  private readonly word: Int32Array;

  constructor(
    state: SharedArrayBuffer,
    /** This thread's id (1 and up, distinct per thread). */
    private readonly owner: number,
  ) {
    this.word = new Int32Array(state, 0, 1);
  }

  /** Spins (then naps) until this thread holds the lock. */
  lock(): void {
    spinLock(this.word, 0, this.owner);
  }

  unlock(): void {
    spinUnlock(this.word, 0);
  }

  /** Frees the lock if thread `owner` held it when it died. */
  releaseIfHeldBy(owner: number): boolean {
    return releaseIfHeldBy(this.word, 0, owner);
  }
}
