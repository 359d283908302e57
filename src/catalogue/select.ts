// Turns the catalogue into matcher inputs, and policy selectors into the
// names of the lists they select.

import type { ListInput } from '../match/types.js';
import type { Catalogue } from './load.js';
import { closest } from '../text/suggest.js';

/** The list name a service compiles to. */
export const serviceListName = (id: string): string => `service:${id}`;

/** One in-memory list per service, named `service:ID`. */
export function catalogueLists(cat: Catalogue): ListInput[] {
  return cat.services.map((s) => ({
    spec: { name: serviceListName(s.id), format: 'domains', exact: false, allow: false },
    entries: s.domains.map((d) => ({ name: d.name, line: d.line, exact: d.exact, allow: false, text: d.text })),
  }));
}

/**
 * The list names a policy selector stands for:
 * - `service:ID`: that service's list;
 * - `tag:TAG`: every service with the tag; a country (`tag:cn`) selects the
 *   generative-AI services from there;
 * - `list:NAME`: the admin list NAME, one of `listNames`.
 * Throws on anything else, suggesting the closest valid selector.
 */
export function resolveSelector(sel: string, cat: Catalogue, listNames: string[]): string[] {
  const colon = sel.indexOf(':');
  const kind = colon < 0 ? '' : sel.slice(0, colon);
  const value = colon < 0 ? sel : sel.slice(colon + 1);
  if (kind === 'service' && cat.services.some((s) => s.id === value)) return [serviceListName(value)];
  if (kind === 'tag') {
    const hits = cat.services.filter((s) => s.tags.includes(value) || (s.country === value && s.tags.includes('genai')));
    if (hits.length > 0) return hits.map((s) => serviceListName(s.id));
  }
  if (kind === 'list' && listNames.includes(value)) return [value];

  const candidates = [
    ...cat.services.map((s) => `service:${s.id}`),
    ...cat.tags().map((t) => `tag:${t}`),
    ...listNames.map((n) => `list:${n}`),
  ];
  // A bare or mis-prefixed word ('deepseek', 'services:deepseek') is judged by its value alone.
  const byValue = closest(value, candidates.map((c) => c.slice(c.indexOf(':') + 1)));
  const hint = closest(sel, candidates) ?? candidates.find((c) => byValue !== undefined && c.endsWith(`:${byValue}`));
  throw new Error(
    `unknown selector '${sel}'; ` +
      (hint ? `did you mean '${hint}'?` : 'selectors are service:ID, tag:TAG (e.g. tag:genai, tag:cn) or list:NAME'),
  );
}
