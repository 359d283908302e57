// Reads one catalogue file into services, reporting each problem with its
// file, line and key. Every part is read even after a problem, so a reviewer
// sees all of a file's problems at once. The readers of a service's parts
// return undefined (its checkers false) when a problem keeps the service out
// of the catalogue; lesser problems are only reported.

import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type YAMLMap, type YAMLSeq } from 'yaml';
import type { CatalogueDomain, CatalogueIssue, Service } from './types.js';
import {
  CLASS_TAGS,
  COUNTRIES,
  COUNTRY_HINTS,
  DATE_RE,
  DOMAIN_KEYS,
  FORCED_ANSWERS,
  hostnameProblem,
  ID_RE,
  KNOWN_TAGS,
  SERVICE_KEYS,
  SOURCE_PREFIXES,
  SOURCE_RE,
} from './schema.js';
import { closest } from '../../text/suggest.js';

type Field = { node: Node | null; line: number };
type Located = { value: string; line: number };

const quote = (v: unknown): string => (typeof v === 'string' ? `'${v}'` : JSON.stringify(v) ?? String(v));

/** The services of one file; its problems are appended to `issues`. */
export function readFile(file: string, text: string, issues: CatalogueIssue[]): Service[] {
  return new FileReader(file, text, issues).read();
}

class FileReader {
  private readonly lc = new LineCounter();
  private readonly lines: string[];

  constructor(
    private readonly file: string,
    private readonly text: string,
    private readonly issues: CatalogueIssue[],
  ) {
    this.lines = text.split('\n');
  }

  read(): Service[] {
    const list = this.servicesList(parseDocument(this.text, { lineCounter: this.lc, uniqueKeys: true }));
    return list ? list.items.flatMap((item, i) => this.readService(item, i) ?? []) : [];
  }

  // --- the file: valid YAML holding only a non-empty `services` list

