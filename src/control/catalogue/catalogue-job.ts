// Worker entry: reads and validates the package's AI-service catalogue off
// the query loop: the build's copy (dist/catalogue.json) when the files are
// those it was built from, else ~1,400 YAML files (0.3-0.8 s of parsing).
// Answers with the catalogue's data (tags() is a function, so its value goes
// instead) and the files' key.
import { loadCatalogue, readCatalogueFiles } from './index.js';
import { serveJobs } from '../../thread/run.js';

serveJobs(() => {
  const read = readCatalogueFiles();
  const { tags, ...data } = loadCatalogue(read.dir, read);
  return { data, tags: tags(), key: read.key };
});
