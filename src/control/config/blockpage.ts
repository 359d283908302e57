// The `blockPage` section: where the block page listens (HTTP, HTTPS), the
// addresses blocked names resolve to in `page` mode, the organisation's CA
// for HTTPS, what the page says, and whether people may ask for access.

import { isIPv4, isIPv6 } from 'node:net';
import { resolve } from 'node:path';
import { type HostPort, parseHostPort } from '../../net/address.js';
import { ConfigError, boolean, join, list, object, string } from './check.js';

export interface BlockPageConfig {
  http: HostPort[];
  https: HostPort[];
  /** What A and AAAA of a blocked name answer in `page` mode: this host's addresses. */
  answer: { ipv4?: string; ipv6?: string };
  /** The organisation's CA (PEM files): leaf certificates are minted from it per name. Without it HTTPS is self-signed. */
  ca?: { cert: string; key: string };
  organisation?: string;
  contact?: string;
  /** Shown on every group's page unless the group has its own `message`. */
  message?: string;
  /** The page carries a form to ask for access (POST /request), decided by an admin. */
  requests: boolean;
}

const TEXT_MAX = 1000;

/** `off` (the default) when the config has no blockPage section. */
export function blockPageSection(value: unknown, baseDir: string): BlockPageConfig | null {
  if (value === undefined || value === null) return null;
  const s = object('blockPage', value, ['http', 'https', 'answer', 'ca', 'organisation', 'contact', 'message', 'requests']);
  const http = listeners('blockPage.http', s.http, 80);
  const https = listeners('blockPage.https', s.https, 443);
  if (http.length + https.length === 0) {
    throw new ConfigError('blockPage', value, 'has neither http nor https; give where the page listens, e.g. http: ["10.0.0.53:80"], https: ["10.0.0.53:443"]');
  }
  return {
    http,
    https,
    answer: answerSection(s.answer, [...http, ...https]),
    ca: caSection(s.ca, baseDir),
    organisation: s.organisation === undefined ? undefined : pageText('blockPage.organisation', s.organisation, 200),
    contact: s.contact === undefined ? undefined : pageText('blockPage.contact', s.contact, 300),
    message: s.message === undefined ? undefined : pageText('blockPage.message', s.message, TEXT_MAX),
    requests: s.requests === undefined ? false : onOff('blockPage.requests', s.requests),
  };
}

/** Text an admin writes for the page: shown as text (escaped), never as markup. */
export function pageText(path: string, value: unknown, max = TEXT_MAX): string {
  const text = string(path, value).trim();
  if (text.length > max) throw new ConfigError(path, `${text.slice(0, 40)}...`, `is longer than ${max} characters; keep it to a few sentences`);
  return text;
}

/** YAML 1.2 reads `on` and `off` as strings; true and false mean the same. */
function onOff(path: string, value: unknown): boolean {
  if (value === 'on') return true;
  if (value === 'off') return false;
  try {
    return boolean(path, value);
  } catch {
    throw new ConfigError(path, value, 'is not on or off');
  }
}

function listeners(path: string, value: unknown, defaultPort: number): HostPort[] {
  if (value === undefined) return [];
  return list(path, value).map((item, i) => {
    const hp = typeof item === 'string' ? parseHostPort(item, defaultPort) : null;
    if (!hp) throw new ConfigError(join(path, i), item, `is not an IP address with an optional port, e.g. "10.0.0.53:${defaultPort}"`);
    return hp;
  });
}

/** The answer addresses; when not given, the listeners' own address if they are all bound to one (not a wildcard). */
function answerSection(value: unknown, bound: HostPort[]): BlockPageConfig['answer'] {
  if (value === undefined) {
    const v4 = [...new Set(bound.filter((b) => b.family === 4 && b.host !== '0.0.0.0').map((b) => b.host))];
    const v6 = [...new Set(bound.filter((b) => b.family === 6 && b.host !== '::').map((b) => b.host))];
    if (v4.length <= 1 && v6.length <= 1 && v4.length + v6.length > 0 && !bound.some((b) => b.host === '0.0.0.0' || b.host === '::')) {
      return { ipv4: v4[0], ipv6: v6[0] };
    }
    throw new ConfigError('blockPage.answer', undefined, "is missing; give this host's address that clients reach the page at, e.g. answer: { ipv4: 10.0.0.53, ipv6: \"fd00::53\" }");
  }
  const a = object('blockPage.answer', value, ['ipv4', 'ipv6']);
  const ipv4 = a.ipv4 === undefined ? undefined : string('blockPage.answer.ipv4', a.ipv4);
  const ipv6 = a.ipv6 === undefined ? undefined : string('blockPage.answer.ipv6', a.ipv6);
  if (ipv4 !== undefined && !isIPv4(ipv4)) throw new ConfigError('blockPage.answer.ipv4', ipv4, 'is not an IPv4 address, e.g. 10.0.0.53');
  if (ipv6 !== undefined && !isIPv6(ipv6)) throw new ConfigError('blockPage.answer.ipv6', ipv6, 'is not an IPv6 address, e.g. fd00::53');
  if (!ipv4 && !ipv6) throw new ConfigError('blockPage.answer', value, 'names no address; give ipv4, ipv6 or both');
  return { ipv4, ipv6 };
}

function caSection(value: unknown, baseDir: string): BlockPageConfig['ca'] {
  if (value === undefined) return undefined;
  const c = object('blockPage.ca', value, ['cert', 'key']);
  if (c.cert === undefined || c.key === undefined) {
    throw new ConfigError('blockPage.ca', value, 'needs both cert and key: the PEM files of the CA your devices trust, e.g. { cert: /etc/aifence/ca.pem, key: /etc/aifence/ca-key.pem }');
  }
  return { cert: resolve(baseDir, string('blockPage.ca.cert', c.cert)), key: resolve(baseDir, string('blockPage.ca.key', c.key)) };
}