  private servicesList(doc: Document): YAMLSeq | undefined {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) this.issue(e.linePos?.[0].line ?? 1, '(yaml)', e.message.split('\n')[0]);
      return undefined;
    }
    const root = doc.contents;
    if (!isMap(root)) {
      this.issue(this.lineOf(root), '(file)', "expected a mapping with one key, 'services'");
      return undefined;
    }
    let services: Node | null = null;
    for (const pair of root.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      if (key === 'services') services = pair.value as Node | null;
      else this.issue(this.lineOf(pair.key as Node), key, "unknown key; a catalogue file holds only 'services'");
    }
    if (!isSeq(services) || services.items.length === 0) {
      this.issue(this.lineOf(services ?? root), 'services', 'expected a non-empty list of services');
      return undefined;
    }
    return services;
  }

  // --- one service

  private readService(item: unknown, index: number): Service | undefined {
    const path = `services[${index}]`;
    const line = this.lineOf(item as Node);
    if (!isMap(item)) {
      this.issue(line, path, 'expected a mapping (id, name, vendor, country, tags, reviewed, domains)');
      return undefined;
    }
    const fields = this.fieldsOf(item, path, SERVICE_KEYS);
    // Every missing string is reported before any present one is judged, and all are judged.
    const id = this.str(fields, 'id', path, line);
    const name = this.str(fields, 'name', path, line);
    const vendor = this.str(fields, 'vendor', path, line);
    const country = this.str(fields, 'country', path, line);
    const reviewed = this.str(fields, 'reviewed', path, line);
    const valid = [
      !id || this.checkId(id, path),
      !country || this.checkCountry(country, path),
      !reviewed || this.checkReviewed(reviewed, path),
    ].every(Boolean);
    const tags = this.readTags(fields.get('tags'), path, line);
    const shares = this.strList(fields.get('shares'), `${path}.shares`) ?? [];
    const answer = this.readAnswer(fields.get('answer'), path);
    const domains = this.readDomains(fields.get('domains'), path, line);
    if (!valid || !id || !name || !vendor || !country || !reviewed || !tags || !answer || !domains) return undefined;
    return {
      id: id.value,
      name: name.value,
      vendor: vendor.value,
      country: country.value,
      tags,
      reviewed: reviewed.value,
      shares: shares.map((s) => s.value),
      ...answer,
      domains,
      file: this.file,
      line,
    };
  }

  private checkId(id: Located, path: string): boolean {
    if (ID_RE.test(id.value)) return true;
    this.issue(id.line, `${path}.id`, `${quote(id.value)} is not a valid id; use lower case a-z, 0-9 and '-' (e.g. 'deepseek', '01-ai')`);
    return false;
  }

  private checkCountry(country: Located, path: string): boolean {
    if (COUNTRIES.has(country.value)) return true;
    const lower = country.value.toLowerCase();
    const right = COUNTRY_HINTS[lower] ?? (COUNTRIES.has(lower) ? lower : undefined);
    this.issue(
      country.line,
      `${path}.country`,
      `${quote(country.value)} is not an ISO 3166-1 alpha-2 code in lower case${right ? `; use '${right}'` : ' (e.g. cn, us, fr, gb; zz when the country of the vendor is not known)'}`,
    );
    return false;
  }

  private checkReviewed(reviewed: Located, path: string): boolean {
    if (DATE_RE.test(reviewed.value) && !Number.isNaN(Date.parse(`${reviewed.value}T00:00:00Z`))) return true;
    this.issue(reviewed.line, `${path}.reviewed`, `${quote(reviewed.value)} is not a date; use YYYY-MM-DD`);
    return false;
  }

  private readTags(field: Field | undefined, path: string, serviceLine: number): string[] | undefined {
    const key = `${path}.tags`;
    if (!field) {
      this.issue(serviceLine, key, `missing; every service has 'genai' or 'doh-bypass', plus kinds (e.g. [genai, chat])`);
      return undefined;
    }
    const tags = this.strList(field, key) ?? [];
    const unknown = tags.filter((t) => !KNOWN_TAGS.has(t.value));
    for (const t of unknown) {
      const hint = closest(t.value, KNOWN_TAGS);
      const why = COUNTRIES.has(t.value) ? `; the country tag comes from 'country'` : hint ? `; did you mean '${hint}'?` : '';
      this.issue(t.line, key, `unknown tag ${quote(t.value)}${why} (known: ${[...KNOWN_TAGS].join(', ')})`);
    }
    const classes = tags.filter((t) => (CLASS_TAGS as readonly string[]).includes(t.value));
    if (classes.length !== 1) {
      this.issue(field.line, key, `needs exactly one of ${CLASS_TAGS.join(', ')}; has ${classes.length}`);
    }
    const twice = new Set(tags.map((t) => t.value)).size !== tags.length;
    if (twice) this.issue(field.line, key, 'lists a tag twice');
    return unknown.length === 0 && classes.length === 1 && !twice ? tags.map((t) => t.value) : undefined;
  }

  /** `{}` when absent, so the result spreads into the service. */
  private readAnswer(field: Field | undefined, path: string): Pick<Service, 'answer'> | undefined {
    if (!field) return {};
    const answer = isScalar(field.node) ? field.node.value : undefined;
    if ((FORCED_ANSWERS as readonly unknown[]).includes(answer)) return { answer: answer as Service['answer'] };
    this.issue(field.line, `${path}.answer`, `${quote(answer ?? null)} is not one of ${FORCED_ANSWERS.join(', ')}; leave it out to answer as the group does`);
    return undefined;
  }

  // --- the service's domains

  private readDomains(field: Field | undefined, path: string, serviceLine: number): CatalogueDomain[] | undefined {
    if (!field || !isSeq(field.node) || field.node.items.length === 0) {
      this.issue(field?.line ?? serviceLine, `${path}.domains`, 'expected a non-empty list of { name, sources } entries');
      return undefined;
    }
    const entries = field.node.items.map((item, i) => this.readDomain(item, `${path}.domains[${i}]`, field.line));
    return entries.includes(undefined) ? undefined : entries.flatMap((e) => e?.domain ?? []);
  }

  /** `{}` for an entry without a usable name: reported, but the service stays. */
  private readDomain(item: unknown, path: string, listLine: number): { domain?: CatalogueDomain } | undefined {
    const line = this.lineOf(item as Node, listLine);
    if (!isMap(item)) {
      this.issue(line, path, `expected { name: example.com, sources: [...] }, got ${quote(isScalar(item) ? item.value : null)}`);
      return undefined;
    }
    const fields = this.fieldsOf(item, path, DOMAIN_KEYS);
    const name = this.str(fields, 'name', path, line);
    const nameOk = !name || this.checkHostname(name, path);
    const exact = this.readExact(fields.get('exact'), path);
    const sources = this.readSources(fields.get('sources'), path, line);
    if (!nameOk || exact === undefined || !sources) return undefined;
    if (!name) return {};
    return {
      domain: { name: name.value, exact, sources, line: name.line, file: this.file, text: (this.lines[line - 1] ?? '').trim() },
    };
  }

  private checkHostname(name: Located, path: string): boolean {
    const problem = hostnameProblem(name.value);
    if (!problem) return true;
    const lower = name.value.toLowerCase().replace(/\.$/, '');
    const fix = lower !== name.value && !hostnameProblem(lower) ? `; write '${lower}'` : '';
    this.issue(name.line, `${path}.name`, `${quote(name.value)} ${problem}${fix}`);
    return false;
  }

  /** Suffix matching (false) unless said otherwise. */
  private readExact(field: Field | undefined, path: string): boolean | undefined {
    if (!field) return false;
    const v = isScalar(field.node) ? field.node.value : undefined;
    if (typeof v === 'boolean') return v;
    this.issue(field.line, `${path}.exact`, `${quote(v ?? null)} is not true or false`);
    return undefined;
  }

  private readSources(field: Field | undefined, path: string, entryLine: number): string[] | undefined {
    const key = `${path}.sources`;
    const sources = this.strList(field, key);
    const missing = !field || !sources || sources.length === 0;
    if (missing) {
      this.issue(field?.line ?? entryLine, key, "missing; say where the name was seen (e.g. [v2fly:deepseek, vendor-docs])");
    }
    const unknown = (sources ?? []).filter((s) => !SOURCE_RE.test(s.value) || !SOURCE_PREFIXES.has(s.value.split(':')[0]));
    for (const s of unknown) {
      const hint = closest(s.value.split(':')[0], SOURCE_PREFIXES);
      this.issue(
        s.line,
        key,
        `unknown source ${quote(s.value)}${hint ? `; did you mean '${hint}'?` : ''} (known: ${[...SOURCE_PREFIXES].join(', ')}, each with an optional ':detail')`,
      );
    }
    return missing || unknown.length > 0 ? undefined : sources.map((s) => s.value);
  }

  // --- generic helpers

  private lineOf(node: Node | null | undefined, fallback = 1): number {
    return node?.range ? this.lc.linePos(node.range[0]).line : fallback;
  }

  private issue(line: number, key: string, message: string): void {
    this.issues.push({ file: this.file, line, key, message });
  }

  /** The known keys of a map with their value nodes; unknown keys are reported. */
  private fieldsOf(map: YAMLMap, path: string, allowed: ReadonlySet<string>): Map<string, Field> {
    const fields = new Map<string, Field>();
    for (const pair of map.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      const line = this.lineOf(pair.key as Node, this.lineOf(map));
      if (!allowed.has(key)) {
        const hint = closest(key, allowed);
        this.issue(line, `${path}.${key}`, `unknown key${hint ? `; did you mean '${hint}'?` : ''} (allowed: ${[...allowed].join(', ')})`);
      } else {
        fields.set(key, { node: pair.value as Node | null, line });
      }
    }
    return fields;
  }

  /** One required, non-empty string field. */
  private str(fields: Map<string, Field>, key: string, path: string, mapLine: number): Located | undefined {
    const f = fields.get(key);
    if (!f) {
      this.issue(mapLine, `${path}.${key}`, 'missing');
      return undefined;
    }
    const v = isScalar(f.node) ? f.node.value : undefined;
    if (typeof v !== 'string' || v.trim() === '') {
      this.issue(f.line, `${path}.${key}`, `${quote(v ?? null)} is not a non-empty string${typeof v === 'number' ? ' (quote it)' : ''}`);
      return undefined;
    }
    return { value: v, line: this.lineOf(f.node, f.line) };
  }

  /** A list of strings, e.g. [genai, chat]; items that are not strings are reported and left out. */
  private strList(f: Field | undefined, path: string): Located[] | undefined {
    if (!f) return undefined;
    if (!isSeq(f.node)) {
      this.issue(f.line, path, `expected a list like [a, b], got ${quote(isScalar(f.node) ? f.node.value : null)}`);
      return undefined;
    }
    const out: Located[] = [];
    f.node.items.forEach((item, i) => {
      const v = isScalar(item) ? item.value : undefined;
      if (typeof v !== 'string') this.issue(this.lineOf(item as Node, f.line), `${path}[${i}]`, `${quote(v ?? null)} is not a string`);
      else out.push({ value: v, line: this.lineOf(item as Node, f.line) });
    });
    return out;
  }
}
