// What a reload reads besides the lists, read off the query loop.
import type { Catalogue } from './index.js';
import { JobRunner, siblingModule } from '../../thread/run.js';

const worker = new JobRunner(siblingModule(import.meta.url, 'catalogue-job'));

/**
 * loadCatalogue() in a worker thread: the same catalogue and the same errors, without parsing YAML on the query loop.
 * `retire`: end the thread right after (at start-up, so that its heap is gone before the lists compile).
 */
export async function loadCatalogueOffThread(dir?: string, options: { retire?: boolean } = {}): Promise<Catalogue> {
  const { data, tags } = await worker.run<{ data: Omit<Catalogue, 'tags'>; tags: string[] }>(dir, options);
  return { ...data, tags: () => [...tags] };
}
