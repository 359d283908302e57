// Who is asking: REFUSED for clients outside `access.clients` and every
// group's prefixes (never an open resolver), otherwise the group with the
// most specific prefix that matches, `default` (index 0) for the rest.

import { type Cidr, addressBytes, cidrContains } from '../../net/address.js';

export const REFUSED = -1;
const MEMO_LIMIT = 65536;

export class ClientClassifier {
  // An office has a bounded set of client addresses: remember each answer so
  // the hot path is one Map lookup on the address string Node already made.
  private readonly memo = new Map<string, number>();
  private readonly prefixes: { cidr: Cidr; group: number }[];

  constructor(
    private readonly access: readonly Cidr[],
    /** Each group's client prefixes, by group index. */
    groups: readonly (readonly Cidr[])[],
  ) {
    this.prefixes = groups.flatMap((clients, group) => clients.map((cidr) => ({ cidr, group })));
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
