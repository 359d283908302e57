// Who a client address is: a static name (`identity.hosts`), else the host
// name of the DHCP lease in force at the query's time (`identity.leases`),
// else the PTR name its reverse zone gives (`identity.reverse`, asked in the
// background and cached). Read on the control thread, where query events
// become log lines, rows and reports: the query path never looks here.
// Every name is in presentation form (src/wire/presentation.ts) from the
// moment it is read, so it is printable ASCII and bounded everywhere.

import { canonicalAddress } from '../../net/address.js';
import type { IdentityConfig } from '../config/identity.js';
import type { Logger } from '../../shared/logger.js';
import { hostNameText } from '../../wire/presentation.js';
import { LeaseFile, sameHost } from './lease-file.js';
import { ReverseNames } from './reverse.js';

/** Where a name came from, as `check` and the console say it. */
export type NameSource = 'hosts' | 'lease' | 'ptr';

export interface IdentityOptions {
  /** Re-read lease files when they change (the daemon; not `check --offline`). */
  watch: boolean;
  /** Ask identity.reverse for PTR names (the daemon only). */
  reverse: boolean;
  clock?: () => number;
}

export class Identity {
  private readonly hosts: Map<string, string>;
  readonly files: LeaseFile[];
  readonly reverse: ReverseNames | null;

  private constructor(
    config: IdentityConfig,
    log: Logger,
    options: IdentityOptions,
  ) {
    const clock = options.clock ?? Date.now;
    this.hosts = new Map(config.hosts.map((h) => [h.address, hostNameText(Buffer.from(h.name, 'utf8'))]));
    this.files = config.leases.map((source) => new LeaseFile(source, log, clock));
    this.reverse = options.reverse && config.reverse !== null ? new ReverseNames(config.reverse, log, {}, clock) : null;
  }

  /** Reads every lease file once (then watches them, with `watch`). */
  static async start(config: IdentityConfig, log: Logger, options: IdentityOptions): Promise<Identity> {
    const identity = new Identity(config, log, options);
    await Promise.all(identity.files.map((f) => f.start(options.watch)));
    return identity;
  }

  /** No names configured at all: nothing to look up. */
  get empty(): boolean {
    return this.hosts.size === 0 && this.files.length === 0 && this.reverse === null;
  }

  /**
   * The client's name at `time`, '' when none is known (yet: a PTR name is
   * asked for the next time); null when a lease file changed at or before
   * `time` and has not been read since: the lease may have passed to
   * someone else, so the caller asks again shortly (the query log holds the
   * line) rather than name the previous holder.
   */
  nameAt(address: string, time: number): string | null {
    // Keys are canonical; a client's address nearly always is already (the kernel wrote it).
    const key = canonical(address);
    const fixed = this.hosts.get(key);
    if (fixed !== undefined) return fixed;
    for (const f of this.files) {
      const changed = f.changedSince;
      if (changed !== 0 && changed <= time) return null;
    }
    return this.leased(key, time) ?? this.reverse?.nameOf(key) ?? '';
  }

  private leased(address: string, time: number): string | undefined {
    for (const f of this.files) {
      const name = f.nameAt(address, time);
      if (name) return name;
    }
    return undefined;
  }

  /**
   * The addresses a host name stands for at `time` (the static names, then
   * the leases in force, newest first): what `check --client NAME` decides
   * for. PTR names are not searched (a reverse zone answers by address only).
   */
  addressesOf(name: string, time: number): { address: string; source: NameSource }[] {
    const out: { address: string; source: NameSource }[] = [];
    for (const [address, known] of this.hosts) if (sameHost(known, name)) out.push({ address, source: 'hosts' });
    for (const f of this.files) for (const a of f.addressesOf(name, time)) out.push({ address: a.address, source: 'lease' });
    return out;
  }

  close(): void {
    for (const f of this.files) f.close();
    this.reverse?.close();
  }
}

/** `::ffff:10.0.0.5` as `10.0.0.5`, IPv6 compressed and lower-cased: how leases and `hosts` are keyed. An IPv4 address is returned as it is. */
function canonical(address: string): string {
  if (!address.includes(':')) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] : canonicalAddress(address);
}
