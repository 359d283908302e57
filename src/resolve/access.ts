// Who may use this resolver at all: never an open resolver. Clients outside
// the configured prefixes get REFUSED.

import { type Cidr, addressBytes, cidrContains } from '../net/address.js';

const MEMO_LIMIT = 65536;

export class AccessControl {
  // An office has a bounded set of client addresses: remember each verdict
  // so the hot path is one Map lookup on the address string Node already made.
  private readonly memo = new Map<string, boolean>();

  constructor(private readonly clients: readonly Cidr[]) {}

  allows(address: string): boolean {
    let allowed = this.memo.get(address);
    if (allowed === undefined) {
      const bytes = addressBytes(address);
      allowed = bytes !== null && this.clients.some((cidr) => cidrContains(cidr, bytes));
      if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
      this.memo.set(address, allowed);
    }
    return allowed;
  }
}
