// Who is asking: REFUSED for clients outside `access.clients` and every
// group's prefixes (never an open resolver), otherwise the group with the
// most specific prefix that matches, `default` (index 0) for the rest. A
// device id (DoH `/dns-query/ID`, DoT SNI `ID.NAME`) that a group lists
// wins over the address; it names, it does not open the door: the address
// still decides access.

import { type Cidr, addressBytes, cidrContains } from '../net/address.js';

export const REFUSED = -1;
const MEMO_LIMIT = 65536;

export class ClientClassifier {
  // An office has a bounded set of client addresses: remember each answer so
  // the hot path is one Map lookup on the address string Node already made.
  private readonly memo = new Map<string, number>();
  private readonly prefixes: { cidr: Cidr; group: number }[];
  /** Group index by device id. */
  private readonly devices = new Map<string, number>();

  constructor(
    private readonly access: readonly Cidr[],
    /** Each group's client prefixes, by group index. */
    groups: readonly (readonly Cidr[])[],
    /** Each group's device ids, by group index. */
    devices: readonly (readonly string[])[] = [],
  ) {
    this.prefixes = groups.flatMap((clients, group) => clients.map((cidr) => ({ cidr, group })));
    devices.forEach((ids, group) => ids.forEach((id) => this.devices.set(id, group)));
  }

  /** The group that lists this device id, or REFUSED when none does (the address's group then decides). */
  device(id: string): number {
    return this.devices.get(id) ?? REFUSED;
  }

  /** The client's group index, or REFUSED. */
  classify(address: string): number {
    let group = this.memo.get(address);
    if (group === undefined) {
      group = this.lookup(address);
      if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
      this.memo.set(address, group);
    }
    return group;
  }

  private lookup(address: string): number {
    const bytes = addressBytes(address);
    if (bytes === null) return REFUSED;
    let best = this.access.some((cidr) => cidrContains(cidr, bytes)) ? 0 : REFUSED;
    let bestBits = -1;
    for (const { cidr, group } of this.prefixes) {
      if (cidr.bits > bestBits && cidrContains(cidr, bytes)) {
        best = group;
        bestBits = cidr.bits;
      }
    }
    return best;
  }
}
