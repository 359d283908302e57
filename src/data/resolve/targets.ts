// CNAME inspection: the names an upstream answer points to (CNAME and DNAME
// targets, SVCB/HTTPS target names) are matched like a query name, so that
// `docs.example.com CNAME chat.deepseek.com` cannot smuggle a blocked
// service through. Matched once per reply and matcher; checked per client.

import type { Matcher } from '../../match/types.js';
import { PASS } from '../../shared/filter.js';
import { expandName } from '../../wire/records.js';

export const NO_TARGETS = new Int32Array(0);
const scratch = new Uint8Array(256);

/** The distinct non-zero mask ids of the names at `offsets` in `msg`. */
export function targetMasks(msg: Uint8Array, offsets: readonly number[], matcher: Matcher): Int32Array {
  if (offsets.length === 0) return NO_TARGETS;
  const masks: number[] = [];
  for (const at of offsets) {
    if (expandName(msg, at, scratch) < 0) continue;
    const mask = matcher.matchWire(scratch, 0);
    if (mask > 0 && !masks.includes(mask)) masks.push(mask);
  }
  return masks.length === 0 ? NO_TARGETS : Int32Array.from(masks);
}

/** The list that blocks one of the targets under these verdicts, or PASS (a lifted block lets the target through). */
export function blockedTarget(masks: Int32Array, verdicts: Int32Array): number {
  for (let i = 0; i < masks.length; i++) {
    const blocker = verdicts[masks[i]];
    if (blocker >= 0) return blocker;
  }
  return PASS;
}
