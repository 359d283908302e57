// The `identity` section: where names for client addresses come from. DHCP
// lease files (dnsmasq, Kea's memfile CSV, ISC dhcpd.leases), static names,
// and a DNS server asked for PTR names of the addresses neither covers.
// Read on the control thread only: the query log, reports, the console and
// `check` show who a client is; the query path never waits for it.

import { resolve } from 'node:path';
import { type HostPort, canonicalAddress, parseHostPort } from '../../net/address.js';
import { isIP } from 'node:net';
import { ConfigError, isPlainObject, join, list, object, oneOf, string } from './check.js';

export const LEASE_FORMATS = ['dnsmasq', 'kea', 'isc'] as const;
export type LeaseFormat = (typeof LEASE_FORMATS)[number];

export interface LeaseSource {
  /** Absolute path of the lease file the DHCP server writes. */
  path: string;
  format: LeaseFormat;
}

export interface IdentityConfig {
  leases: LeaseSource[];
  /** Static names by address (canonical form), as written. */
  hosts: { address: string; name: string }[];
  /** A DNS server asked for the PTR name of an address no lease or static name covers; null: none asked. */
  reverse: HostPort | null;
}

/** Lease files one daemon watches; an office has one or two DHCP servers. */
const MAX_LEASE_FILES = 16;
/** Static names: a hosts file's worth, not a directory. */
const MAX_HOSTS = 100_000;

export const NO_IDENTITY: IdentityConfig = { leases: [], hosts: [], reverse: null };

export function identitySection(value: unknown, baseDir: string): IdentityConfig {
  if (value === undefined || value === null) return NO_IDENTITY;
  const section = object('identity', value, ['leases', 'hosts', 'reverse']);
  const leases = section.leases === undefined ? [] : list('identity.leases', section.leases).map((item, i) => lease(join('identity.leases', i), item, baseDir));
  if (leases.length > MAX_LEASE_FILES) throw new ConfigError('identity.leases', `${leases.length} files`, `names more than ${MAX_LEASE_FILES} lease files; list the DHCP servers' own files, one each`);
  const seen = new Set<string>();
  leases.forEach((l, i) => {
    if (seen.has(l.path)) throw new ConfigError(join(join('identity.leases', i), 'path'), l.path, 'is listed twice; name each lease file once');
    seen.add(l.path);
  });
  return { leases, hosts: hostsOf(section.hosts), reverse: reverseOf(section.reverse) };
}

function lease(path: string, item: unknown, baseDir: string): LeaseSource {
  const l = object(path, item, ['path', 'format']);
  if (l.path === undefined) throw new ConfigError(join(path, 'path'), undefined, 'is missing; name the lease file the DHCP server writes, e.g. /var/lib/misc/dnsmasq.leases');
  if (l.format === undefined) {
    throw new ConfigError(join(path, 'format'), undefined, `is missing; say which server writes the file: ${LEASE_FORMATS.join(' | ')} (dnsmasq.leases, Kea's memfile kea-leases4.csv / kea-leases6.csv, ISC dhcpd.leases)`);
  }
  return { path: resolve(baseDir, string(join(path, 'path'), l.path)), format: oneOf(join(path, 'format'), l.format, LEASE_FORMATS) };
}

function hostsOf(value: unknown): IdentityConfig['hosts'] {
  if (value === undefined || value === null) return [];
  if (!isPlainObject(value)) throw new ConfigError('identity.hosts', value, 'is not a mapping of addresses to names, e.g. { 10.0.0.5: printer-2f, "2001:db8::5": nas }');
  const entries = Object.entries(value);
  if (entries.length > MAX_HOSTS) throw new ConfigError('identity.hosts', `${entries.length} names`, `holds more than ${MAX_HOSTS} names; serve them from a lease file instead`);
  return entries.map(([address, name]) => {
    const path = join('identity.hosts', address);
    if (isIP(address) === 0) throw new ConfigError(path, address, 'is not an IP address; write the address as the key, e.g. 10.0.0.5: printer-2f');
    if (typeof name !== 'string' || name.trim() === '') throw new ConfigError(path, name, 'is not a name; write the host name, e.g. printer-2f or nas.corp.example');
    return { address: canonicalAddress(address), name: name.trim() };
  });
}

function reverseOf(value: unknown): HostPort | null {
  if (value === undefined || value === null || value === 'off') return null;
  const at = typeof value === 'string' ? parseHostPort(value, 53) : null;
  if (at === null) throw new ConfigError('identity.reverse', value, 'is not a DNS server address with an optional port, e.g. 10.0.0.1 or "10.0.0.1:53" (the server holding your reverse zones)');
  return at;
}
