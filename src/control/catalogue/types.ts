// What the catalogue is once read: services, their names, where each came
// from, and the problems found reading it; and its files as read. Shared by
// the reader of one file (read-file.ts), the loader of a directory (load.ts),
// the build's validated copy (prebuilt.ts) and what uses them.

import type { FORCED_ANSWERS } from './schema.js';

export interface CatalogueDomain {
  /** Normalised host name. */
  name: string;
  /** Only the name itself; otherwise the name and all its subdomains. */
  exact: boolean;
  /** Where the name was seen, e.g. `v2fly:deepseek`, `vendor-docs`. */
  sources: string[];
  /** 1-based line of the entry in `file`. */
  line: number;
  file: string;
  /** The entry's line as written, for explanations. */
  text: string;
}

export interface Service {
  id: string;
  name: string;
  vendor: string;
  /** ISO 3166-1 alpha-2, lower case; also usable as a tag (`tag:cn`). */
  country: string;
  tags: string[];
  /** Date of the last review, YYYY-MM-DD. */
  reviewed: string;
  /** Services allowed to claim the same names as this one. */
  shares: string[];
  /** The answer this service's names always get when blocked (the DoH canaries need NXDOMAIN or NODATA to work). */
  answer?: (typeof FORCED_ANSWERS)[number];
  domains: CatalogueDomain[];
  file: string;
  line: number;
}

/** Which catalogue is in use: the one shipped with aifence, or a signed bundle fetched since. */
export interface CatalogueInfo {
  origin: 'packaged' | 'bundle';
  /** The package version, or the bundle's. */
  version: string;
  /** The latest `reviewed` date among the services. */
  reviewed: string;
  /** Bundles only: when it was signed and until when it may be accepted (ISO times). */
  created?: string;
  expires?: string;
}

export interface Catalogue {
  services: Service[];
  info: CatalogueInfo;
  /**
   * Every tag in use, sorted, with the country tags: a generative-AI
   * service's country is also a tag (`cn`). Country tags select only
   * `genai` services, never `doh-bypass` ones (`tag:us` must not take
   * Google Public DNS along with the US AI services).
   */
  tags(): string[];
}

export interface CatalogueIssue {
  file: string;
  line: number;
  /** Path of the offending key, e.g. `services[0].domains[2].name`. */
  key: string;
  message: string;
}

/** One catalogue file: its path (relative to the catalogue's root) and text. */
export interface CatalogueFile {
  path: string;
  text: string;
}

/** A catalogue directory's files as read, and their key. */
export interface CatalogueFiles {
  dir: string;
  files: CatalogueFile[];
  /** SHA-256 of the package version and every file's name and content: what tells that a catalogue changed. */
  key: string;
}
