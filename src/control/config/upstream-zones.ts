// `upstream.zones`: conditional forwarding. Names in a zone (and below it)
// go to that zone's servers, everything else to `upstream.servers`; the
// longest zone that is a suffix of the name wins, as in dnsmasq
// (`server=/corp.example/10.0.0.1`), unbound (`forward-zone`) and Blocky
// (`conditional`). For Active Directory domains, reverse zones
// (`10.in-addr.arpa`) and split horizon. Compiled here into what the data
// plane matches on: each zone's name in wire form, and a tag that keeps its
// cache entries apart from any other routing of the same names.

import { createHash } from 'node:crypto';
import { normalizeName } from '../../match/name.js';
import { ConfigError, boolean, isPlainObject, join, object } from './check.js';
import type { UpstreamZone } from '../../shared/serving-config.js';
import { upstreamServers } from './upstream-servers.js';

/** Zones in one config; each is a suffix compare per query, so a bound keeps that cheap. */
export const MAX_ZONES = 256;
/** As upstream.servers: the pool tracks the servers a query tried in a 16-bit mask. */
const MAX_SERVERS = 16;

/** `{ "corp.example": [ADDR, …], "10.in-addr.arpa": { servers: [ADDR, …], cnameInspection: true } }`. */
export function zonesSection(value: unknown): UpstreamZone[] {
  if (value === undefined || value === null) return [];
  if (!isPlainObject(value)) throw new ConfigError('upstream.zones', value, 'is not a mapping of zone names to servers, e.g. { "corp.example": ["10.0.0.1", "10.0.0.2"] }');
  const entries = Object.entries(value);
  if (entries.length > MAX_ZONES) throw new ConfigError('upstream.zones', `${entries.length} zones`, `is more than ${MAX_ZONES}; forward a parent zone instead of many children`);
  const seen = new Map<string, string>();
  return entries.map(([written, body]) => {
    const path = join('upstream.zones', written);
    const name = normalizeName(written);
    if (typeof name !== 'string' || name === '') {
      throw new ConfigError(path, written, `is not a zone name (${typeof name === 'string' ? 'empty' : name.reason}); write it as a domain, e.g. corp.example or 10.in-addr.arpa`);
    }
    const other = seen.get(name);
    if (other !== undefined) throw new ConfigError(path, written, `is the same zone as "${other}"; write each zone once`);
    seen.set(name, written);
    const spec = Array.isArray(body) ? { servers: body } : object(path, body, ['servers', 'cnameInspection']);
    if (spec.servers === undefined) throw new ConfigError(join(path, 'servers'), undefined, 'is missing; list the servers of this zone, e.g. ["10.0.0.1", "10.0.0.2"]');
    const serversPath = Array.isArray(body) ? path : join(path, 'servers');
    const servers = upstreamServers(serversPath, spec.servers);
    if (servers.length === 0) throw new ConfigError(serversPath, [], 'is empty; name at least one server for this zone, e.g. ["10.0.0.1"]');
    if (servers.length > MAX_SERVERS) throw new ConfigError(serversPath, spec.servers, `names more than ${MAX_SERVERS} servers`);
    const cnameInspection = 'cnameInspection' in spec && spec.cnameInspection !== undefined ? boolean(join(path, 'cnameInspection'), spec.cnameInspection) : false;
    const tag = createHash('sha256').update(JSON.stringify([name, servers, cnameInspection])).digest().toString('latin1', 0, 4);
    return { name, wire: wireName(name), servers, cnameInspection, tag };
  });
}

/** `corp.example` as \x04corp\x07example\x00. */
function wireName(name: string): Uint8Array {
  const labels = name.split('.');
  const out = new Uint8Array(labels.reduce((n, l) => n + 1 + l.length, 1));
  let at = 0;
  for (const l of labels) {
    out[at++] = l.length;
    for (let i = 0; i < l.length; i++) out[at++] = l.charCodeAt(i);
  }
  return out;
}
