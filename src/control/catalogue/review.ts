// Review aids: which service covers a name, and which catalogue names rest
// on a single source (listed in blocklists/README.md until a second source
// confirms them). Used by `npm run catalogue:candidates` and its test.

import type { Catalogue, Service } from './load.js';

/** The service whose entry covers `name` (the name itself, or a suffix entry above it), if any. */
export function coveringService(cat: Catalogue, name: string): Service | undefined {
  for (const s of cat.services) {
    for (const d of s.domains) {
      if (d.name === name || (!d.exact && name.endsWith(`.${d.name}`))) return s;
    }
  }
  return undefined;
}

export interface SingleSourceName {
  service: string;
  name: string;
  exact: boolean;
  sources: string[];
}

/**
 * Names whose sources all share one origin (`v2fly:a, v2fly:b` is one),
 * other than the vendor's own documentation, which is authoritative alone.
 */
export function singleSourceNames(cat: Catalogue): SingleSourceName[] {
  const out: SingleSourceName[] = [];
  for (const s of cat.services) {
    for (const d of s.domains) {
      const origins = new Set(d.sources.map((src) => src.split(':')[0]));
      if (origins.size === 1 && !origins.has('vendor-docs')) out.push({ service: s.id, name: d.name, exact: d.exact, sources: d.sources });
    }
  }
  return out.sort((a, b) => a.service.localeCompare(b.service) || a.name.localeCompare(b.name));
}

export const SINGLE_START = '<!-- single-source:start -->';
export const SINGLE_END = '<!-- single-source:end -->';

/** The Markdown list for blocklists/README.md, one line per service. */
export function singleSourceBlock(cat: Catalogue): string {
  const byService = new Map<string, SingleSourceName[]>();
  for (const n of singleSourceNames(cat)) byService.set(n.service, [...(byService.get(n.service) ?? []), n]);
  const lines = [...byService].map(
    ([service, names]) => `- \`${service}\`: ${names.map((n) => `\`${n.name}\` (${[...new Set(n.sources)].join(', ')})`).join(', ')}`,
  );
  return lines.join('\n') + '\n';
}

/** The README with the single-source block replaced; undefined when a marker is missing. */
export function replaceSingleSourceBlock(readme: string, block: string): string | undefined {
  const start = readme.indexOf(SINGLE_START);
  const end = readme.indexOf(SINGLE_END, start);
  if (start < 0 || end < 0) return undefined;
  return `${readme.slice(0, start + SINGLE_START.length)}\n${block}${readme.slice(end)}`;
}
