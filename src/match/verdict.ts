// The simplest policy, for tests and the CLI's plain `check`: a name is
// blocked when some list blocks it and no list allows it. Real policy
// (per group, per list) lives in src/policy and uses blocks()/allows() itself.
import type { Matcher } from './types.js';

/** verdicts[maskId] === 1 when that mask means "blocked". */
export function anyBlockNoAllow(matcher: Matcher): Uint8Array {
  const verdicts = new Uint8Array(matcher.maskCount);
  for (let m = 0; m < matcher.maskCount; m++) {
    let blocked = false;
    for (let l = 0; l < matcher.lists.length; l++) {
      if (matcher.allows(m, l)) {
        blocked = false;
        break;
      }
      if (matcher.blocks(m, l)) blocked = true;
    }
    verdicts[m] = blocked ? 1 : 0;
  }
  return verdicts;
}
