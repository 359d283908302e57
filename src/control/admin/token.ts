// The admin token when the admin configured none: generated once into
// dataDir (mode 0600, created atomically) and reused on later starts, so the
// routes that switch the ban off never answer without a secret. The token
// itself never goes to the log, only where it is.

import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AdminConfig, NamedToken } from '../config/admin.js';
import type { Logger } from '../../shared/logger.js';

export const TOKEN_FILE = 'admin.token';

/** What the admin API checks requests against. */
export interface AdminAuth {
  /** The shared token, needed by the mutating routes; null when none could be had (then only named tokens open them). */
  token: string | null;
  /** Named admins' token digests (admin.tokens): a change made with one records that name. */
  named: readonly NamedToken[];
  /** Read-only routes need a token too: true when the admin configured one (a generated one guards mutations only). */
  readsNeedToken: boolean;
}

/** A new random token and the SHA-256 that admin.tokens takes for it (`aifence admin token`). */
export function newToken(): { token: string; sha256: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, sha256: createHash('sha256').update(token).digest('hex') };
}

/** A token file larger than this is not one of ours. */
const MAX_FILE = 4096;

export function adminAuth(config: AdminConfig, dataDir: string, log: Logger): AdminAuth {
  const named = config.tokens;
  if (config.token !== undefined) return { token: config.token, named, readsNeedToken: true };
  // Named admins only: no shared token to generate; every change carries a name.
  if (named.length > 0) return { token: null, named, readsNeedToken: true };
  const file = join(dataDir, TOKEN_FILE);
  try {
    const { token, created } = readOrCreateToken(file);
    log.info({ tokenFile: file }, created ? 'admin token generated: POST /reload, /pause and /resume need "Authorization: Bearer <contents of tokenFile>"' : 'admin token read from tokenFile');
    return { token, named, readsNeedToken: false };
  } catch (err) {
    log.error(
      { tokenFile: file, err: (err as Error).message },
      'no admin token: reload, pause and resume over the admin API are refused; set admin.token or AIFENCE_ADMIN_TOKEN, or make dataDir writable',
    );
    return { token: null, named, readsNeedToken: false };
  }
}

/** Reads the token at `file`, or writes a new random one there first. */
export function readOrCreateToken(file: string): { token: string; created: boolean } {
  const existing = readToken(file);
  if (existing !== null) return { token: existing, created: false };
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  // Written whole under a private name, then linked into place: a reader never sees half a token, and of two
  // daemons starting at once on one dataDir the second finds the first one's file and uses it.
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, token + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return { token: readToken(file) ?? fail(file, 'vanished while it was being read'), created: false };
    // Filesystems without hard links: rename is atomic too, it just does not refuse to replace.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    renameSync(temp, file);
    return { token, created: true };
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // Already renamed into place.
    }
  }
  return { token, created: true };
}

/** The token in `file`; null when there is no file. Throws, saying why, on a file that is not one of ours. */
export function readToken(file: string): string | null {
  let stat;
  try {
    stat = lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (!stat.isFile()) fail(file, 'is not a regular file; remove it and a new token is generated');
  if (stat.size > MAX_FILE) fail(file, `is larger than ${MAX_FILE} bytes, not a token file; remove it and a new token is generated`);
  if ((stat.mode & 0o077) !== 0) fail(file, `can be read by others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it, or remove it and a new token is generated`);
  const token = readFileSync(file, 'utf8').trim();
  if (!/^[\x21-\x7e]{16,}$/.test(token)) fail(file, 'does not hold a token of at least 16 printable characters; remove it and a new token is generated');
  return token;
}

function fail(file: string, why: string): never {
  throw new Error(`${file} ${why}`);
}
