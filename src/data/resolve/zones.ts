// Conditional forwarding on the query path: the zone table beside the
// default upstream pool. A name goes to the pool of the longest zone that
// is a suffix of it (at a label boundary, any case), else to the default
// pool. The control plane compiled each zone's name to wire form
// (src/control/config/upstream-zones.ts); here a lookup walks the query's
// labels once and compares bytes: no string, no allocation.

import type { UpstreamZone } from '../../shared/serving-config.js';
import type { UpstreamPool } from './upstream.js';

export interface ZoneRoute {
  readonly zone: UpstreamZone;
  readonly pool: UpstreamPool;
  /** The zone's tag as bytes, appended to cache keys. */
  readonly tag: Uint8Array;
}

const MAX_WIRE_NAME = 255;

export class ZoneTable {
  readonly routes: readonly ZoneRoute[];
  /** Route indices by the zone's wire length: the candidates for a suffix of that length. */
  private readonly byLength = new Map<number, number[]>();
  /** Where each label of the name being routed starts. */
  private readonly starts = new Int32Array(128);

  constructor(zones: readonly UpstreamZone[], poolFor: (zone: UpstreamZone) => UpstreamPool) {
    this.routes = zones.map((zone) => ({ zone, pool: poolFor(zone), tag: Uint8Array.from(zone.tag, (c) => c.charCodeAt(0)) }));
    this.routes.forEach((r, i) => {
      const list = this.byLength.get(r.zone.wire.length) ?? [];
      list.push(i);
      this.byLength.set(r.zone.wire.length, list);
    });
  }

  /** The route of the wire name at `offset` in `msg`: the longest zone it is in, or -1 (the default pool; also for a malformed name). */
  find(msg: Uint8Array, offset: number): number {
    const starts = this.starts;
    let labels = 0;
    let p = offset;
    for (;;) {
      if (p >= msg.length) return -1;
      const len = msg[p];
      if (len === 0) break;
      if (len > 63) return -1;
      starts[labels++] = p;
      p += len + 1;
      if (p - offset >= MAX_WIRE_NAME) return -1;
    }
    const end = p + 1; // past the root label
    // From the whole name down to its last label: the first zone that matches is the longest.
    for (let i = 0; i < labels; i++) {
      const candidates = this.byLength.get(end - starts[i]);
      if (candidates === undefined) continue;
      for (let k = 0; k < candidates.length; k++) {
        if (sameName(msg, starts[i], this.routes[candidates[k]].zone.wire)) return candidates[k];
      }
    }
    return -1;
  }

  close(): void {
    for (const r of this.routes) r.pool.close();
  }
}

/** Do the bytes at `at` equal `wire` (lower case), ASCII letters compared in any case? Lengths are known to match. */
function sameName(msg: Uint8Array, at: number, wire: Uint8Array): boolean {
  for (let i = 0; i < wire.length; i++) {
    let c = msg[at + i];
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== wire[i]) return false;
  }
  return true;
}
