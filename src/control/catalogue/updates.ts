// Catalogue updates between releases: fetch a signed bundle from
// `catalogue.source`, verify it before anything uses it, keep it as the last
// good copy in dataDir, and serve it until a newer one verifies. Anything
// wrong (no network, tampered, other key, expired, older than the one in
// use, invalid) is refused, logged and counted; what was serving keeps
// serving, and with no good bundle at all, the packaged catalogue does.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CatalogueUpdateConfig } from '../config/catalogue.js';
import type { Logger } from '../../shared/logger.js';
import { BundleError, MAX_BUNDLE_BYTES, openBundle } from './bundle.js';
import type { Catalogue, CatalogueInfo } from './load.js';

const TIMEOUT_MS = 30_000;
const FIRST_RETRY_MS = 60_000;

/** What /readyz and `aifence services` show about the catalogue in use and its updates. */
export interface CatalogueStatus extends CatalogueInfo {
  services: number;
  /** The update source, when one is configured. */
  source?: string;
  lastCheck?: string;
  /** Why the last fetched bundle was refused or the fetch failed; cleared by the next success. */
  lastError?: string;
  /** Why the copy on disk was refused at start (edited, or signed with another key). */
  copyRefused?: string;
}

export type UpdateResult = 'updated' | 'unchanged' | 'refused' | 'failed';

export class CatalogueUpdates {
  private bundle: Catalogue | undefined;
  private etag: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  private lastCheck: string | undefined;
  private lastError: string | undefined;
  private copyRefused: string | undefined;
  private readonly key: KeyObject | undefined;
  private inFlight: AbortController | undefined;
  readonly results = new Map<UpdateResult, number>();

  constructor(
    private readonly config: CatalogueUpdateConfig | undefined,
    /** The catalogue shipped with aifence (re-read on every reload). */
    private readonly packaged: () => Catalogue,
    private readonly log: Logger,
    /** Called when a new bundle was accepted: the daemon reloads. */
    private readonly onChange: () => void = () => undefined,
    private readonly clock: () => number = Date.now,
    private readonly retryMs = FIRST_RETRY_MS,
  ) {
    if (!config) return;
    this.key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(config.publicKey, 'base64').toString('base64url') }, format: 'jwk' });
    this.bundle = this.readLastGood();
  }

  /** The catalogue to build the filter from: the verified bundle, else the packaged one. */
  current(): Catalogue {
    return this.bundle ?? this.packaged();
  }

  /** `inUse`: the catalogue the live filter was built from (reading the packaged one again per probe would cost a disk scan). */
  status(inUse: Catalogue): CatalogueStatus {
    const cat = inUse;
    return {
      ...cat.info,
      services: cat.services.length,
      ...(this.config ? { source: this.config.url, lastCheck: this.lastCheck, lastError: this.lastError, copyRefused: this.copyRefused } : {}),
    };
  }

  /** The copy on disk is trusted only as far as its signature: a file edited by hand is refused. */
  private readLastGood(): Catalogue | undefined {
    const { file } = this.config!;
    if (!existsSync(file)) return undefined;
    try {
      const cat = openBundle(readFileSync(file), this.key!, { now: this.clock(), acceptStale: true });
      this.log.info({ file, version: cat.info.version, created: cat.info.created, expires: cat.info.expires }, 'catalogue: using the last good bundle on disk');
      return cat;
    } catch (err) {
      this.copyRefused = `${file}: ${(err as Error).message}`;
      this.log.error({ file, err: (err as Error).message }, 'catalogue: the bundle on disk is refused; using the packaged catalogue');
      return undefined;
    }
  }

  start(): void {
    if (!this.config) return;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.inFlight?.abort();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), Math.min(ms, 2 ** 31 - 1)).unref();
  }

  /** One check of the source; then the next is scheduled (sooner, doubling, after a failure). */
  async refresh(): Promise<UpdateResult> {
    const config = this.config!;
    const result = await this.fetchOnce(config).catch((err: Error) => {
      if (this.stopped) return 'failed' as const; // aborted by stop(): nothing to report
      this.lastError = err.message;
      const refused = err instanceof BundleError;
      this.log.warn({ url: config.url, err: err.message }, refused ? 'catalogue bundle refused; still serving the last good catalogue' : 'catalogue download failed; still serving the last good catalogue');
      return refused ? ('refused' as const) : ('failed' as const);
    });
    this.lastCheck = new Date(this.clock()).toISOString();
    this.results.set(result, (this.results.get(result) ?? 0) + 1);
    if (result === 'failed' || result === 'refused') {
      this.failures++;
      this.schedule(Math.min(this.retryMs * 2 ** (this.failures - 1), config.refresh * 1000));
    } else {
      this.failures = 0;
      this.lastError = undefined;
      this.schedule(config.refresh * 1000);
    }
    if (result === 'updated' && !this.stopped) this.onChange();
    return result;
  }

  private async fetchOnce(config: CatalogueUpdateConfig): Promise<UpdateResult> {
    const headers: Record<string, string> = this.etag && this.bundle ? { 'if-none-match': this.etag } : {};
    this.inFlight = new AbortController();
    const signal = AbortSignal.any([this.inFlight.signal, AbortSignal.timeout(TIMEOUT_MS)]);
    const res = await fetch(config.url, { headers, signal, redirect: 'follow' });
    if (res.status === 304) return 'unchanged';
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > MAX_BUNDLE_BYTES) throw new BundleError(`is ${declared} bytes, over the ${MAX_BUNDLE_BYTES}-byte limit`);
    const chunks: Uint8Array[] = [];
    let received = 0;
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      received += chunk.length;
      if (received > MAX_BUNDLE_BYTES) throw new BundleError(`is over the ${MAX_BUNDLE_BYTES}-byte limit`);
      chunks.push(chunk);
    }
    const body = Buffer.concat(chunks);
    if (this.bundle && existsSync(config.file) && body.equals(readFileSync(config.file))) return 'unchanged';
    const cat = openBundle(body, this.key!, { now: this.clock(), notBefore: this.bundle?.info.created });
    mkdirSync(dirname(config.file), { recursive: true });
    const temp = `${config.file}.tmp`;
    writeFileSync(temp, body);
    renameSync(temp, config.file); // atomic: a restart reads the old bundle or the new, never half of one
    this.etag = res.headers.get('etag') ?? undefined;
    this.bundle = cat;
    this.log.info({ url: config.url, version: cat.info.version, services: cat.services.length, expires: cat.info.expires }, 'catalogue bundle accepted');
    return 'updated';
  }
}

