// Turns the catalogue into matcher inputs, and policy selectors into the
// names of the lists they select.

import type { ListInput } from '../../match/types.js';
import type { Catalogue, Service } from './load.js';
import { countryName, UNKNOWN_COUNTRY } from './schema.js';
import { closest } from '../../text/suggest.js';

/** The list name a service compiles to. */
export const serviceListName = (id: string): string => `service:${id}`;

/**
 * A vendor's selector id: its name in lower case with anything in
 * parentheses dropped and other runs of non-alphanumerics made '-'
 * ("GitHub (Microsoft)" -> github, "Moonshot AI" -> moonshot-ai).
 */
export function vendorId(vendor: string): string {
  return vendor
    .replace(/\([^)]*\)/g, ' ')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

export interface Vendor {
  id: string;
  name: string;
  /** Its generative-AI services' ids, in catalogue order. */
  services: string[];
}

/**
 * The vendors of the generative-AI services, sorted by id. Like country
 * tags, `vendor:` never selects the DoH resolvers (`vendor:google` is
 * Gemini and friends, not Google Public DNS).
 */
export function catalogueVendors(cat: Catalogue): Vendor[] {
  const byId = new Map<string, Vendor>();
  for (const s of cat.services) {
    if (!s.tags.includes('genai')) continue;
    const id = vendorId(s.vendor);
    const v = byId.get(id) ?? { id, name: s.vendor, services: [] };
    v.services.push(s.id);
    byId.set(id, v);
  }
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}

export interface Country {
  /** ISO 3166-1 alpha-2 code in lower case, or `zz` when not known: the selector is `tag:<code>`. */
  code: string;
  /** English name of the country; "unknown" for `zz`. */
  name: string;
  /** Its generative-AI services' ids, in catalogue order. */
  services: string[];
}

/**
 * The vendors' countries of the generative-AI services, most services
 * first, and `zz` (vendors whose country is not known) last: each is a
 * working `tag:<code>` selector (never taking DoH resolvers along), so
 * "block the foreign ones, keep the domestic" is `block: [tag:genai]` plus
 * `allow: [tag:<code>]` in any country.
 */
export function catalogueCountries(cat: Catalogue): Country[] {
  const byCode = new Map<string, Country>();
  for (const s of cat.services) {
    if (!s.tags.includes('genai')) continue;
    const c = byCode.get(s.country) ?? { code: s.country, name: countryName(s.country), services: [] };
    c.services.push(s.id);
    byCode.set(s.country, c);
  }
  // Unknown (`zz`) goes last whatever its count: it is no country to allow.
  const unknownLast = (c: Country) => (c.code === UNKNOWN_COUNTRY ? 1 : 0);
  return [...byCode.values()].sort(
    (a, b) => unknownLast(a) - unknownLast(b) || b.services.length - a.services.length || a.code.localeCompare(b.code),
  );
}

/** One in-memory list per service, named `service:ID`. */
export function catalogueLists(cat: Catalogue): ListInput[] {
  return cat.services.map((s) => ({
    spec: { name: serviceListName(s.id), format: 'domains', exact: false, allow: false },
    entries: s.domains.map((d) => ({ name: d.name, line: d.line, exact: d.exact, allow: false, text: d.text })),
  }));
}

const selects = (s: Service, tag: string) => s.tags.includes(tag) || (s.country === tag && s.tags.includes('genai'));

/**
 * The list names a policy selector stands for:
 * - `service:ID`: that service's list;
 * - `vendor:ID`: the vendor's generative-AI services (`aifence services --vendors`);
 * - `tag:TAG`: every service with the tag; a country (`tag:cn`) selects the
 *   generative-AI services from there;
 * - `list:NAME`: the admin list NAME, one of `listNames`.
 * Throws on anything else, suggesting the closest valid selectors.
 */
export function resolveSelector(sel: string, cat: Catalogue, listNames: string[]): string[] {
  const colon = sel.indexOf(':');
  const kind = colon < 0 ? '' : sel.slice(0, colon);
  const value = colon < 0 ? sel : sel.slice(colon + 1);
  if (kind === 'service' && cat.services.some((s) => s.id === value)) return [serviceListName(value)];
  if (kind === 'vendor') {
    const vendor = catalogueVendors(cat).find((v) => v.id === value);
    if (vendor) return vendor.services.map(serviceListName);
  }
  if (kind === 'tag') {
    const hits = cat.services.filter((s) => selects(s, value));
    if (hits.length > 0) return hits.map((s) => serviceListName(s.id));
  }
  if (kind === 'list' && listNames.includes(value)) return [value];

  const hints = suggestions(sel, kind, value, cat, listNames);
  throw new Error(
    `unknown selector '${sel}'; ` +
      (hints.length > 0
        ? `did you mean ${hints.map((h) => `'${h}'`).join(' or ')}?`
        : 'selectors are service:ID, vendor:ID, tag:TAG (e.g. tag:genai, tag:cn) or list:NAME'),
  );
}

/**
 * At most three selectors the writer may have meant. The same word under
 * another kind comes first (`service:anthropic` -> `vendor:anthropic`), and
 * for a vendor its services (`service:claude`); then the closest spelling.
 */
function suggestions(sel: string, kind: string, value: string, cat: Catalogue, listNames: string[]): string[] {
  const vendors = catalogueVendors(cat);
  const candidates = [
    ...cat.services.map((s) => `service:${s.id}`),
    ...vendors.map((v) => `vendor:${v.id}`),
    ...cat.tags().map((t) => `tag:${t}`),
    ...listNames.map((n) => `list:${n}`),
  ];
  const out = new Set<string>();
  for (const c of candidates) if (c.slice(c.indexOf(':') + 1) === value && c !== sel) out.add(c);
  const vendor = vendors.find((v) => v.id === value);
  if (vendor && kind !== 'vendor') for (const id of vendor.services.slice(0, 2)) out.add(`service:${id}`);
  if (out.size === 0) {
    // A slip in the spelling, or a bare or mis-prefixed word ('deepseek', 'services:deepseek').
    const near = closest(sel, candidates);
    const byValue = closest(value, candidates.map((c) => c.slice(c.indexOf(':') + 1)));
    const hint = near ?? candidates.find((c) => byValue !== undefined && c.endsWith(`:${byValue}`));
    if (hint) out.add(hint);
  }
  return [...out].slice(0, 3);
}
