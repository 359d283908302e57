// IP prefixes as admins write them (access.clients, groups.NAME.clients).
// `10.20.1.5/16` parses, but it is a typo for one of two things: the network
// 10.20.0.0/16 or the host 10.20.1.5. Taking the network silently would put
// 65,536 clients in a group meant for one, so it is an error naming both fixes.

import { isIPv4 } from 'node:net';
import { type Cidr, addressBytes, parseCidr } from '../../net/address.js';
import { ConfigError } from './check.js';

/** `example` ends the sentence for a value that is no prefix at all, e.g. "10.0.0.0/8 or fd00::/8". */
export function prefix(path: string, value: unknown, example: string): Cidr {
  const cidr = typeof value === 'string' ? parseCidr(value) : null;
  if (!cidr || typeof value !== 'string') throw new ConfigError(path, value, `is not an IP prefix, e.g. ${example}`);
  const slash = value.indexOf('/');
  if (slash < 0) return cidr;
  const address = value.slice(0, slash);
  const written = addressBytes(address)!;
  if (written.every((b, i) => b === cidr.bytes[i])) return cidr;
  const network = `${formatAddress(cidr.bytes, isIPv4(address))}/${value.slice(slash + 1)}`;
  throw new ConfigError(path, value, `has host bits set; write "${network}" for the whole network, or "${address}" for this one address`);
}

/** 16 address bytes (IPv4 mapped) as text; IPv6 with the longest run of zero groups shortened to "::". */
function formatAddress(bytes: Uint8Array, v4: boolean): string {
  if (v4) return Array.from(bytes.subarray(12)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[i * 2] << 8) | bytes[i * 2 + 1]).toString(16));
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}
