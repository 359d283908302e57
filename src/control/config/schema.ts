// The configuration an admin writes, validated into the shape the daemon
// uses. Defaults live here, next to the checks, so one file says what every
// key means. config/aifence.yaml documents the same keys for admins.

import { isIPv4, isIPv6 } from 'node:net';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { ListSpec } from '../../match/types.js';
import type { BlockMode } from '../../wire/answers.js';
import { type Cidr, type HostPort, parseHostPort } from '../../net/address.js';
import { type AdminConfig, adminSection } from './admin.js';
import { type RemoteListSpec, listsSection } from './lists.js';
import { type GroupConfig, groupsSection } from './groups.js';
import { type QueryLogConfig, queryLogSection } from './querylog.js';
import { type CatalogueUpdateConfig, catalogueSection } from './catalogue.js';
import type { CacheConfig, ServingConfig, UpstreamAddress } from '../../shared/serving-config.js';
import { rateLimitSection } from './ratelimit.js';
import { tcpSection } from './tcp.js';
import { type StateConfig, stateSection } from './state.js';
import { type BlockPageConfig, blockPageSection } from './blockpage.js';
import { ENCRYPTED_KEYS, encryptedSection } from './encrypted.js';
import { upstreamServers, upstreamTlsSection } from './upstream-servers.js';
import { zonesSection } from './upstream-zones.js';
import { type IdentityConfig, identitySection } from './identity.js';
import { ConfigError, duration, integer, isPlainObject, join, list, object, size, string } from './check.js';
import { prefix } from './prefix.js';

/** The whole config: what the data plane serves by (src/shared/serving-config.ts) and everything else. */
export interface Config extends ServingConfig {
  /** The file it was read from, for errors found after parsing (unknown selectors). */
  file?: string;
  /** Directory that relative paths (list sources) are resolved against. */
  baseDir: string;
  blocking: { answer: BlockMode; ttl: number };
  access: { clients: Cidr[] };
  lists: ListSpec[];
  /** Lists downloaded from URLs (their files are among `lists`). */
  remoteLists: RemoteListSpec[];
  /** Where aifence keeps what it downloads. */
  dataDir: string;
  /** `default` first; every other group has client prefixes. */
  groups: GroupConfig[];
  /** Selectors blocked for every client of every group at every hour: no allow, exception, schedule or pause re-opens them. */
  enforce: string[];
  admin: AdminConfig;
  queryLog: QueryLogConfig;
  /** Signed catalogue updates; undefined: the packaged catalogue only. */
  catalogue?: CatalogueUpdateConfig;
  /** Runtime state (pauses, exceptions) shared through Redis, and this instance's name. */
  state: StateConfig;
  /** Threads answering queries, each binding every listen address (SO_REUSEPORT); 1: the control thread answers itself. */
  workers: number;
  /** The block page and access requests; null: no page (blocked names get the block answer only). */
  blockPage: BlockPageConfig | null;
  /** Names for client addresses: lease files, static names, PTR lookups. */
  identity: IdentityConfig;
}

export const DEFAULT_LISTEN = '127.0.0.1:5300';
export const DEFAULT_ACCESS = ['127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10', '::1/128', 'fc00::/7', 'fe80::/10'];
/** The upstream pool tracks the servers each query tried in one 16-bit mask. */
const MAX_UPSTREAMS = 16;

/**
 * Validates a parsed YAML document. `systemUpstreams` supplies the default
 * upstream servers (the machine's resolv.conf) when the config names none.
 */
export function parseConfig(raw: unknown, baseDir: string, systemUpstreams: () => string[]): Config {
  const top = object('', raw, ['listen', 'upstream', 'cache', 'blocking', 'access', 'lists', 'groups', 'enforce', 'admin', 'dataDir', 'queryLog', 'maxUdpSize', 'tcp', 'rateLimit', 'catalogue', 'state', 'workers', 'blockPage', 'identity', ...ENCRYPTED_KEYS]);
  const listen = hostPorts('listen', top.listen ?? [DEFAULT_LISTEN], 53);
  const blockPage = blockPageSection(top.blockPage, baseDir);
  const mode = (path: string, v: unknown) => blockMode(path, v, blockPage);
  return {
    baseDir,
    listen,
    upstream: upstreamSection(top.upstream, listen, systemUpstreams, baseDir),
    cache: cacheSection(top.cache),
    maxUdpSize: top.maxUdpSize === undefined ? 1232 : integer('maxUdpSize', top.maxUdpSize, 512, 65535),
    blocking: blockingSection(top.blocking, mode),
    access: { clients: accessSection(top.access) },
    ...remoteAndFileLists(top, baseDir),
    groups: groupsSection(top.groups, mode),
    enforce: enforceSection(top.enforce),
    admin: adminSection(top.admin, process.env, baseDir),
    queryLog: queryLogSection(top.queryLog, baseDir),
    tcp: tcpSection(top.tcp),
    rateLimit: rateLimitSection(top.rateLimit),
    ...encryptedSection(top, baseDir),
    state: stateSection(top.state),
    workers: workersSection(top.workers),
    blockPage,
    identity: identitySection(top.identity, baseDir),
  };
}

