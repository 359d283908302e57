// The part of the config a data plane serves by: listeners, upstream
// servers and zones, the cache, TCP bounds, rate limits, the certificate.
// The control plane parses and checks it (src/control/config/); a data plane
// only reads it, so its types live here, where both planes can name them.

import { createHash } from 'node:crypto';
import type { Cidr, HostPort } from '../net/address.js';

/** An upstream server; `encrypted` absent: plain UDP/TCP as always. */
export interface UpstreamAddress extends HostPort {
  encrypted?: {
    protocol: 'dot' | 'doh';
    /** The name the certificate must carry; undefined: its IP address. */
    name?: string;
    /** DoH: the request path. */
    path: string;
    /** How it was written, for logs and metrics. */
    url: string;
  };
}

export interface UpstreamTls {
  /** PEM text of CAs trusted besides the system's. */
  ca: string | null;
  /** The file it came from, for messages. */
  caFile: string | null;
  /** base64 SHA-256 of a SubjectPublicKeyInfo (as kdig +tls-pin): one of them must be in the server's chain. Empty: no pinning. */
  pins: string[];
}

/** The pin of a DER SubjectPublicKeyInfo, as `UpstreamTls.pins` holds them. */
export const spkiPin = (spki: Buffer): string => createHash('sha256').update(spki).digest('base64');

/** One zone of `upstream.zones` (conditional forwarding), compiled for the data plane's zone table. */
export interface UpstreamZone {
  /** Lower case, no trailing dot: corp.example, 10.in-addr.arpa. */
  name: string;
  /** The name in wire form, lower case, root label included: what the data plane compares query names with. */
  wire: Uint8Array;
  /** Tried in order, with failover, as upstream.servers: plain, tls:// or https://. */
  servers: UpstreamAddress[];
  /** Match the CNAME/DNAME/SVCB targets of this zone's answers against the lists (off: an internal zone's aliases are the organisation's own). */
  cnameInspection: boolean;
  /** Four bytes that tell this zone's cache entries from any other routing of the same names (a hash of name, servers and inspection). */
  tag: string;
}

export interface CacheConfig {
  maxEntries: number;
  /** Bytes of answers kept, whatever their number. */
  maxSize: number;
  minTtl: number;
  maxTtl: number;
  /** RFC 8767: null when expired answers are never served. */
  serveStale: { maxStale: number; clientTimeout: number } | null;
}

export interface TcpConfig {
  /** Open connections in total; when full, the connection idle longest makes room, or the new one is closed. */
  maxConnections: number;
  /** Open connections from one client address. */
  maxPerClient: number;
  /** Queries read from one connection and not yet answered; reading pauses at this many. */
  maxPipelined: number;
  /** Seconds a connection may go without a complete query or an answer sent. */
  idleTimeout: number;
  /** Seconds a query may take to arrive whole once its first byte has. */
  messageTimeout: number;
  /** Seconds a connection may stay open at all; then it is closed once its answers are out. */
  maxLifetime: number;
  /** Bytes of answers one connection may leave unread; over it the connection is reset. */
  maxUnsent: number;
  /** Bytes of unread answers over all connections; over it the connection holding most is reset. */
  maxUnsentTotal: number;
}

export type RateLimitAction = 'drop' | 'refused' | 'slip';

export interface RateLimitConfig {
  /** Queries a second refilled per client; 0: no rate limiting. */
  qps: number;
  /** Queries a client may send at once before the rate applies. */
  burst: number;
  /** What a client over its rate gets: nothing, REFUSED, or now and then a TC answer (retry over TCP). */
  action: RateLimitAction;
  /** With `slip`: every slip-th limited query is answered TC, the others dropped. */
  slip: number;
  /** Clients never limited. */
  exempt: Cidr[];
}

export interface TlsFiles {
  cert: string;
  key: string;
}

export interface DohConfig {
  /** Peers whose X-Forwarded-For names the client (a reverse proxy in front of listenHttp or listenHttps). */
  trustedProxies: Cidr[];
  /** Requests one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxStreams: number;
}

export interface EncryptedListeners {
  /** DNS over TLS, RFC 7858 (default port 853). */
  listenTls: HostPort[];
  /** DNS over HTTPS, RFC 8484, on /dns-query: HTTP/2 and HTTP/1.1 (default port 443). */
  listenHttps: HostPort[];
  /** DoH as plain HTTP/1.1, for a reverse proxy that terminates TLS in front (default port 80). */
  listenHttp: HostPort[];
  /** The certificate and key listenTls and listenHttps present; null when neither is configured. */
  tls: TlsFiles | null;
  doh: DohConfig;
}

/** What a data plane serves by; the control plane's Config extends it. */
export interface ServingConfig extends EncryptedListeners {
  listen: HostPort[];
  /** `zones`: conditional forwarding, names under each zone to its own servers (longest suffix wins). */
  upstream: { servers: UpstreamAddress[]; timeout: number; maxConcurrent: number; tls: UpstreamTls; zones: UpstreamZone[] };
  cache: CacheConfig;
  /** The largest UDP answer; bigger ones get TC (the client's EDNS size is capped to it). */
  maxUdpSize: number;
  /** Limits on TCP clients: connections, pipelining, unread answers, deadlines. */
  tcp: TcpConfig;
  /** Per-client query rate limits (UDP). */
  rateLimit: RateLimitConfig;
}

/** Only the serving part of a whole config: what is posted to a worker thread. */
export const servingConfig = (c: ServingConfig): ServingConfig => ({
  listen: c.listen,
  upstream: c.upstream,
  cache: c.cache,
  maxUdpSize: c.maxUdpSize,
  tcp: c.tcp,
  rateLimit: c.rateLimit,
  listenTls: c.listenTls,
  listenHttps: c.listenHttps,
  listenHttp: c.listenHttp,
  tls: c.tls,
  doh: c.doh,
});
