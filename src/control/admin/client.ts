// Asking the running daemon's admin API from the command line: `aifence
// check` gets its verdicts there when a daemon answers, so runtime
// exceptions and pauses count as they do for queries.

import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { CheckResult } from '../policy/explain.js';
import { type HostPort, formatHostPort } from '../../net/address.js';
import { MAX_CHECK_NAMES } from './server.js';
import { TOKEN_FILE, readToken } from './token.js';

/** No daemon to ask: not listening, another config's, or it refused us. `why` says which. */
export class DaemonUnavailable extends Error {}

/** Where the admin API of this config answers (a wildcard read as loopback); null when it is off. */
export function adminTarget(config: Config): HostPort | null {
  const at = config.admin.listen;
  if (at === null) return null;
  if (at.host === '0.0.0.0') return { ...at, host: '127.0.0.1' };
  if (at.host === '::') return { ...at, host: '::1' };
  return at;
}

/** The token to send: the environment's, the config's, else the one generated into dataDir (when this user may read it). */
export function adminToken(config: Config): string | undefined {
  if (config.admin.token !== undefined) return config.admin.token;
  try {
    return readToken(join(config.dataDir, TOKEN_FILE)) ?? undefined;
  } catch {
    return undefined; // not ours to read: reads on loopback need no token anyway
  }
}

/** A URL's query string stays well under what HTTP servers take in one request line. */
const MAX_QUERY = 6000;

/**
 * The daemon's verdicts for `names` (in presentation form) as seen from
 * `client`. Throws DaemonUnavailable when nothing answers at `at` within
 * `timeoutMs`, when it serves another config file than `configFile`, or
 * when it refuses the token.
 */
export async function checkWithDaemon(at: HostPort, names: readonly string[], client: string, options: { token?: string; configFile?: string; timeoutMs?: number } = {}): Promise<CheckResult[]> {
  const where = formatHostPort(at);
  const base = `http://${at.family === 6 ? `[${at.host}]` : at.host}:${at.port}/check?client=${encodeURIComponent(client)}`;
  const results: CheckResult[] = [];
  for (let i = 0; i < names.length; ) {
    let url = base;
    let n = 0;
    while (i + n < names.length && n < MAX_CHECK_NAMES) {
      const part = `&name=${encodeURIComponent(names[i + n])}`;
      if (n > 0 && url.length + part.length > MAX_QUERY) break;
      url += part;
      n++;
    }
    let response: Response;
    try {
      response = await fetch(url, { headers: options.token ? { authorization: `Bearer ${options.token}` } : {}, signal: AbortSignal.timeout(options.timeoutMs ?? 3000) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new DaemonUnavailable(`no daemon answers at ${where} (${cause})`);
    }
    // Another daemon may hold the port (another config, another version): its verdicts are not this config's.
    const served = response.headers.get('aifence-config');
    if (options.configFile !== undefined) {
      if (served === null) throw new DaemonUnavailable(`the daemon at ${where} does not say which config it serves`);
      if (!sameFile(decodeURIComponent(served), options.configFile)) throw new DaemonUnavailable(`the daemon at ${where} serves ${decodeURIComponent(served)}, not ${options.configFile}`);
    }
    const body = (await response.json().catch(() => null)) as { error?: string; results?: CheckResult[] } | CheckResult | null;
    if (!response.ok) throw new DaemonUnavailable(`the daemon at ${where} answered ${response.status}: ${(body as { error?: string } | null)?.error ?? response.statusText}`);
    if (n === 1) results.push(body as CheckResult);
    else results.push(...((body as { results: CheckResult[] }).results ?? []));
    i += n;
  }
  return results;
}

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return a === b;
  }
}
