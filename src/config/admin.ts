// The `admin` section: where the HTTP API (health, metrics, reload, pause,
// check) listens, and the bearer token it demands beyond loopback.

import { type HostPort, parseHostPort } from '../net/address.js';
import { ConfigError, object, string } from './check.js';

export interface AdminConfig {
  /** null: no admin listener. */
  listen: HostPort | null;
  token?: string;
}

export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:8053';

const isLoopback = (host: string) => host === '::1' || host.startsWith('127.');

/** `env` supplies AIFENCE_ADMIN_TOKEN, which wins over the config file's token (keep secrets out of files). */
export function adminSection(value: unknown, env: NodeJS.ProcessEnv = process.env): AdminConfig {
  const section = object('admin', value, ['listen', 'token']);
  const listenText = section.listen === undefined ? DEFAULT_ADMIN_LISTEN : string('admin.listen', section.listen);
  const token = env.AIFENCE_ADMIN_TOKEN || (section.token === undefined ? undefined : string('admin.token', section.token));
  if (listenText === 'off') return { listen: null, token };
  const listen = parseHostPort(listenText, 8053);
  if (!listen) throw new ConfigError('admin.listen', section.listen, 'is not an IP address with a port, e.g. "127.0.0.1:8053", or off');
  if (!isLoopback(listen.host) && !token) {
    throw new ConfigError('admin.listen', listenText, 'listens beyond loopback without a token; set admin.token or the AIFENCE_ADMIN_TOKEN environment variable');
  }
  return { listen, token };
}
