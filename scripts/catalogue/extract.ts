// Readers that turn a fetched source into candidate names: one function per
// format, each returning (host, product, source, context) rows. They parse
// text only; nothing here fetches or runs anything from a source.

import { basename, dirname } from 'node:path';
import { parse } from 'csv-parse/sync';
import { domainToASCII } from 'node:url';
import { hostnameProblem } from '../../src/control/catalogue/schema.js';
import type { SourceSpec } from './manifest.js';

export interface Candidate {
  /** Normalised host: lower case ASCII, no `www.`, no port or trailing dot. */
  host: string;
  /** What the source calls it: a link's text, a list's name, a provider's name. */
  product: string;
  /** Source label with its detail, as a catalogue entry would cite it (`v2fly:openai`). */
  source: string;
  /** Where in the source: the heading or comment above it, or the part of a record. */
  context: string;
}

/** A host as the catalogue would write it, or undefined when it is not one (an IP, a wildcard, a path). */
export function normaliseHost(raw: string): string | undefined {
  let h = raw.trim().toLowerCase().replace(/\.$/, '');
  h = h.replace(/^\*\./, '').replace(/:\d+$/, '');
  if (h === '' || /^[\d.]+$/.test(h) || h.includes('*') || h.includes('/')) return undefined;
  if (/[^\x00-\x7f]/.test(h)) h = domainToASCII(h);
  h = h.replace(/^www\d?\./, '');
  return h !== '' && hostnameProblem(h) === undefined ? h : undefined;
}

/** The host of an http(s) URL, normalised; undefined for anything else. */
export function urlHost(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? normaliseHost(u.hostname) : undefined;
  } catch {
    return undefined;
  }
}

/** A source's file labels: `README.md` stays, `data/category-ai-!cn` becomes `category-ai-!cn`. */
const detail = (path: string): string => basename(path).replace(/[^A-Za-z0-9._!-]/g, '-');

/** Reads a file of the source at the manifest's commit; throws when it is not there. */
export type ReadFile = (path: string) => string;