/** The most worker threads: beyond this the control thread's event traffic, not the cores, limits. */
export const MAX_WORKERS = 64;

/** `auto`: one a core (os.availableParallelism, which honours a container's CPU set); else 1 to MAX_WORKERS. */
function workersSection(raw: unknown): number {
  if (raw === undefined) return 1;
  if (raw === 'auto') return Math.min(availableParallelism(), MAX_WORKERS);
  if (typeof raw === 'string') throw new ConfigError('workers', raw, 'is neither auto nor a number: write workers: auto (one thread a core) or a count such as workers: 4');
  return integer('workers', raw, 1, MAX_WORKERS);
}

function remoteAndFileLists(top: Record<string, unknown>, baseDir: string): Pick<Config, 'lists' | 'remoteLists' | 'dataDir' | 'catalogue'> {
  const dataDir = resolve(baseDir, top.dataDir === undefined ? 'data' : string('dataDir', top.dataDir));
  const { lists, remote } = listsSection(top.lists, baseDir, dataDir);
  return { lists, remoteLists: remote, dataDir, catalogue: catalogueSection(top.catalogue, baseDir, dataDir) };
}

function hostPorts(path: string, value: unknown, defaultPort: number): HostPort[] {
  return list(path, value).map((item, i) => {
    const hp = typeof item === 'string' ? parseHostPort(item, defaultPort) : null;
    if (!hp) throw new ConfigError(join(path, i), item, `is not an IP address with an optional port, e.g. "127.0.0.1:${defaultPort}" or "[::1]:${defaultPort}"`);
    return hp;
  });
}

function upstreamSection(value: unknown, listen: HostPort[], systemUpstreams: () => string[], baseDir: string): Config['upstream'] {
  const section = object('upstream', value, ['servers', 'zones', 'timeout', 'maxConcurrent', 'tls']);
  const timeout = section.timeout === undefined ? 2 : duration('upstream.timeout', section.timeout, 0.05, 60);
  const maxConcurrent = section.maxConcurrent === undefined ? 4096 : integer('upstream.maxConcurrent', section.maxConcurrent, 1, 1_000_000);
  let servers: UpstreamAddress[];
  if (section.servers !== undefined) {
    servers = upstreamServers('upstream.servers', section.servers);
    if (servers.length === 0) throw new ConfigError('upstream.servers', [], 'is empty; name at least one upstream DNS server, e.g. ["9.9.9.9"]');
    if (servers.length > MAX_UPSTREAMS) throw new ConfigError('upstream.servers', section.servers, `names more than ${MAX_UPSTREAMS} servers; keep the ones you trust most`);
  } else {
    // resolv.conf may point at ourselves (a gateway running aifence on :53): never forward to our own ears.
    const own = new Set(listen.map((l) => `${l.host}:${l.port}`));
    servers = systemUpstreams()
      .map((s) => parseHostPort(s, 53))
      .filter((s): s is HostPort => s !== null && !own.has(`${s.host}:${s.port}`));
    if (servers.length === 0) {
      throw new ConfigError('upstream.servers', undefined, 'is not set and /etc/resolv.conf names no usable nameserver; set upstream.servers, e.g. ["9.9.9.9", "149.112.112.112"]');
    }
  }
  return { servers, timeout, maxConcurrent, tls: upstreamTlsSection(section.tls, baseDir), zones: zonesSection(section.zones) };
}

function cacheSection(value: unknown): CacheConfig {
  const section = object('cache', value, ['maxEntries', 'maxSize', 'minTtl', 'maxTtl', 'serveStale']);
  const maxEntries = section.maxEntries === undefined ? 100_000 : integer('cache.maxEntries', section.maxEntries, 0, 50_000_000);
  const maxSize = section.maxSize === undefined ? 64 * 1024 ** 2 : size('cache.maxSize', section.maxSize);
  if (maxSize < 64 * 1024) throw new ConfigError('cache.maxSize', section.maxSize, 'is under 64KB; write e.g. 16MB or 256MB');
  // The cache's slab is one buffer addressed by 31-bit offsets; 1GB holds millions of answers.
  if (maxSize > 1024 ** 3) throw new ConfigError('cache.maxSize', section.maxSize, 'is over 1GB, the largest answer cache; write e.g. 256MB or 1GB');
  const minTtl = section.minTtl === undefined ? 0 : Math.floor(duration('cache.minTtl', section.minTtl, 0, 86400));
  const maxTtl = section.maxTtl === undefined ? 86400 : Math.floor(duration('cache.maxTtl', section.maxTtl, 1, 7 * 86400));
  if (minTtl > maxTtl) throw new ConfigError('cache.minTtl', section.minTtl, `is above cache.maxTtl (${maxTtl}s); make it smaller`);
  return { maxEntries, maxSize, minTtl, maxTtl, serveStale: serveStaleSection(section.serveStale) };
}

