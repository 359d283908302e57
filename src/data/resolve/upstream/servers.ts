// Upstream servers and their health: a server that times out or refuses is
// skipped for a back-off that doubles up to 30 s, and tried again after it;
// an answer resets it. Which server an attempt goes to is chosen here.

import { performance } from 'node:perf_hooks';
import type { UpstreamAddress } from '../../../shared/serving-config.js';
import { formatHostPort } from '../../../net/address.js';
import type { TlsDialer } from './tls.js';

const BACKOFF_START_MS = 1000;
const BACKOFF_MAX_MS = 30_000;

export class UpstreamServer {
  readonly label: string;
  /** This server's bit in an exchange's tried/failed masks (config allows at most 16 servers). */
  readonly bit: number;
  /** performance.now() until which the server is skipped; 0 when healthy. */
  skipUntil = 0;
  timeouts = 0;
  private backoff = BACKOFF_START_MS;

  /** DoT and DoH: how to open a verified TLS connection to it (set by the pool). */
  dialer: TlsDialer | null = null;

  constructor(
    readonly address: UpstreamAddress,
    readonly index: number,
  ) {
    const scheme = address.encrypted ? (address.encrypted.protocol === 'dot' ? 'tls://' : 'https://') : '';
    this.label = scheme + formatHostPort(address);
    this.bit = 1 << index;
  }

  get healthy(): boolean {
    return this.skipUntil === 0 || this.skipUntil <= performance.now(); // healthy: no clock read
  }

  /** It timed out or refused to serve us: skip it for a while, longer each time in a row. */
  setBack(): void {
    this.skipUntil = performance.now() + this.backoff;
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
  }

  /** It answered: healthy again. */
  answered(): void {
    this.skipUntil = 0;
    this.backoff = BACKOFF_START_MS;
  }
}

/**
 * The server for an exchange's next attempt: the first healthy one in config
 * order that it has not tried, else the first skipped one it has not tried;
 * when it has tried them all, another round among those that did not fail it
 * outright (timeouts only). Null when every server failed it.
 */
export function pickServer(servers: readonly UpstreamServer[], exchange: { tried: number; failed: number }): UpstreamServer | null {
  for (let round = 0; round < 2; round++) {
    let fallback: UpstreamServer | null = null;
    for (const s of servers) {
      if ((exchange.tried | exchange.failed) & s.bit) continue;
      if (s.healthy) return s;
      fallback ??= s;
    }
    if (fallback) return fallback;
    exchange.tried = 0; // every server had its turn: go round again while time is left
  }
  return null;
}
