// hosts files: `ADDRESS name [name...] [# comment]`.
import { isIP } from 'node:net';
import type { LineParser } from './types.js';
import { atCommentOrEnd, skipBlanks, tokenEnd } from './comments.js';

/** Names every hosts file maps for the machine itself, not blocklist entries. */
const PREAMBLE = new Set([
  'localhost', 'localhost.localdomain', 'local', 'broadcasthost', '0.0.0.0',
  'ip6-localhost', 'ip6-loopback', 'ip6-localnet', 'ip6-mcastprefix',
  'ip6-allnodes', 'ip6-allrouters', 'ip6-allhosts',
]);
const LONGEST_PREAMBLE = 21;

export function isAddress(token: string): boolean {
  const pct = token.indexOf('%'); // fe80::1%lo0: an IPv6 zone id
  return isIP(pct < 0 ? token : token.slice(0, pct)) !== 0;
}

function isPreamble(name: string): boolean {
  if (name.length > LONGEST_PREAMBLE) return false;
  // Every preamble name starts with l, b, i or 0 (in any case): most names are out at the first character.
  const first = name.charCodeAt(0) | 32;
  if (first !== 108 && first !== 98 && first !== 105 && first !== 48) return false;
  // Lower-case only when needed: nearly every name is already lower case.
  return PREAMBLE.has(name) || (/[A-Z]/.test(name) && PREAMBLE.has(name.toLowerCase()));
}

export function createHostsParser(): LineParser {
  return (line, sink) => {
    let at = skipBlanks(line, 0);
    if (atCommentOrEnd(line, at)) return sink.ignore();
    const end = tokenEnd(line, at);
    // The two sink addresses nearly every line uses, compared in place.
    const sinkAddress = end - at === 7 ? line.startsWith('0.0.0.0', at) : end - at === 9 && line.startsWith('127.0.0.1', at);
    if (!sinkAddress && !isAddress(line.slice(at, end))) return sink.reject('hosts line does not start with an IP address');
    at = skipBlanks(line, end);
    if (atCommentOrEnd(line, at)) return sink.reject('hosts line has an address but no name');
    while (!atCommentOrEnd(line, at)) {
      const stop = tokenEnd(line, at);
      const name = line.slice(at, stop);
      if (isPreamble(name)) sink.ignore();
      else sink.entry(name, false, false);
      at = skipBlanks(line, stop);
    }
  };
}