/** RFC 8767 suggests keeping expired answers 1 to 3 days and answering with one after 1.8 s without news. */
function serveStaleSection(value: unknown): CacheConfig['serveStale'] {
  if (value === false || value === 'off') return null;
  const section = object('cache.serveStale', value ?? {}, ['maxStale', 'clientTimeout']);
  const maxStale = section.maxStale === undefined ? 86400 : duration('cache.serveStale.maxStale', section.maxStale, 1, 7 * 86400);
  const clientTimeout = section.clientTimeout === undefined ? 1.8 : duration('cache.serveStale.clientTimeout', section.clientTimeout, 0, 60);
  return { maxStale, clientTimeout };
}

function blockingSection(value: unknown, mode: (path: string, v: unknown) => BlockMode): Config['blocking'] {
  // `mode` is the same setting as `answer`, under the name the block page's documentation uses.
  const section = object('blocking', value, ['answer', 'mode', 'ttl']);
  if (section.answer !== undefined && section.mode !== undefined) {
    throw new ConfigError('blocking.mode', section.mode, 'is the same setting as blocking.answer, which is also given; keep one of them');
  }
  const ttl = section.ttl === undefined ? 60 : Math.floor(duration('blocking.ttl', section.ttl, 0, 86400));
  const key = section.mode !== undefined ? 'mode' : 'answer';
  return { answer: section[key] === undefined ? { kind: 'nxdomain' } : mode(`blocking.${key}`, section[key]), ttl };
}

/**
 * One block answer as written. `page`: A and AAAA answer the block page's
 * addresses (blockPage.answer), every other type gets no records, as `null` does.
 */
function blockMode(path: string, value: unknown, blockPage: BlockPageConfig | null): BlockMode {
  // YAML reads a bare `null` as no value: an admin who wrote `answer: null` means the null mode.
  if (value === null) return { kind: 'null' };
  if (value === 'page') {
    if (blockPage === null) throw new ConfigError(path, value, 'needs a blockPage section saying where the page listens, e.g. blockPage: { http: ["10.0.0.53:80"], https: ["10.0.0.53:443"] }');
    return { kind: 'sinkhole', ...blockPage.answer };
  }
  if (isPlainObject(value)) {
    const sink = object(path, value, ['ipv4', 'ipv6']);
    const ipv4 = sink.ipv4 === undefined ? undefined : string(join(path, 'ipv4'), sink.ipv4);
    const ipv6 = sink.ipv6 === undefined ? undefined : string(join(path, 'ipv6'), sink.ipv6);
    if (ipv4 !== undefined && !isIPv4(ipv4)) throw new ConfigError(join(path, 'ipv4'), ipv4, 'is not an IPv4 address, e.g. 10.0.0.80');
    if (ipv6 !== undefined && !isIPv6(ipv6)) throw new ConfigError(join(path, 'ipv6'), ipv6, 'is not an IPv6 address, e.g. fd00::80');
    if (!ipv4 && !ipv6) throw new ConfigError(path, value, 'names no address; give ipv4, ipv6 or both for a sinkhole (block page)');
    return { kind: 'sinkhole', ipv4, ipv6 };
  }
  if (typeof value !== 'string' || !['nxdomain', 'null', 'refused'].includes(value)) {
    throw new ConfigError(path, value, 'is not one of nxdomain | null | refused | page | {ipv4, ipv6}');
  }
  return { kind: value as 'nxdomain' | 'null' | 'refused' };
}

/** `enforce: [service:deepseek]`: selectors, checked against the catalogue with the groups' (selectors.ts). */
function enforceSection(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return list('enforce', value).map((item, i) => {
    if (typeof item !== 'string') throw new ConfigError(join('enforce', i), item, 'is not a selector; enforce takes plain selectors (no until or schedule: an enforced ban holds at every hour), e.g. [service:deepseek]');
    return string(join('enforce', i), item);
  });
}

function accessSection(value: unknown): Cidr[] {
  const section = object('access', value, ['clients']);
  return list('access.clients', section.clients ?? DEFAULT_ACCESS).map((item, i) => prefix(join('access.clients', i), item, '10.0.0.0/8, 192.168.1.10 or fd00::/8'));
}

export type { GroupConfig, Rule, Schedule } from './groups.js';
