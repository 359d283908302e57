// The `catalogue` section: where signed catalogue updates come from, how
// often to look, and the key they must be signed with. Without it aifence
// uses the catalogue it was shipped with.

import { readFileSync } from 'node:fs';
import { join as joinPath, resolve } from 'node:path';
import { BundleError, parsePublicKey, publicKeyText } from '../catalogue/bundle.js';
import { ConfigError, duration, object, string } from './check.js';

export interface CatalogueUpdateConfig {
  /** An http(s) URL serving a bundle made by `aifence catalogue pack --sign`. */
  url: string;
  /** Seconds between checks. */
  refresh: number;
  /** The Ed25519 public key, raw 32 bytes in base64 (normalised from whatever form was written). */
  publicKey: string;
  /** Where the last good bundle is kept, in dataDir. */
  file: string;
}

export function catalogueSection(value: unknown, baseDir: string, dataDir: string): CatalogueUpdateConfig | undefined {
  if (value === undefined || value === null) return undefined;
  const section = object('catalogue', value, ['source', 'refresh', 'publicKey']);
  const url = string('catalogue.source', section.source);
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol)) {
    throw new ConfigError('catalogue.source', url, 'is not an http(s) URL; point it at a bundle made by `aifence catalogue pack --sign KEY`');
  }
  if (section.publicKey === undefined) {
    throw new ConfigError('catalogue.publicKey', undefined, 'is required with catalogue.source: the Ed25519 key bundles must be signed with (printed by `aifence catalogue keygen`)');
  }
  const written = string('catalogue.publicKey', section.publicKey);
  return {
    url,
    refresh: section.refresh === undefined ? 86400 : duration('catalogue.refresh', section.refresh, 1, 30 * 86400),
    publicKey: readKey(written, baseDir),
    file: joinPath(dataDir, 'catalogue.bundle.json'),
  };
}

/** Raw base64 or PEM inline, or a path (relative to the config) to a PEM file. */
function readKey(written: string, baseDir: string): string {
  let text = written;
  const inline = written.trim().startsWith('-----BEGIN') || /^[A-Za-z0-9+/]{43}=$/.test(written.trim());
  if (!inline) {
    try {
      text = readFileSync(resolve(baseDir, written), 'utf8');
    } catch (err) {
      throw new ConfigError('catalogue.publicKey', written, `is neither a base64 Ed25519 key nor a readable PEM file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  try {
    return publicKeyText(parsePublicKey(text));
  } catch (err) {
    if (err instanceof BundleError) throw new ConfigError('catalogue.publicKey', written, err.message);
    throw err;
  }
}
