// The catalogue as Markdown, for docs/catalogue.md: the countries and kinds
// with their counts, and one row per service. Each goes between a pair of
// markers (`<!-- NAME:start -->` … `<!-- NAME:end -->`) so the prose around
// them stays hand-written.

import type { Catalogue } from './load.js';
import { KIND_TAGS, UNKNOWN_COUNTRY } from './schema.js';
import { catalogueCountries } from './select.js';

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** One row per service, sorted by country then id; exact hosts are marked. */
export function renderServiceTable(cat: Catalogue): string {
  const rows = [...cat.services]
    .sort((a, b) => a.country.localeCompare(b.country) || a.id.localeCompare(b.id))
    .map((s) => {
      const names = s.domains.map((d) => `\`${d.name}\`${d.exact ? ' (exact)' : ''}`).join(', ');
      return `| ${cell(s.name)} (\`${s.id}\`) | ${cell(s.vendor)} | ${s.country} | ${s.tags.join(', ')} | ${names} |`;
    });
  return ['| Service | Vendor | Country | Tags | Names |', '|---|---|---|---|---|', ...rows].join('\n') + '\n';
}

/** The totals, then one row per country (`tag:CODE`) and per kind tag, with how many generative-AI services each selects. */
export function renderSummary(cat: Catalogue): string {
  const genai = cat.services.filter((s) => s.tags.includes('genai'));
  const names = genai.reduce((n, s) => n + s.domains.length, 0);
  const countries = catalogueCountries(cat);
  const unknown = countries.find((c) => c.code === UNKNOWN_COUNTRY)?.services.length ?? 0;
  const known = countries.length - (unknown > 0 ? 1 : 0);
  const out = [
    `${genai.length} generative-AI services with ${names} names, from vendors in ${known} countries` +
      (unknown > 0 ? ` and ${unknown} whose country is not known (\`tag:${UNKNOWN_COUNTRY}\`)` : '') +
      '; ' +
      `${cat.services.length - genai.length} DoH-bypass entries (\`tag:doh-bypass\`). Latest review: ${cat.info.reviewed}.`,
    '',
    '| Country | Selector | Services |',
    '|---|---|---:|',
    ...countries.map((c) => `| ${c.name} | \`tag:${c.code}\` | ${c.services.length} |`),
    '',
    '| Kind | Selector | Services |',
    '|---|---|---:|',
    ...KIND_TAGS.map((k) => `| ${k} | \`tag:${k}\` | ${genai.filter((s) => s.tags.includes(k)).length} |`),
  ];
  return out.join('\n') + '\n';
}

const markers = (name: string) => [`<!-- ${name}:start -->`, `<!-- ${name}:end -->`] as const;

/** The text between a document's NAME markers, or undefined if a marker is missing. */
export function docBlock(doc: string, name: string): string | undefined {
  const [open, close] = markers(name);
  const start = doc.indexOf(open);
  const end = doc.indexOf(close, start);
  return start < 0 || end < 0 ? undefined : doc.slice(start + open.length, end);
}

/** The document with the block between its NAME markers replaced by `content`; undefined if a marker is missing. */
export function replaceDocBlock(doc: string, name: string, content: string): string | undefined {
  const block = docBlock(doc, name);
  if (block === undefined) return undefined;
  const start = doc.indexOf(markers(name)[0]) + markers(name)[0].length;
  return `${doc.slice(0, start)}\n${content}${doc.slice(start + block.length)}`;
}

/** The generated blocks of docs/catalogue.md, by marker name. */
export function catalogueDocBlocks(cat: Catalogue): Record<string, string> {
  return { summary: renderSummary(cat), services: renderServiceTable(cat) };
}
