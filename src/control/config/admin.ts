// The `admin` section: where the HTTP API (health, metrics, reload, pause,
// check) listens, the bearer tokens it demands (one shared, and named ones
// whose holders' names each change records), and the host names it answers
// to besides IP literals and localhost (against DNS rebinding).

import { lstatSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { type HostPort, parseHostPort } from '../../net/address.js';
import { createHash } from 'node:crypto';
import { ConfigError, isPlainObject, join, list, object, string } from './check.js';

export interface AdminConfig {
  /** null: no admin listener. */
  listen: HostPort | null;
  /** The configured token; without one a token is generated into dataDir for the mutating routes. */
  token?: string;
  /** Named admins: each name with the SHA-256 of its token (from `sha256`, or of the token read from `file`). */
  tokens: NamedToken[];
  /** Lower-case names accepted in the Host header, besides IP literals and localhost. */
  hosts: string[];
}

export interface NamedToken {
  name: string;
  /** SHA-256 of the token: the config holds no secret in clear. */
  sha256: Buffer;
}

export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:8053';
/** An admin's name as changes record it: letters, digits and . _ @ -, e.g. alice or alice@corp.example. */
export const ADMIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
/** A token file larger than this holds no token. */
const MAX_TOKEN_FILE = 4096;

const isLoopback = (host: string) => host === '::1' || host.startsWith('127.');

/** A DNS name as a Host header carries it: labels of letters, digits and hyphens. */
const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** `env` supplies AIFENCE_ADMIN_TOKEN, which wins over the config file's token (keep secrets out of files). */
export function adminSection(value: unknown, env: NodeJS.ProcessEnv = process.env, baseDir = '.'): AdminConfig {
  const section = object('admin', value, ['listen', 'token', 'tokens', 'hosts']);
  const listenText = section.listen === undefined ? DEFAULT_ADMIN_LISTEN : string('admin.listen', section.listen);
  const token = env.AIFENCE_ADMIN_TOKEN || (section.token === undefined ? undefined : string('admin.token', section.token));
  const tokens = section.tokens === undefined ? [] : namedTokens(section.tokens, baseDir);
  const hosts = section.hosts === undefined ? [] : adminHosts(section.hosts);
  return listenAt({ listen: null, token, tokens, hosts }, listenText);
}

/** `admin` listening at `listenText` (an address with a port, or off; the CLI's --admin too): beyond loopback only with a token. */
export function listenAt(admin: AdminConfig, listenText: string): AdminConfig {
  if (listenText === 'off') return { ...admin, listen: null };
  const listen = parseHostPort(listenText, 8053);
  if (!listen) throw new ConfigError('admin.listen', listenText, 'is not an IP address with a port, e.g. "127.0.0.1:8053", or off');
  if (!isLoopback(listen.host) && !admin.token && admin.tokens.length === 0) {
    throw new ConfigError('admin.listen', listenText, 'listens beyond loopback without a token; set admin.token, admin.tokens or the AIFENCE_ADMIN_TOKEN environment variable');
  }
  return { ...admin, listen };
}

/** `admin.tokens: { alice: { sha256: HEX }, bob: { file: /run/secrets/bob } }` (`aifence admin token --name alice` makes one). */
function namedTokens(value: unknown, baseDir: string): NamedToken[] {
  if (!isPlainObject(value)) throw new ConfigError('admin.tokens', value, 'is not a mapping of admin names to { sha256: HEX } or { file: PATH }; `aifence admin token --name alice` prints one');
  return Object.entries(value).map(([name, body]) => {
    const path = join('admin.tokens', name);
    if (!ADMIN_NAME.test(name)) throw new ConfigError(path, name, 'is not an admin name; use letters, digits and . _ @ - (at most 64), e.g. alice or alice@corp.example');
    const t = object(path, body, ['sha256', 'file']);
    if ((t.sha256 === undefined) === (t.file === undefined)) throw new ConfigError(path, body, 'needs exactly one of sha256 (the token\'s SHA-256 in hex, from `aifence admin token --name NAME`) or file (a file holding the token)');
    if (t.sha256 !== undefined) {
      const hex = string(join(path, 'sha256'), t.sha256).toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(hex)) throw new ConfigError(join(path, 'sha256'), t.sha256, 'is not a SHA-256 in hex (64 characters 0-9a-f); `aifence admin token --name NAME` prints the token and its sha256');
      return { name, sha256: Buffer.from(hex, 'hex') };
    }
    const file = resolve(baseDir, string(join(path, 'file'), t.file));
    return { name, sha256: createHash('sha256').update(tokenFromFile(join(path, 'file'), file)).digest() };
  });
}

/** The token a secret file holds (a Kubernetes secret, a systemd credential): one line of at least 16 printable characters. */
function tokenFromFile(path: string, file: string): string {
  let text: string;
  try {
    const stat = lstatSync(file);
    if (!stat.isFile() || stat.size > MAX_TOKEN_FILE) throw new Error(`not a regular file of at most ${MAX_TOKEN_FILE} bytes`);
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(path, file, `cannot be read as a token file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); name a file holding the token`);
  }
  if (!/^[\x21-\x7e]{16,}$/.test(text)) throw new ConfigError(path, file, 'does not hold a token of at least 16 printable characters (no spaces)');
  return text;
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
