// Reads and validates the AI-service catalogue (blocklists/**/*.yaml).
// Every problem is collected and reported together, each naming the file,
// the line, the key, the bad value and what would be right, so a reviewer
// fixes a pull request in one pass.

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFile } from './read-file.js';
import { prebuiltCatalogue } from './prebuilt.js';
import { closest } from '../../text/suggest.js';
import type { Catalogue, CatalogueDomain, CatalogueFile, CatalogueFiles, CatalogueInfo, CatalogueIssue, Service } from './types.js';

export type { Catalogue, CatalogueDomain, CatalogueFile, CatalogueFiles, CatalogueInfo, CatalogueIssue, Service };

export class CatalogueError extends Error {
  constructor(readonly issues: CatalogueIssue[]) {
    super(
      `catalogue has ${issues.length} problem${issues.length === 1 ? '' : 's'}:\n` +
        issues.map((i) => `  ${i.file}:${i.line}: ${i.key}: ${i.message}`).join('\n'),
    );
    this.name = 'CatalogueError';
  }
}

/** The package's own blocklists/: `src/control/catalogue/` and `dist/catalogue/` both sit two levels below it. */
export const DEFAULT_CATALOGUE_DIR = fileURLToPath(new URL('../../../blocklists/', import.meta.url));

const yamlFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();

/** The .yaml files under `dir`, sorted by path. */
export function readCatalogueDir(dir: string = DEFAULT_CATALOGUE_DIR): CatalogueFile[] {
  return yamlFiles(dir).map((rel) => ({ path: rel.split(sep).join('/'), text: readFileSync(join(dir, rel), 'utf8') }));
}

/**
 * The last catalogue loaded from each directory, with its files' key: every
 * reload asks for the packaged catalogue, which changes only with an
 * upgrade, and reading and hashing its files costs a few tens of ms where
 * checking them again costs hundreds.
 */
const loaded = new Map<string, { key: string; catalogue: Catalogue }>();

/** Reads every catalogue file under `dir` and hashes them (1,400 files: ~25 ms, about what a look at their stats costs). */
export function readCatalogueFiles(dir: string = DEFAULT_CATALOGUE_DIR): CatalogueFiles {
  const files = readCatalogueDir(dir);
  const hash = createHash('sha256').update(`aifence ${packageVersion()}\0`);
  for (const f of files) hash.update(`${f.path}\0${f.text.length}\0`).update(f.text);
  return { dir, files, key: hash.digest('hex') };
}

/** The package's version, which names the packaged catalogue. */
export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(DEFAULT_CATALOGUE_DIR, '..', 'package.json'), 'utf8')) as { version?: string }).version ?? 'packaged';
  } catch {
    return 'packaged';
  }
}

/**
 * The catalogue in `dir`: the one the build validated (dist/catalogue.json)
 * when `dir` is the package's own and holds exactly the files it was built
 * from, else parsed from the YAML files and validated here.
 */
export function loadCatalogue(dir: string = DEFAULT_CATALOGUE_DIR, read: CatalogueFiles = readCatalogueFiles(dir)): Catalogue {
  const last = loaded.get(dir);
  if (last?.key === read.key) return last.catalogue;
  const catalogue = (dir === DEFAULT_CATALOGUE_DIR ? prebuiltCatalogue(read) : null) ?? parseCatalogue(read);
  loaded.set(dir, { key: read.key, catalogue });
  return catalogue;
}

/** The catalogue from its YAML files; problems name the file as found on disk. */
export function parseCatalogue(read: CatalogueFiles): Catalogue {
  return catalogueFromFiles(
    read.files.map((f) => ({ ...f, path: join(read.dir, f.path) })),
    { origin: 'packaged', version: packageVersion() },
    read.dir,
  );
}

/** Validates and assembles a catalogue from files already read (from disk, or from a signed bundle). */
export function catalogueFromFiles(files: CatalogueFile[], info: Omit<CatalogueInfo, 'reviewed'>, where = '(catalogue)'): Catalogue {
  const issues: CatalogueIssue[] = [];
  const services: Service[] = [];
  if (files.length === 0) {
    issues.push({ file: where, line: 0, key: '(catalogue)', message: 'no .yaml files found' });
  }
  for (const f of files) services.push(...readFile(f.path, f.text, issues));
  checkAcrossServices(services, issues);
  if (issues.length > 0) throw new CatalogueError(issues);
  const reviewed = services.reduce((latest, s) => (s.reviewed > latest ? s.reviewed : latest), '');
  return {
    services,
    info: { ...info, reviewed },
    tags: () => [...new Set(services.flatMap((s) => (s.tags.includes('genai') ? [...s.tags, s.country] : s.tags)))].sort(),
  };
}

/** Ids unique; `shares` names real services; no name claimed twice. */
function checkAcrossServices(services: Service[], issues: CatalogueIssue[]): void {
  const byId = new Map<string, Service>();
  for (const s of services) {
    const prev = byId.get(s.id);
    if (prev) {
      issues.push({ file: s.file, line: s.line, key: 'id', message: `'${s.id}' is already the id of a service at ${prev.file}:${prev.line}` });
    } else byId.set(s.id, s);
  }
  for (const s of services) {
    for (const other of s.shares) {
      if (!byId.has(other) || other === s.id) {
        const hint = closest(other, byId.keys());
        issues.push({
          file: s.file,
          line: s.line,
          key: `${s.id}.shares`,
          message: `'${other}' is not another service's id${hint ? `; did you mean '${hint}'?` : ''}`,
        });
      }
    }
  }

  // A name is claimed by a service when one of its entries is that name or
  // a suffix entry above it. Claims must not overlap: with overlapping claims
  // an exception for one service would quietly leave a name of another blocked.
  type Claim = { svc: Service; dom: CatalogueDomain; order: number };
  const byName = new Map<string, Claim[]>();
  let order = 0;
  for (const svc of services) {
    for (const dom of svc.domains) {
      const claims = byName.get(dom.name) ?? [];
      claims.push({ svc, dom, order: order++ });
      byName.set(dom.name, claims);
    }
  }
  const shared = (a: Service, b: Service) => a.shares.includes(b.id) && b.shares.includes(a.id);
  for (const claims of byName.values()) {
    for (const mine of claims) {
      const labels = mine.dom.name.split('.');
      for (let i = 0; i < labels.length - 1; i++) {
        const ancestor = labels.slice(i).join('.');
        for (const theirs of byName.get(ancestor) ?? []) {
          const sameName = i === 0;
          if (theirs === mine || (sameName && theirs.order > mine.order) || (!sameName && theirs.dom.exact)) continue;
          const where = `${theirs.dom.file}:${theirs.dom.line}`;
          const { file, line, name } = mine.dom;
          if (theirs.svc === mine.svc) {
            issues.push({
              file,
              line,
              key: `${mine.svc.id}.domains`,
              message: sameName
                ? `'${name}' is listed twice (also at ${where})`
                : `'${name}' is already covered by '${ancestor}' (${where}); drop it, or make '${ancestor}' exact`,
            });
          } else if (!shared(mine.svc, theirs.svc)) {
            issues.push({
              file,
              line,
              key: `${mine.svc.id}.domains`,
              message:
                `'${name}' is also claimed by service '${theirs.svc.id}' ` +
                `(${sameName ? 'same name' : `suffix '${ancestor}'`} at ${where}); keep it in one service, ` +
                `or add shares: [${theirs.svc.id}] to '${mine.svc.id}' and shares: [${mine.svc.id}] to '${theirs.svc.id}'`,
            });
          }
        }
      }
    }
  }
}
