// The `lists` section: the admin's own lists, from files or from URLs. A
// URL list is kept in `dataDir` so that a restart without network still
// blocks; the matcher only ever reads files.

import { join as joinPath, resolve } from 'node:path';
import type { ListFormat, ListSpec } from '../../match/types.js';
import { ConfigError, boolean, duration, isPlainObject, join, object, oneOf, size, string } from './check.js';

export interface RemoteListSpec {
  name: string;
  url: string;
  /** Where the last good download is kept (the list's `source` as the matcher sees it). */
  file: string;
  /** Seconds between refreshes. */
  refresh: number;
  maxBytes: number;
}

const FORMATS: readonly (ListFormat | 'auto')[] = ['auto', 'hosts', 'domains', 'wildcard', 'adblock', 'dnsmasq', 'rpz'];
const LIST_NAME = /^[a-z0-9][a-z0-9_.-]*$/i;
const KEYS = ['source', 'format', 'exact', 'allow', 'refresh', 'maxSize'];

export function listsSection(value: unknown, baseDir: string, dataDir: string): { lists: ListSpec[]; remote: RemoteListSpec[] } {
  const lists: ListSpec[] = [];
  const remote: RemoteListSpec[] = [];
  if (value === undefined || value === null) return { lists, remote };
  if (!isPlainObject(value)) throw new ConfigError('lists', value, 'is not a mapping of list names to { source, format, exact, allow }');
  for (const [name, body] of Object.entries(value)) {
    const path = join('lists', name);
    if (!LIST_NAME.test(name)) throw new ConfigError(path, name, 'is not a usable list name; use letters, digits, "-", "_" and "."');
    const spec = object(path, body, KEYS);
    const source = string(join(path, 'source'), spec.source);
    const isUrl = /^https?:\/\//i.test(source);
    if (isUrl) {
      try {
        new URL(source);
      } catch {
        throw new ConfigError(join(path, 'source'), source, 'is not a valid URL, e.g. https://example.org/hosts.txt');
      }
    } else {
      for (const key of ['refresh', 'maxSize']) {
        if (spec[key] !== undefined) throw new ConfigError(join(path, key), spec[key], 'applies only to lists whose source is an http(s) URL; a file list is reloaded when it changes');
      }
    }
    const file = isUrl ? joinPath(dataDir, 'lists', `${name}.txt`) : resolve(baseDir, source);
    lists.push({
      name,
      source: file,
      format: spec.format === undefined ? 'auto' : oneOf(join(path, 'format'), spec.format, FORMATS),
      exact: spec.exact === undefined ? false : boolean(join(path, 'exact'), spec.exact),
      allow: spec.allow === undefined ? false : boolean(join(path, 'allow'), spec.allow),
    });
    if (isUrl) {
      remote.push({
        name,
        url: source,
        file,
        refresh: spec.refresh === undefined ? 86400 : duration(join(path, 'refresh'), spec.refresh, 1, 30 * 86400),
        maxBytes: spec.maxSize === undefined ? 64 * 1024 * 1024 : size(join(path, 'maxSize'), spec.maxSize),
      });
    }
  }
  return { lists, remote };
}
