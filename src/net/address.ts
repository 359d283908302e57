// Host:port and CIDR parsing shared by config, access control and policy.

import { SocketAddress, isIP, isIPv4, isIPv6 } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
  family: 4 | 6;
}

/**
 * `1.2.3.4`, `1.2.3.4:53`, `::1`, `[::1]:53`; null when it is none of these.
 * The host comes back in canonical form (RFC 5952: `[0:0:0:0:0:0:0:1]` is
 * `::1`), the form the kernel reports as a datagram's source, so that
 * comparing an upstream's replies against it works however the admin wrote it.
 */
export function parseHostPort(text: string, defaultPort: number): HostPort | null {
  let host = text;
  let port = defaultPort;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1];
    if (bracketed[2] !== undefined) port = Number(bracketed[2]);
  } else if (!isIPv6(text)) {
    const colon = text.lastIndexOf(':');
    if (colon >= 0) {
      host = text.slice(0, colon);
      port = /^\d+$/.test(text.slice(colon + 1)) ? Number(text.slice(colon + 1)) : NaN;
    }
  }
  const family = isIP(host);
  if (family === 0 || !Number.isInteger(port) || port < 0 || port > 65535) return null;
  return { host: canonicalAddress(host), port, family: family as 4 | 6 };
}

/** An IP address as the kernel prints it (lower-case, zeros compressed); an IPv6 zone (`%eth0`) is kept as written. */
export function canonicalAddress(address: string): string {
  if (!isIPv6(address)) return address;
  const zone = address.indexOf('%');
  const bare = zone < 0 ? address : address.slice(0, zone);
  return new SocketAddress({ address: bare, family: 'ipv6' }).address + (zone < 0 ? '' : address.slice(zone));
}

/**
 * One client's address as one text whatever socket it came through:
 * canonical, and an IPv4-mapped IPv6 address (`::ffff:10.0.0.5`, from a
 * dual-stack listener) as the IPv4 address it is. Null when it is none.
 */
export function clientAddress(address: string): string | null {
  if (isIPv4(address)) return address;
  if (!isIPv6(address) || address.includes('%')) return null;
  const canonical = canonicalAddress(address);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(canonical);
  return mapped ? mapped[1] : canonical;
}

export const formatHostPort = (hp: { host: string; port: number }): string =>
  isIPv6(hp.host) ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;

/** An address as 16 bytes (IPv4 mapped into ::ffff:0:0/96, so one trie serves both families). */
export function addressBytes(address: string): Uint8Array | null {
  const out = new Uint8Array(16);
  if (isIPv4(address)) {
    out[10] = 0xff;
    out[11] = 0xff;
    address.split('.').forEach((octet, i) => (out[12 + i] = Number(octet)));
    return out;
  }
  if (!isIPv6(address)) return null;
  const zone = address.indexOf('%');
  if (zone >= 0) address = address.slice(0, zone);
  // An embedded IPv4 tail (::ffff:10.0.0.1) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (v4) {
    const b = v4[1].split('.').map(Number);
    address = address.slice(0, -v4[1].length) + `${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = address.includes('::') ? address.split('::') : [address, ''];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >>> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

export interface Cidr {
  text: string;
  bytes: Uint8Array;
  /** Prefix length in the 128-bit space (IPv4 prefixes are offset by 96). */
  bits: number;
}

/** `10.0.0.0/8`, `fc00::/7`, or a bare address (a /32 or /128). */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return null;
  const max = family === 4 ? 32 : 128;
  const len = slash < 0 ? max : /^\d+$/.test(text.slice(slash + 1)) ? Number(text.slice(slash + 1)) : NaN;
  if (!Number.isInteger(len) || len > max) return null;
  const bytes = addressBytes(addr)!;
  const bits = family === 4 ? len + 96 : len;
  maskBytes(bytes, bits);
  return { text, bytes, bits };
}

function maskBytes(bytes: Uint8Array, bits: number): void {
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i] &= (0xff << (8 - keep)) & 0xff;
  }
}

export function cidrContains(cidr: Cidr, address: Uint8Array): boolean {
  const full = cidr.bits >>> 3;
  for (let i = 0; i < full; i++) if (cidr.bytes[i] !== address[i]) return false;
  const rest = cidr.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (address[full] & mask) === cidr.bytes[full];
}
