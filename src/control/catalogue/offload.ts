// What a reload reads besides the lists, read off the query loop.
import type { Catalogue } from './index.js';
import { JobRunner, siblingModule } from '../../thread/run.js';

const worker = new JobRunner(siblingModule(import.meta.url, 'catalogue-job'));

/** loadCatalogue() in a worker thread: the same catalogue and the same errors, without parsing YAML on the query loop. */
export async function loadCatalogueOffThread(dir?: string): Promise<Catalogue> {
  const { data, tags } = await worker.run<{ data: Omit<Catalogue, 'tags'>; tags: string[] }>(dir);
  return { ...data, tags: () => [...tags] };
}
