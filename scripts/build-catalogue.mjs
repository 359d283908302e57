// `npm run build`, after tsc: validates the packaged catalogue (blocklists/)
// as a start would and writes it to dist/catalogue.json, which a start then
// reads instead of parsing 1,400 YAML files while blocklists/ holds the same
// files (src/control/catalogue/prebuilt.ts). A catalogue with problems fails
// the build with the same report a start would give.
// Plain JavaScript over dist/: it runs where tsx is not installed.

import { rmSync } from 'node:fs';

const { catalogueFromFiles, packageVersion, readCatalogueFiles } = await import('../dist/control/catalogue/load.js');
const { PREBUILT_FILE, writePrebuiltCatalogue } = await import('../dist/control/catalogue/prebuilt.js');

// Never leave a catalogue.json of other files behind (a start would ignore it, but it would mislead a reader).
rmSync(PREBUILT_FILE, { force: true });
const read = readCatalogueFiles();
try {
  // Paths relative to blocklists/: a start puts its own directory in front.
  writePrebuiltCatalogue(read, catalogueFromFiles(read.files, { origin: 'packaged', version: packageVersion() }, read.dir));
} catch (err) {
  process.stderr.write(`aifence build: the packaged catalogue (${read.dir}) cannot be loaded: ${err.message}\n`);
  process.exit(1);
}
