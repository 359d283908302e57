// The `queryLog` section: whether answered queries are written to a JSON
// lines file, where, how big it may grow before rotating, how many rotated
// files are kept and whether client addresses are truncated.

import { resolve } from 'node:path';
import { ConfigError, boolean, duration, integer, object, oneOf, size, string } from './check.js';

export type QueryLogMode = 'off' | 'blocked' | 'all';

export interface QueryLogConfig {
  /** off: no log; blocked: blocked and refused queries; all: every answered query. */
  mode: QueryLogMode;
  /** Absolute path of the live file; rotated files are path.1 (newest) … path.keep. */
  path: string;
  /** Bytes after which the live file is rotated. */
  maxSize: number;
  /** Rotated files kept. */
  keep: number;
  /** Truncate client addresses to /24 (IPv4) and /56 (IPv6). */
  anonymize: boolean;
  /** Where entries go: the file at `path`, or a PostgreSQL database (postgres://…) shared by a fleet. */
  sink?: { kind: 'file' } | { kind: 'postgres'; url: string };
  /** PostgreSQL sink: rows older than this (seconds) are deleted; default 90 days. */
  retention?: number;
}

const MIN_SIZE = 64 * 1024;

export function queryLogSection(value: unknown, baseDir: string): QueryLogConfig {
  const section = object('queryLog', value, ['mode', 'path', 'maxSize', 'keep', 'anonymize', 'sink', 'retention']);
  const mode = section.mode === undefined ? 'off' : oneOf('queryLog.mode', section.mode, ['off', 'blocked', 'all'] as const);
  const path = resolve(baseDir, section.path === undefined ? 'aifence-queries.jsonl' : string('queryLog.path', section.path));
  const maxSize = section.maxSize === undefined ? 100 * 1024 ** 2 : size('queryLog.maxSize', section.maxSize);
  // Smaller files would rotate many times a second under load.
  if (maxSize < MIN_SIZE) throw new ConfigError('queryLog.maxSize', section.maxSize, 'is under 64KB; write e.g. 10MB or 1GB');
  const keep = section.keep === undefined ? 7 : integer('queryLog.keep', section.keep, 0, 1000);
  const anonymize = section.anonymize === undefined ? false : boolean('queryLog.anonymize', section.anonymize);
  const config: QueryLogConfig = { mode, path, maxSize, keep, anonymize };
  // Only when written: the file sink and the default retention are what an absent key means.
  if (section.sink !== undefined) config.sink = sinkOf(section.sink);
  if (section.retention !== undefined) config.retention = duration('queryLog.retention', section.retention, 3600, 10 * 366 * 86400);
  return config;
}

function sinkOf(value: unknown): QueryLogConfig['sink'] {
  if (value === undefined || value === 'file') return { kind: 'file' };
  const text = string('queryLog.sink', value);
  let url: URL | null = null;
  try {
    url = new URL(text);
  } catch {
    url = null;
  }
  if (!url || (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') || !url.hostname) {
    throw new ConfigError('queryLog.sink', value, 'is not file or a PostgreSQL URL; write e.g. postgres://aifence:PASSWORD@10.0.0.3:5432/aifence');
  }
  return { kind: 'postgres', url: text };
}
