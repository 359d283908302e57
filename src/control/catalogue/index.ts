// The AI-service catalogue: load and validate blocklists/, compile services
// to matcher lists, resolve policy selectors, render the README table,
// signed bundles for updates between releases.

export { CatalogueError, DEFAULT_CATALOGUE_DIR, catalogueFromFiles, loadCatalogue, readCatalogueDir } from './load.js';
export type { Catalogue, CatalogueDomain, CatalogueFile, CatalogueInfo, CatalogueIssue, Service } from './load.js';
export { catalogueLists, catalogueVendors, resolveSelector, serviceListName, vendorId } from './select.js';
export type { Vendor } from './select.js';
export { readmeBlock, renderServiceTable, replaceReadmeBlock } from './table.js';
