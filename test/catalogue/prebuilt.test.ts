// The packaged catalogue as the build wrote it (dist/catalogue.json) is
// exactly what its YAML gives, and is taken only for the very files it was
// built from: a byte changed in place (same size, same time), a file added
// or renamed, a damaged or older file, and the YAML is parsed instead.

import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type Catalogue, DEFAULT_CATALOGUE_DIR, catalogueFromFiles, packageVersion, parseCatalogue, readCatalogueFiles } from '../../src/control/catalogue/index.js';
import { PREBUILT_FORMAT, prebuiltCatalogue, writePrebuiltCatalogue } from '../../src/control/catalogue/prebuilt.js';

const BUILT = fileURLToPath(new URL('../../dist/catalogue.json', import.meta.url));

const asData = (c: Catalogue) => ({ services: c.services, info: c.info, tags: c.tags() });

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A catalogue directory of the first `n` packaged files, and a prebuilt file of it (as the build writes one). */
function smallCatalogue(n = 5): { dir: string; prebuilt: string } {
  const dir = mkdtempSync(join(tmpdir(), 'aifence-prebuilt-'));
  dirs.push(dir);
  for (const f of readdirSync(join(DEFAULT_CATALOGUE_DIR, 'ai')).sort().slice(0, n)) copyFileSync(join(DEFAULT_CATALOGUE_DIR, 'ai', f), join(dir, f));
  const prebuilt = join(dir, 'catalogue.json');
  const read = readCatalogueFiles(dir);
  writePrebuiltCatalogue(read, catalogueFromFiles(read.files, { origin: 'packaged', version: packageVersion() }, dir), prebuilt);
  return { dir, prebuilt };
}

describe('the prebuilt packaged catalogue', () => {
  it('that npm run build wrote is the catalogue its YAML gives, paths and all', () => {
    expect(existsSync(BUILT), `${BUILT} is missing: npm run build writes it`).toBe(true);
    const read = readCatalogueFiles();
    const built = prebuiltCatalogue(read, BUILT);
    expect(built, 'dist/catalogue.json is of other files than blocklists/: npm run build').not.toBeNull();
    expect(asData(built!)).toEqual(asData(parseCatalogue(read)));
    expect(built!.services[0].file.startsWith(DEFAULT_CATALOGUE_DIR)).toBe(true);
  });

  it('puts the files in the directory it is read from', () => {
    const { dir, prebuilt } = smallCatalogue();
    const read = readCatalogueFiles(dir);
    const built = prebuiltCatalogue(read, prebuilt);
    expect(built).not.toBeNull();
    expect(asData(built!)).toEqual(asData(parseCatalogue(read)));
    expect(built!.services[0].file).toBe(join(dir, readdirSync(dir).sort()[0]));
  });

  it('is not taken when a byte of a file changed in place (same size, same time)', () => {
    const { dir, prebuilt } = smallCatalogue();
    const file = join(dir, readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()[0]);
    const { mtime, size } = statSync(file);
    const text = readFileSync(file, 'utf8');
    const i = text.indexOf('name: ') + 6;
    writeFileSync(file, text.slice(0, i) + (text[i] === 'X' ? 'Y' : 'X') + text.slice(i + 1));
    utimesSync(file, mtime, mtime);
    expect(statSync(file).size).toBe(size);
    expect(prebuiltCatalogue(readCatalogueFiles(dir), prebuilt)).toBeNull();
  });

  it('is not taken when a file was added or renamed', () => {
    const { dir, prebuilt } = smallCatalogue();
    const first = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()[0];
    renameSync(join(dir, first), join(dir, `z-${first}`));
    expect(prebuiltCatalogue(readCatalogueFiles(dir), prebuilt)).toBeNull();
    renameSync(join(dir, `z-${first}`), join(dir, first));
    expect(prebuiltCatalogue(readCatalogueFiles(dir), prebuilt)).not.toBeNull();
    copyFileSync(join(DEFAULT_CATALOGUE_DIR, 'doh-bypass.yaml'), join(dir, 'doh-bypass.yaml'));
    expect(prebuiltCatalogue(readCatalogueFiles(dir), prebuilt)).toBeNull();
  });

  it('is not taken when it is damaged, of another format, or missing', () => {
    const { dir, prebuilt } = smallCatalogue();
    const read = readCatalogueFiles(dir);
    const text = readFileSync(prebuilt, 'utf8');
    writeFileSync(prebuilt, text.replace(`"format":${PREBUILT_FORMAT}`, `"format":${PREBUILT_FORMAT - 1}`));
    expect(prebuiltCatalogue(read, prebuilt)).toBeNull();
    writeFileSync(prebuilt, text);
    truncateSync(prebuilt, Math.floor(text.length / 2));
    expect(prebuiltCatalogue(read, prebuilt)).toBeNull();
    rmSync(prebuilt);
    expect(prebuiltCatalogue(read, prebuilt)).toBeNull();
  });
});
