// The AI-service catalogue: load and validate blocklists/, compile services
// to matcher lists, resolve policy selectors, render the README table.

export { CatalogueError, DEFAULT_CATALOGUE_DIR, loadCatalogue } from './load.js';
export type { Catalogue, CatalogueDomain, CatalogueIssue, Service } from './load.js';
export { catalogueLists, resolveSelector, serviceListName } from './select.js';
export { readmeBlock, renderServiceTable, replaceReadmeBlock } from './table.js';
