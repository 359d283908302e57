// The catalogue as a Markdown table, for the README.

import type { Catalogue } from './load.js';

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

export const TABLE_START = '<!-- services:start -->';
export const TABLE_END = '<!-- services:end -->';

/** The text between the README's markers, or undefined if a marker is missing. */
export function readmeBlock(readme: string): string | undefined {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END, start);
  return start < 0 || end < 0 ? undefined : readme.slice(start + TABLE_START.length, end);
}

/** The README with the block between the markers replaced by `table`; undefined if a marker is missing. */
export function replaceReadmeBlock(readme: string, table: string): string | undefined {
  const block = readmeBlock(readme);
  if (block === undefined) return undefined;
  const start = readme.indexOf(TABLE_START) + TABLE_START.length;
  return `${readme.slice(0, start)}\n${table}${readme.slice(start + block.length)}`;
}