/**
 * The catalogue a daemon with this config would start from, for the CLI
 * (`services`, and `check` / `lists` when they should see updates): the
 * verified bundle in dataDir, else the packaged catalogue.
 */
export function catalogueInUse(config: CatalogueUpdateConfig | undefined, packaged: () => Catalogue, log: Logger): { catalogue: Catalogue; status: CatalogueStatus } {
  const updates = new CatalogueUpdates(config, packaged, log);
  const catalogue = updates.current();
  return { catalogue, status: updates.status(catalogue) };
}

/** What the metrics read when scraped: the catalogue in use, and the update checks so far. */
export interface CatalogueMetricsSource {
  status(): CatalogueStatus;
  results(): ReadonlyMap<UpdateResult, number>;
}

/** Catalogue metrics on the daemon's registry: what is in use, and how updates went. */
export function registerCatalogueMetrics(registry: Registry, source: CatalogueMetricsSource): void {
  new Gauge({
    name: 'aifence_catalogue_info',
    help: 'The catalogue in use (value 1): origin (packaged or bundle), version, latest review date',
    labelNames: ['origin', 'version', 'reviewed'],
    registers: [registry],
    collect() {
      this.reset();
      const s = source.status();
      this.set({ origin: s.origin, version: s.version, reviewed: s.reviewed }, 1);
    },
  });
  new Gauge({
    name: 'aifence_catalogue_services',
    help: 'Services in the catalogue in use',
    registers: [registry],
    collect() {
      this.set(source.status().services);
    },
  });
  new Gauge({
    name: 'aifence_catalogue_expires_timestamp_seconds',
    help: 'When the bundle in use stops being accepted from the source (alert before it passes); absent for the packaged catalogue',
    registers: [registry],
    collect() {
      this.reset();
      const { expires } = source.status();
      if (expires) this.set(Date.parse(expires) / 1000);
    },
  });
  new Counter({
    name: 'aifence_catalogue_updates_total',
    help: 'Catalogue update checks by result (updated, unchanged, refused, failed)',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [result, n] of source.results()) this.inc({ result }, n);
    },
  });
}
