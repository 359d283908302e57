// Upstream servers as written in `upstream.servers`: plain `IP[:53]`, DNS
// over TLS `tls://IP[:853][#NAME]` or DNS over HTTPS
// `https://IP[:443][/dns-query][#NAME]`. Servers are given by IP address so
// that reaching them needs no clear-text lookup (bootstrap by IP); NAME is
// the name their certificate must carry (without it, the IP address must be
// in the certificate). The `upstream.tls` section adds CAs and SPKI pins.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseHostPort } from '../../net/address.js';
import type { UpstreamAddress, UpstreamTls } from '../../shared/serving-config.js';
import { ConfigError, join, list, object, string } from './check.js';

const DNS_NAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)*\.?$/i;

export function upstreamAddress(path: string, item: unknown): UpstreamAddress {
  if (typeof item !== 'string') throw new ConfigError(path, item, 'is not a server, e.g. "9.9.9.9", "tls://9.9.9.9#dns.quad9.net" or "https://1.1.1.1/dns-query#cloudflare-dns.com"');
  const scheme = /^(tls|https):\/\/(.*)$/i.exec(item);
  if (!scheme) {
    const hp = parseHostPort(item, 53);
    if (!hp) throw new ConfigError(path, item, 'is not an IP address with an optional port, e.g. "9.9.9.9" or "[2620:fe::fe]:53"; encrypted servers start tls:// or https://');
    return hp;
  }
  const protocol = scheme[1].toLowerCase() === 'tls' ? 'dot' : 'doh';
  let rest = scheme[2];
  let name: string | undefined;
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    name = rest.slice(hash + 1).toLowerCase();
    rest = rest.slice(0, hash);
    if (!DNS_NAME.test(name)) throw new ConfigError(path, item, `has '#${name}', which is not a DNS name; after # write the name the server's certificate carries, e.g. #dns.quad9.net`);
  }
  let urlPath = '/dns-query';
  const slash = rest.indexOf('/', rest.startsWith('[') ? rest.indexOf(']') : 0);
  if (slash >= 0) {
    if (protocol === 'dot') throw new ConfigError(path, item, 'has a path, which DNS over TLS does not use; write tls://IP[:853][#NAME]');
    urlPath = rest.slice(slash);
    rest = rest.slice(0, slash);
    if (!/^\/[\x21-\x7e]*$/.test(urlPath) || urlPath.includes('{') || urlPath.includes('?')) {
      throw new ConfigError(path, item, 'has a path aifence cannot use; write the plain path, e.g. https://1.1.1.1/dns-query#cloudflare-dns.com');
    }
  }
  const hp = parseHostPort(rest, protocol === 'dot' ? 853 : 443);
  if (!hp) {
    throw new ConfigError(path, item, `does not name the server by IP address; write e.g. ${protocol === 'dot' ? 'tls://9.9.9.9:853#dns.quad9.net' : 'https://1.1.1.1/dns-query#cloudflare-dns.com'} (the address is used to connect, so nothing is looked up in clear; #NAME is what the certificate must carry)`);
  }
  return { ...hp, encrypted: { protocol, name, path: urlPath, url: item } };
}

export function upstreamServers(path: string, value: unknown): UpstreamAddress[] {
  return list(path, value).map((item, i) => upstreamAddress(join(path, i), item));
}

export function upstreamTlsSection(value: unknown, baseDir: string): UpstreamTls {
  const section = object('upstream.tls', value, ['ca', 'pins']);
  let ca: string | null = null;
  let caFile: string | null = null;
  if (section.ca !== undefined) {
    caFile = resolve(baseDir, string('upstream.tls.ca', section.ca));
    try {
      ca = readFileSync(caFile, 'utf8');
      new X509Certificate(ca); // at least the first certificate must parse
    } catch (err) {
      throw new ConfigError('upstream.tls.ca', section.ca, `cannot be read as PEM certificates (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); name a file of "-----BEGIN CERTIFICATE-----" blocks`);
    }
  }
  const pins = list('upstream.tls.pins', section.pins ?? []).map((p, i) => {
    const text = typeof p === 'string' ? p.replace(/^sha256\//, '') : '';
    if (Buffer.from(text, 'base64').length !== 32 || !/^[A-Za-z0-9+/]{43}=$/.test(text)) {
      throw new ConfigError(join('upstream.tls.pins', i), p, 'is not a base64 SHA-256 of a public key (44 characters ending in =), as `kdig +tls-pin` takes; get it with: openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64');
    }
    return text;
  });
  return { ca, caFile, pins };
}
