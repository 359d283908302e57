// Worker entry: reads and validates the AI-service catalogue (~100 YAML
// files: 40–150 ms of parsing) off the query loop. Answers with the
// catalogue's data; tags() is a function, so its value goes instead.
import { loadCatalogue } from './index.js';
import { serveJobs } from '../../thread/run.js';

serveJobs((dir: string | undefined) => {
  const { tags, ...data } = loadCatalogue(dir);
  return { data, tags: tags() };
});
