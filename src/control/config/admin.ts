// The `admin` section: where the HTTP API (health, metrics, reload, pause,
// check) listens, the bearer token it demands, and the host names it
// answers to besides IP literals and localhost (against DNS rebinding).

import { isIP } from 'node:net';
import { type HostPort, parseHostPort } from '../../net/address.js';
import { ConfigError, join, list, object, string } from './check.js';

export interface AdminConfig {
  /** null: no admin listener. */
  listen: HostPort | null;
  /** The configured token; without one a token is generated into dataDir for the mutating routes. */
  token?: string;
  /** Lower-case names accepted in the Host header, besides IP literals and localhost. */
  hosts: string[];
}

export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:8053';

const isLoopback = (host: string) => host === '::1' || host.startsWith('127.');

/** A DNS name as a Host header carries it: labels of letters, digits and hyphens. */
const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** `env` supplies AIFENCE_ADMIN_TOKEN, which wins over the config file's token (keep secrets out of files). */
export function adminSection(value: unknown, env: NodeJS.ProcessEnv = process.env): AdminConfig {
  const section = object('admin', value, ['listen', 'token', 'hosts']);
  const listenText = section.listen === undefined ? DEFAULT_ADMIN_LISTEN : string('admin.listen', section.listen);
  const token = env.AIFENCE_ADMIN_TOKEN || (section.token === undefined ? undefined : string('admin.token', section.token));
  const hosts = section.hosts === undefined ? [] : adminHosts(section.hosts);
  if (listenText === 'off') return { listen: null, token, hosts };
  const listen = parseHostPort(listenText, 8053);
  if (!listen) throw new ConfigError('admin.listen', section.listen, 'is not an IP address with a port, e.g. "127.0.0.1:8053", or off');
  if (!isLoopback(listen.host) && !token) {
    throw new ConfigError('admin.listen', listenText, 'listens beyond loopback without a token; set admin.token or the AIFENCE_ADMIN_TOKEN environment variable');
  }
  return { listen, token, hosts };
}

function adminHosts(value: unknown): string[] {
  return list('admin.hosts', value).map((item, i) => {
    const name = string(join('admin.hosts', i), item).toLowerCase().replace(/\.$/, '');
    if (isIP(name) || isIP(name.replace(/^\[|\]$/g, ''))) {
      throw new ConfigError(join('admin.hosts', i), item, 'is an IP address; IP addresses are always accepted, list only names, e.g. resolver1.corp');
    }
    if (!HOST_NAME.test(name)) throw new ConfigError(join('admin.hosts', i), item, 'is not a host name without a port, e.g. resolver1.corp');
    return name;
  });
}
