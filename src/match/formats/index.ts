// One parser per format; `wildcard` lists share the domain parser, which
// reads both `name` and `*.name`.
import type { ListFormat } from '../types.js';
import type { LineParser } from './types.js';
import { createAdblockParser } from './adblock.js';
import { createDnsmasqParser } from './dnsmasq.js';
import { createDomainsParser } from './domains.js';
import { createHostsParser } from './hosts.js';
import { createRpzParser } from './rpz.js';

export { detectFormat } from './detect.js';
export type { LineParser, LineSink } from './types.js';

/** A fresh parser (RPZ keeps $ORIGIN state, so one per list). */
export function createParser(format: ListFormat): LineParser {
  switch (format) {
    case 'hosts': return createHostsParser();
    case 'domains':
    case 'wildcard': return createDomainsParser();
    case 'adblock': return createAdblockParser();
    case 'dnsmasq': return createDnsmasqParser();
    case 'rpz': return createRpzParser();
  }
}
