// The packaged catalogue as `npm run build` validated it: dist/catalogue.json
// (scripts/build-catalogue.mjs). Parsing blocklists/'s 1,400 YAML files takes
// 0.4-0.8 s of a start's CPU (a cold start's catalogue phase; its thread
// JIT-compiles the YAML parser first); reading this file takes ~5 ms. It is
// used only while blocklists/ holds exactly the files it was built from: the
// key hashes the package version and every file's name and content (read
// at each load, ~25 ms: no time stamp is trusted, so a tarball's or an
// image's rewritten times change nothing, and an edit made in place is
// seen). Any difference, a missing or damaged file: the YAML is parsed as
// before, with its errors.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Catalogue, CatalogueFiles, CatalogueInfo, Service } from './types.js';

/** Raised with any change of the file's shape or meaning. */
export const PREBUILT_FORMAT = 1;

/** dist/catalogue.json (dist/control/catalogue/ is two levels below dist/). From the sources there is none: tests parse the YAML. */
export const PREBUILT_FILE = fileURLToPath(new URL('../../catalogue.json', import.meta.url));

interface Prebuilt {
  format: number;
  key: string;
  /** `file` (the service's and each domain's) relative to the catalogue's directory. */
  services: Service[];
  info: CatalogueInfo;
  tags: string[];
}

/** The catalogue built from exactly `read`'s files, with paths in `read.dir`; null when there is none (or another, or a damaged one). */
export function prebuiltCatalogue(read: CatalogueFiles, path = PREBUILT_FILE): Catalogue | null {
  let built: Prebuilt;
  try {
    built = JSON.parse(readFileSync(path, 'utf8')) as Prebuilt;
  } catch {
    return null;
  }
  if (built?.format !== PREBUILT_FORMAT || built.key !== read.key || !Array.isArray(built.services) || !Array.isArray(built.tags)) return null;
  const at = (file: string) => join(read.dir, file);
  const services = built.services.map((s) => ({ ...s, file: at(s.file), domains: s.domains.map((d) => ({ ...d, file: at(d.file) })) }));
  const tags = built.tags;
  return { services, info: built.info, tags: () => [...tags] };
}

/**
 * Writes `catalogue`, validated from `read`'s files as they are (paths
 * relative to their directory), for prebuiltCatalogue: to a temporary file
 * renamed over the old one.
 */
export function writePrebuiltCatalogue(read: CatalogueFiles, catalogue: Catalogue, path = PREBUILT_FILE): void {
  const built: Prebuilt = { format: PREBUILT_FORMAT, key: read.key, services: catalogue.services, info: catalogue.info, tags: catalogue.tags() };
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(built));
  renameSync(temp, path);
}
