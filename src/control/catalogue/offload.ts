// What a reload reads besides the lists, read off the query loop.
import type { Catalogue, CatalogueFiles } from './index.js';
import { prebuiltCatalogue } from './prebuilt.js';
import { JobRunner, siblingModule } from '../../thread/run.js';

const worker = new JobRunner(siblingModule(import.meta.url, 'catalogue-job'));

/** The packaged catalogue, and the key of the files it was read from (a snapshot names it by that). */
export interface PackagedCatalogue {
  catalogue: Catalogue;
  key: string;
}

/**
 * loadCatalogue() of the package's catalogue in a worker thread: the same
 * catalogue and the same errors, without parsing YAML on the query loop.
 * `files`: its files, just read on this thread: when the build's catalogue
 * (dist/catalogue.json) is of exactly those, it is taken here, with no
 * thread. `retire`: end the thread right after (at start-up, so that its
 * heap is gone before the lists compile).
 */
export async function loadPackagedCatalogue(files?: CatalogueFiles, options: { retire?: boolean } = {}): Promise<PackagedCatalogue> {
  const built = files === undefined ? null : prebuiltCatalogue(files);
  if (built !== null) return { catalogue: built, key: files!.key };
  const { data, tags, key } = await worker.run<{ data: Omit<Catalogue, 'tags'>; tags: string[]; key: string }>(undefined, options);
  return { catalogue: { ...data, tags: () => [...tags] }, key };
}
