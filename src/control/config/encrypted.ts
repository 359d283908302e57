// Encrypted DNS from the clients: the DoT (RFC 7858) and DoH (RFC 8484)
// listeners, the certificate they present, and who may tell us a DoH
// client's address (a reverse proxy's X-Forwarded-For decides its group).

import { resolve } from 'node:path';
import { type HostPort, parseCidr, parseHostPort } from '../../net/address.js';
import type { EncryptedListeners, TlsFiles } from '../../shared/serving-config.js';
import { ConfigError, integer, join, list, object, string } from './check.js';

export const ENCRYPTED_KEYS = ['listenTls', 'listenHttps', 'listenHttp', 'tls', 'doh'] as const;

export function encryptedSection(top: Record<string, unknown>, baseDir: string): EncryptedListeners {
  const listenTls = addresses('listenTls', top.listenTls, 853);
  const listenHttps = addresses('listenHttps', top.listenHttps, 443);
  const listenHttp = addresses('listenHttp', top.listenHttp, 80);
  let tls: TlsFiles | null = null;
  if (top.tls !== undefined) {
    const section = object('tls', top.tls, ['cert', 'key']);
    const file = (key: 'cert' | 'key') => {
      if (section[key] === undefined) throw new ConfigError(`tls.${key}`, undefined, `is missing; name the PEM ${key === 'cert' ? 'certificate (chain)' : 'private key'} file, e.g. /etc/aifence/${key}.pem`);
      return resolve(baseDir, string(`tls.${key}`, section[key]));
    };
    tls = { cert: file('cert'), key: file('key') };
  }
  if (tls === null) {
    const needs = listenTls.length > 0 ? 'listenTls' : listenHttps.length > 0 ? 'listenHttps' : null;
    if (needs) throw new ConfigError('tls', undefined, `is not set but ${needs} needs a certificate; add tls: { cert: /etc/aifence/cert.pem, key: /etc/aifence/key.pem }`);
  }
  const doh = object('doh', top.doh, ['trustedProxies', 'maxStreams']);
  const trustedProxies = list('doh.trustedProxies', doh.trustedProxies ?? []).map((item, i) => {
    const cidr = typeof item === 'string' ? parseCidr(item) : null;
    if (!cidr) throw new ConfigError(join('doh.trustedProxies', i), item, 'is not an IP prefix, e.g. 127.0.0.1 or 10.0.0.0/24');
    return cidr;
  });
  const maxStreams = doh.maxStreams === undefined ? 100 : integer('doh.maxStreams', doh.maxStreams, 1, 1000);
  return { listenTls, listenHttps, listenHttp, tls, doh: { trustedProxies, maxStreams } };
}

function addresses(path: string, value: unknown, defaultPort: number): HostPort[] {
  if (value === undefined) return [];
  return list(path, value).map((item, i) => {
    const hp = typeof item === 'string' ? parseHostPort(item, defaultPort) : null;
    if (!hp) throw new ConfigError(join(path, i), item, `is not an IP address with an optional port, e.g. "0.0.0.0:${defaultPort}" or "[::]:${defaultPort}"`);
    return hp;
  });
}
