// Giving memory back after a (re)load. Parsing a million list lines leaves
// ~100 MB of garbage (file buffers, strings, the builder's growing arrays)
// that V8 would free only under pressure, and that glibc keeps in its arena
// unless MALLOC_TRIM_THRESHOLD_ is set (the Dockerfile and `npm start` set
// it). Two full collections right after the swap return it at once: a
// million-name office resolver then stays near 110 MB instead of 210 MB.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

export function releaseLoadGarbage(): void {
  if (gc === undefined) {
    // The documented --expose-gc, turned on from inside so that no launcher has to pass it.
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc(); // frees the garbage
  gc(); // frees the ArrayBuffer backing stores the first pass released
}