/** A manifest path with `*` (any run of characters but '/') matched against the source's files. */
export function expandPaths(paths: string[], files: () => string[]): string[] {
  return paths.flatMap((p) => {
    if (!p.includes('*')) return [p];
    const re = new RegExp(`^${p.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
    return files().filter((f) => re.test(f)).sort();
  });
}

export function extract(spec: SourceSpec, read: ReadFile): Candidate[] {
  const each = (parse: (text: string, source: string) => Candidate[]) => spec.paths.flatMap((p) => parse(read(p), `${spec.label}:${detail(p)}`));
  switch (spec.format) {
    case 'v2fly':
      return v2fly(spec, read);
    case 'markdown':
      return each(markdown);
    case 'domains':
      return each(domainList);
    case 'csv':
      return each(csv);
    case 'models-dev':
      return modelsDev(spec, read);
    case 'urls':
      return each(urls);
  }
}

/**
 * v2fly/domain-list-community `data/` lists: bare names (a domain and its
 * subdomains), `domain:` and `full:` names, `include:` of other lists
 * (followed once each); `keyword:` and `regexp:` are not names and are skipped.
 */
export function v2fly(spec: SourceSpec, read: ReadFile): Candidate[] {
  const out: Candidate[] = [];
  const seen = new Set<string>();
  const visit = (list: string, from: string) => {
    if (seen.has(list)) return;
    seen.add(list);
    let text: string;
    try {
      text = read(`data/${list}`);
    } catch {
      throw new Error(`${spec.label}: list '${list}' (included from ${from}) is not in data/ at ${spec.commit}`);
    }
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*$/, '').trim();
      if (line === '') continue;
      const value = line.split(/\s+/)[0];
      const colon = value.indexOf(':');
      const kind = colon < 0 ? 'domain' : value.slice(0, colon);
      const rest = colon < 0 ? value : value.slice(colon + 1);
      if (kind === 'include') visit(rest, list);
      else if (kind === 'domain' || kind === 'full') {
        const host = normaliseHost(rest);
        if (host) out.push({ host, product: list, source: `${spec.label}:${list}`, context: kind === 'full' ? 'full' : 'domain' });
      }
    }
  };
  for (const p of spec.paths) visit(p.replace(/^data\//, ''), 'the manifest');
  return out;
}

const LINK_RE = /\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?(https?:\/\/[^)\s>]+)>?[^)]*\)|href="(https?:\/\/[^"]+)"/g;

/** Plain text of a link's label: images, emphasis and code marks dropped. */
const plain = (s: string) =>
  s
    .replace(/!\[[^\]]*\]\([^)]*\)/g, '')
    .replace(/<[^>]+>/g, '')
    .replace(/[*_`]/g, '')
    .replace(/\s+/g, ' ')
    .trim();

/** Links in a Markdown list: each link's host, its text as the product, the heading above it as context. */
export function markdown(text: string, source: string): Candidate[] {
  const out: Candidate[] = [];
  let heading = '';
  for (const line of text.split('\n')) {
    const h = /^#{1,6}\s+(.*)$/.exec(line);
    if (h) heading = plain(h[1]).slice(0, 80);
    for (const m of line.matchAll(LINK_RE)) {
      const host = urlHost(m[2] ?? m[3]);
      if (!host) continue;
      // A list item's first words name the product when the link text is an image or a bare URL.
      const label = plain(m[1] ?? '');
      const item = plain(line.replace(/^\s*[-*+]\s*/, '')).split(/ [-–—:] /)[0].slice(0, 80);
      const product = label !== '' && !/^https?:/.test(label) ? label.slice(0, 80) : item;
      out.push({ host, product, source, context: heading });
    }
    // Tables that write the name as text: | **Product** | what it is | example.com |
    if (/^\s*\|/.test(line) && !/\]\(https?:|href="https?:/.test(line)) {
      const cells = line.split('|').slice(1, -1).map(plain);
      for (const cell of cells.slice(1)) {
        const bare = /^([a-z0-9][a-z0-9.-]*\.[a-z]{2,})(\/\S*)?$/i.exec(cell);
        const host = bare && !bare[2] ? normaliseHost(bare[1]) : undefined;
        if (host) out.push({ host, product: cells[0].slice(0, 80), source, context: heading });
      }
    }
  }
  return out;
}

/**
 * One name a line, in any of the usual list syntaxes: plain, hosts file
 * (`0.0.0.0 name`), Adblock (`||name^`), v2fly `full:`, Clash/Surge
 * `DOMAIN,name` and `DOMAIN-SUFFIX,name`, `*.name`. Cosmetic filters
 * (`site##selector`) and rules with a path hide parts of other sites'
 * pages: they name no AI service and are skipped. The comment above a run
 * of names is its context.
 */
export function domainList(text: string, source: string): Candidate[] {
  const out: Candidate[] = [];
  let context = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (/^[#!\[]/.test(line)) {
      const c = line.replace(/^[#!\s]+|[\s─═=\-\[\]]+$/g, '').replace(/^[─═=\-\s\[]+/, '');
      if (c !== '' && !/^(title|expires|description|homepage|version|updated)\b/i.test(c)) context = c.slice(0, 80);
      continue;
    }
    if (/#[@?$]?#/.test(line)) continue;
    let name = line;
    const hosts = /^(?:0\.0\.0\.0|127\.0\.0\.1|::1?)\s+(\S+)/.exec(name);
    if (hosts) name = hosts[1];
    const rule = /^(?:DOMAIN|DOMAIN-SUFFIX|HOST|HOST-SUFFIX),([^,\s]+)/i.exec(name);
    if (rule) name = rule[1];
    else if (/^[A-Z-]+,/.test(name)) continue; // keyword, IP and process rules
    name = name.replace(/^\|\|/, '').replace(/^full:|^domain:/, '').replace(/[\^$].*$/, '');
    if (name.includes('/')) continue;
    const host = normaliseHost(name.split(/\s+/)[0]);
    if (host) out.push({ host, product: context || host, source, context });
  }
  return out;
}

/** A CSV whose first column is a name (`*.name` allowed) and whose other columns describe it (radiusmethod's lists). */
export function csv(text: string, source: string): Candidate[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').split(',').map((h) => h.trim().toLowerCase());
  const productCol = ['subcategory', 'service', 'name', 'product'].map((h) => header.indexOf(h)).find((i) => i > 0) ?? -1;
  const out: Candidate[] = [];
  for (const line of lines.slice(1)) {
    const cols = line.split(',');
    const host = normaliseHost(cols[0] ?? '');
    if (!host) continue;
    out.push({ host, product: productCol > 0 ? (cols[productCol] ?? '').trim() : host, source, context: cols.slice(1).join(' / ').slice(0, 120) });
  }
  return out;
}

/** anomalyco/models.dev `providers/<id>/provider.toml`: the provider's API base URL and its documentation. */
export function modelsDev(spec: SourceSpec, read: ReadFile): Candidate[] {
  const out: Candidate[] = [];
  for (const p of spec.paths) {
    const text = read(p);
    const field = (k: string) => new RegExp(`^${k}\\s*=\\s*"([^"]*)"`, 'm').exec(text)?.[1];
    const provider = basename(dirname(p));
    const product = field('name') ?? provider;
    for (const k of ['api', 'doc']) {
      const url = field(k);
      const host = url ? urlHost(url) : undefined;
      if (host) out.push({ host, product, source: `${spec.label}:${provider}`, context: k });
    }
  }
  return out;
}

const URL_RE = /https?:\/\/[^\s"'`<>),\]]+/g;
const NAME_RE = /["']?\b(?:name|title|titulo|nome)["']?\s*[:=]\s*["']([^"']{1,80})["']/;

/**
 * Every http(s) URL in a data file (a CSV of tools, a JavaScript or
 * TypeScript array of tool records): the product is the CSV row's first
 * cell, or the `name` / `title` / `titulo` field last seen above the URL.
 */
export function urls(text: string, source: string): Candidate[] {
  const out: Candidate[] = [];
  let name = '';
  for (const line of text.split('\n')) {
    const field = NAME_RE.exec(line);
    if (field) name = field[1].trim();
    for (const m of line.matchAll(URL_RE)) {
      const host = urlHost(m[0]);
      if (!host) continue;
      const csvFirst = /^[^,"{[\s][^,]*,/.test(line) ? line.split(',')[0].trim() : '';
      out.push({ host, product: csvFirst || name || host, source, context: '' });
    }
  }
  return out;
}

/**
 * `aifence report --discover` output, as CSV (`--format csv`), JSON
 * (`--format json`) or the table: names clients asked for that no
 * catalogue entry covers, with the evidence the daemon saw.
 */
export function discoverReport(text: string, source: string): Candidate[] {
  const trimmed = text.trim();
  const rows: { name: string; why: string }[] = [];
  if (trimmed.startsWith('{')) {
    const parsed = JSON.parse(trimmed) as { rows?: { name?: unknown; why?: unknown }[] };
    for (const r of parsed.rows ?? []) {
      if (typeof r.name === 'string') rows.push({ name: r.name, why: Array.isArray(r.why) ? r.why.join('; ') : '' });
    }
  } else {
    const lines = trimmed.split('\n');
    if (lines[0]?.startsWith('name,')) {
      for (const r of parse(trimmed, { columns: true, skip_empty_lines: true, relax_column_count: true }) as Record<string, string>[]) {
        rows.push({ name: r.name ?? '', why: r.why ?? '' });
      }
    } else {
      for (const line of lines.slice(1)) {
        const cols = line.split(/\s{2,}/);
        rows.push({ name: cols[0] ?? '', why: cols.slice(6).join(' ') });
      }
    }
  }
  return rows.flatMap((r) => {
    const host = normaliseHost(r.name);
    return host ? [{ host, product: host, source, context: r.why.slice(0, 120) }] : [];
  });
}
