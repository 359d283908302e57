// Lists from URLs: downloaded into dataDir with ETag / If-Modified-Since,
// size-limited, written atomically, refreshed on their interval with
// back-off on failure. The daemon starts from the copies on disk (a restart
// without network still blocks) and refreshes in the background.

import { mkdirSync, existsSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RemoteListSpec } from './config/lists.js';
import type { Logger } from '../shared/logger.js';

interface Meta {
  url: string;
  etag?: string;
  lastModified?: string;
}

export type FetchResult = 'changed' | 'unchanged' | 'failed';

const FIRST_RETRY_MS = 30_000;
const TIMEOUT_MS = 30_000;

/** Every list gets a file to load: its last download, or an empty one until the first download lands. */
export function prepareRemoteLists(specs: readonly RemoteListSpec[], log: Logger): void {
  for (const spec of specs) {
    if (existsSync(spec.file)) continue;
    mkdirSync(dirname(spec.file), { recursive: true });
    writeFileSync(spec.file, '');
    log.warn({ list: spec.name, url: spec.url }, 'no copy of this list on disk yet: it blocks nothing until the first download');
  }
}

export class RemoteLists {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly failures = new Map<string, number>();
  private stopped = false;

  constructor(
    private readonly specs: readonly RemoteListSpec[],
    private readonly log: Logger,
    /** Called after a download changed a list's file. */
    private readonly onChange: () => void,
    private readonly retryMs = FIRST_RETRY_MS,
  ) {}

  /** Schedules each list's next refresh: now when its copy is older than its interval (or empty), else when it will be. */
  start(): void {
    for (const spec of this.specs) {
      const stat = statSync(spec.file);
      const age = Date.now() - stat.mtimeMs;
      this.schedule(spec, stat.size === 0 ? 0 : Math.max(0, spec.refresh * 1000 - age));
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private schedule(spec: RemoteListSpec, ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timers.get(spec.name));
    this.timers.set(
      spec.name,
      setTimeout(() => void this.refresh(spec), Math.min(ms, 2 ** 31 - 1)).unref(),
    );
  }

  /** Downloads one list if it changed; on failure retries with doubling back-off, never past its interval. */
  async refresh(spec: RemoteListSpec): Promise<FetchResult> {
    const result = await fetchList(spec).catch((err: Error) => {
      this.log.warn({ list: spec.name, url: spec.url, err: err.message }, 'list download failed; keeping the copy on disk');
      return 'failed' as const;
    });
    if (result === 'failed') {
      const failures = (this.failures.get(spec.name) ?? 0) + 1;
      this.failures.set(spec.name, failures);
      this.schedule(spec, Math.min(this.retryMs * 2 ** (failures - 1), spec.refresh * 1000));
      return result;
    }
    this.failures.delete(spec.name);
    this.schedule(spec, spec.refresh * 1000);
    if (result === 'changed') {
      this.log.info({ list: spec.name, url: spec.url }, 'list downloaded');
      this.onChange();
    }
    return result;
  }
}

function readMeta(spec: RemoteListSpec): Meta | undefined {
  try {
    const meta = JSON.parse(readFileSync(`${spec.file}.meta.json`, 'utf8')) as Meta;
    return meta.url === spec.url ? meta : undefined; // a new URL starts afresh
  } catch {
    return undefined;
  }
}

/** One conditional download, written to disk only when complete and within the size limit. */
export async function fetchList(spec: RemoteListSpec): Promise<FetchResult> {
  const meta = readMeta(spec);
  const headers: Record<string, string> = {};
  const hasCopy = existsSync(spec.file) && statSync(spec.file).size > 0;
  if (meta?.etag && hasCopy) headers['if-none-match'] = meta.etag;
  if (meta?.lastModified && hasCopy) headers['if-modified-since'] = meta.lastModified;
  const res = await fetch(spec.url, { headers, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'follow' });
  if (res.status === 304) {
    const now = new Date();
    utimesSync(spec.file, now, now); // fresh again: the next refresh is a full interval away
    return 'unchanged';
  }
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} ${res.statusText}`);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > spec.maxBytes) throw new Error(`list is ${declared} bytes, over its maxSize of ${spec.maxBytes} bytes`);
  const chunks: Uint8Array[] = [];
  let received = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    received += chunk.length;
    if (received > spec.maxBytes) throw new Error(`list is over its maxSize of ${spec.maxBytes} bytes`);
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  mkdirSync(dirname(spec.file), { recursive: true });
  const changed = !hasCopy || !body.equals(readFileSync(spec.file));
  const temp = `${spec.file}.tmp`;
  writeFileSync(temp, body);
  renameSync(temp, spec.file); // atomic: a reload never reads half a list
  const next: Meta = { url: spec.url, etag: res.headers.get('etag') ?? undefined, lastModified: res.headers.get('last-modified') ?? undefined };
  writeFileSync(`${spec.file}.meta.json`, JSON.stringify(next));
  return changed ? 'changed' : 'unchanged';
}
