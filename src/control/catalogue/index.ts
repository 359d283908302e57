// The AI-service catalogue: load and validate blocklists/, compile services
// to matcher lists, resolve policy selectors, render docs/catalogue.md,
// signed bundles for updates between releases.

export { CatalogueError, DEFAULT_CATALOGUE_DIR, catalogueFromFiles, loadCatalogue, packageVersion, parseCatalogue, readCatalogueDir, readCatalogueFiles } from './load.js';
export type { Catalogue, CatalogueDomain, CatalogueFile, CatalogueFiles, CatalogueInfo, CatalogueIssue, Service } from './load.js';
export { catalogueCountries, catalogueLists, catalogueVendors, resolveSelector, serviceListName, vendorId } from './select.js';
export type { Country, Vendor } from './select.js';
export { catalogueDocBlocks, docBlock, renderServiceTable, renderSummary, replaceDocBlock } from './table.js';
