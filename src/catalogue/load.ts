// Reads and validates the AI-service catalogue (blocklists/**/*.yaml).
// Every problem is collected and reported together, each naming the file,
// the line, the key, the bad value and what would be right, so a reviewer
// fixes a pull request in one pass.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml';
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
import { closest } from './suggest.js';

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

export interface Catalogue {
  services: Service[];
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

export class CatalogueError extends Error {
  constructor(readonly issues: CatalogueIssue[]) {
    super(
      `catalogue has ${issues.length} problem${issues.length === 1 ? '' : 's'}:\n` +
        issues.map((i) => `  ${i.file}:${i.line}: ${i.key}: ${i.message}`).join('\n'),
    );
    this.name = 'CatalogueError';
  }
}

/** The package's own blocklists/: `src/catalogue/` and `dist/catalogue/` both sit two levels below it. */
export const DEFAULT_CATALOGUE_DIR = fileURLToPath(new URL('../../blocklists/', import.meta.url));

export function loadCatalogue(dir: string = DEFAULT_CATALOGUE_DIR): Catalogue {
  const issues: CatalogueIssue[] = [];
  const services: Service[] = [];
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  if (files.length === 0) {
    issues.push({ file: dir, line: 0, key: '(catalogue)', message: 'no .yaml files found' });
  }
  for (const rel of files) {
    const file = join(dir, rel);
    services.push(...readFile(file, readFileSync(file, 'utf8'), issues));
  }
  checkAcrossServices(services, issues);
  if (issues.length > 0) throw new CatalogueError(issues);
  return {
    services,
    tags: () => [...new Set(services.flatMap((s) => (s.tags.includes('genai') ? [...s.tags, s.country] : s.tags)))].sort(),
  };
}

type Field = { node: Node | null; line: number };
type Located = { value: string; line: number };

const quote = (v: unknown): string => (typeof v === 'string' ? `'${v}'` : JSON.stringify(v) ?? String(v));

function readFile(file: string, text: string, issues: CatalogueIssue[]): Service[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true });
  const textLines = text.split('\n');
  const lineOf = (node: Node | null | undefined, fallback = 1): number =>
    node?.range ? lc.linePos(node.range[0]).line : fallback;
  const issue = (line: number, key: string, message: string) => issues.push({ file, line, key, message });

  if (doc.errors.length > 0) {
    for (const e of doc.errors) issue(e.linePos?.[0].line ?? 1, '(yaml)', e.message.split('\n')[0]);
    return [];
  }
  const root = doc.contents;
  if (!isMap(root)) {
    issue(lineOf(root), '(file)', "expected a mapping with one key, 'services'");
    return [];
  }
  let servicesNode: Node | null = null;
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '?';
    if (key === 'services') servicesNode = pair.value as Node | null;
    else issue(lineOf(pair.key as Node), key, "unknown key; a catalogue file holds only 'services'");
  }
  if (!isSeq(servicesNode) || servicesNode.items.length === 0) {
    issue(lineOf(servicesNode ?? root), 'services', 'expected a non-empty list of services');
    return [];
  }

  // The known keys of a map with their value nodes; unknown keys are reported.
  const fieldsOf = (map: YAMLMap, path: string, allowed: ReadonlySet<string>) => {
    const fields = new Map<string, Field>();
    for (const pair of map.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      const line = lineOf(pair.key as Node, lineOf(map));
      if (!allowed.has(key)) {
        const hint = closest(key, allowed);
        issue(line, `${path}.${key}`, `unknown key${hint ? `; did you mean '${hint}'?` : ''} (allowed: ${[...allowed].join(', ')})`);
      } else {
        fields.set(key, { node: pair.value as Node | null, line });
      }
    }
    return fields;
  };
  // One required, non-empty string field.
  const str = (fields: Map<string, Field>, key: string, path: string, mapLine: number): Located | undefined => {
    const f = fields.get(key);
    if (!f) {
      issue(mapLine, `${path}.${key}`, 'missing');
      return undefined;
    }
    const v = isScalar(f.node) ? f.node.value : undefined;
    if (typeof v !== 'string' || v.trim() === '') {
      issue(f.line, `${path}.${key}`, `${quote(v ?? null)} is not a non-empty string${typeof v === 'number' ? ' (quote it)' : ''}`);
      return undefined;
    }
    return { value: v, line: lineOf(f.node, f.line) };
  };
  // A list of strings, e.g. [genai, chat].
  const strList = (f: Field | undefined, path: string): Located[] | undefined => {
    if (!f) return undefined;
    if (!isSeq(f.node)) {
      issue(f.line, path, `expected a list like [a, b], got ${quote(isScalar(f.node) ? f.node.value : null)}`);
      return undefined;
    }
    const out: Located[] = [];
    f.node.items.forEach((item, i) => {
      const v = isScalar(item) ? item.value : undefined;
      if (typeof v !== 'string') issue(lineOf(item as Node, f.line), `${path}[${i}]`, `${quote(v ?? null)} is not a string`);
      else out.push({ value: v, line: lineOf(item as Node, f.line) });
    });
    return out;
  };

  const out: Service[] = [];
  servicesNode.items.forEach((item, si) => {
    const spath = `services[${si}]`;
    const sline = lineOf(item as Node);
    if (!isMap(item)) {
      issue(sline, spath, 'expected a mapping (id, name, vendor, country, tags, reviewed, domains)');
      return;
    }
    const fields = fieldsOf(item, spath, SERVICE_KEYS);
    let ok = true;
    const need = (key: string) => {
      const r = str(fields, key, spath, sline);
      if (!r) ok = false;
      return r;
    };
    const id = need('id');
    const name = need('name');
    const vendor = need('vendor');
    const country = need('country');
    const reviewed = need('reviewed');

    if (id && !ID_RE.test(id.value)) {
      ok = false;
      issue(id.line, `${spath}.id`, `${quote(id.value)} is not a valid id; use lower case a-z, 0-9 and '-' (e.g. 'deepseek', '01-ai')`);
    }
    if (country && !COUNTRIES.has(country.value)) {
      ok = false;
      const lower = country.value.toLowerCase();
      const right = COUNTRY_HINTS[lower] ?? (COUNTRIES.has(lower) ? lower : undefined);
      issue(
        country.line,
        `${spath}.country`,
        `${quote(country.value)} is not an ISO 3166-1 alpha-2 code in lower case${right ? `; use '${right}'` : ' (e.g. cn, us, fr, gb)'}`,
      );
    }
    if (reviewed && (!DATE_RE.test(reviewed.value) || Number.isNaN(Date.parse(`${reviewed.value}T00:00:00Z`)))) {
      ok = false;
      issue(reviewed.line, `${spath}.reviewed`, `${quote(reviewed.value)} is not a date; use YYYY-MM-DD`);
    }

    const tagsField = fields.get('tags');
    if (!tagsField) {
      ok = false;
      issue(sline, `${spath}.tags`, `missing; every service has 'genai' or 'doh-bypass', plus kinds (e.g. [genai, chat])`);
    }
    const tags = strList(tagsField, `${spath}.tags`) ?? [];
    for (const t of tags) {
      if (!KNOWN_TAGS.has(t.value)) {
        ok = false;
        const hint = closest(t.value, KNOWN_TAGS);
        const why = COUNTRIES.has(t.value) ? `; the country tag comes from 'country'` : hint ? `; did you mean '${hint}'?` : '';
        issue(t.line, `${spath}.tags`, `unknown tag ${quote(t.value)}${why} (known: ${[...KNOWN_TAGS].join(', ')})`);
      }
    }
    const classes = tags.filter((t) => (CLASS_TAGS as readonly string[]).includes(t.value));
    if (tagsField && classes.length !== 1) {
      ok = false;
      issue(tagsField.line, `${spath}.tags`, `needs exactly one of ${CLASS_TAGS.join(', ')}; has ${classes.length}`);
    }
    if (new Set(tags.map((t) => t.value)).size !== tags.length) {
      ok = false;
      issue(tagsField?.line ?? sline, `${spath}.tags`, 'lists a tag twice');
    }

    const shares = strList(fields.get('shares'), `${spath}.shares`) ?? [];

    const answerField = fields.get('answer');
    const answer = answerField && isScalar(answerField.node) ? answerField.node.value : undefined;
    if (answerField && !(FORCED_ANSWERS as readonly unknown[]).includes(answer)) {
      ok = false;
      issue(answerField.line, `${spath}.answer`, `${quote(answer ?? null)} is not one of ${FORCED_ANSWERS.join(', ')}; leave it out to answer as the group does`);
    }

    const domainsField = fields.get('domains');
    const domains: CatalogueDomain[] = [];
    if (!domainsField || !isSeq(domainsField.node) || domainsField.node.items.length === 0) {
      ok = false;
      issue(domainsField?.line ?? sline, `${spath}.domains`, 'expected a non-empty list of { name, sources } entries');
    } else {
      domainsField.node.items.forEach((d, di) => {
        const dpath = `${spath}.domains[${di}]`;
        const dline = lineOf(d as Node, domainsField.line);
        if (!isMap(d)) {
          ok = false;
          issue(dline, dpath, `expected { name: example.com, sources: [...] }, got ${quote(isScalar(d) ? d.value : null)}`);
          return;
        }
        const df = fieldsOf(d, dpath, DOMAIN_KEYS);
        const dn = str(df, 'name', dpath, dline);
        if (dn) {
          const problem = hostnameProblem(dn.value);
          if (problem) {
            ok = false;
            const lower = dn.value.toLowerCase().replace(/\.$/, '');
            const fix = lower !== dn.value && !hostnameProblem(lower) ? `; write '${lower}'` : '';
            issue(dn.line, `${dpath}.name`, `${quote(dn.value)} ${problem}${fix}`);
          }
        }
        let exact = false;
        const ef = df.get('exact');
        if (ef) {
          const v = isScalar(ef.node) ? ef.node.value : undefined;
          if (typeof v !== 'boolean') {
            ok = false;
            issue(ef.line, `${dpath}.exact`, `${quote(v ?? null)} is not true or false`);
          } else exact = v;
        }
        const sf = df.get('sources');
        const sources = strList(sf, `${dpath}.sources`);
        if (!sf || !sources || sources.length === 0) {
          ok = false;
          issue(sf?.line ?? dline, `${dpath}.sources`, "missing; say where the name was seen (e.g. [v2fly:deepseek, vendor-docs])");
        }
        for (const s of sources ?? []) {
          const prefix = s.value.split(':')[0];
          if (!SOURCE_RE.test(s.value) || !SOURCE_PREFIXES.has(prefix)) {
            ok = false;
            const hint = closest(prefix, SOURCE_PREFIXES);
            issue(
              s.line,
              `${dpath}.sources`,
              `unknown source ${quote(s.value)}${hint ? `; did you mean '${hint}'?` : ''} (known: ${[...SOURCE_PREFIXES].join(', ')}, each with an optional ':detail')`,
            );
          }
        }
        if (dn) {
          domains.push({
            name: dn.value,
            exact,
            sources: (sources ?? []).map((s) => s.value),
            line: dn.line,
            file,
            text: (textLines[dline - 1] ?? '').trim(),
          });
        }
      });
    }
    if (ok && id && name && vendor && country && reviewed) {
      out.push({
        id: id.value,
        name: name.value,
        vendor: vendor.value,
        country: country.value,
        tags: tags.map((t) => t.value),
        reviewed: reviewed.value,
        shares: shares.map((s) => s.value),
        ...(answer === undefined ? {} : { answer: answer as Service['answer'] }),
        domains,
        file,
        line: sline,
      });
    }
  });
  return out;
}

/** Ids unique; `shares` names real services; no name claimed twice. */
function checkAcrossServices(services: Service[], issues: CatalogueIssue[]): void {
  const byId = new Map<string, Service>();
  for (const s of services) {
    const prev = byId.get(s.id);
    if (prev) {
      issues.push({ file: s.file, line: s.line, key: 'id', message: `'${s.id}' is already the id of a service at ${prev.file}:${prev.line}` });
    } else byId.set(s.id, s);
  }
  for (const s of services) {
    for (const other of s.shares) {
      if (!byId.has(other) || other === s.id) {
        const hint = closest(other, byId.keys());
        issues.push({
          file: s.file,
          line: s.line,
          key: `${s.id}.shares`,
          message: `'${other}' is not another service's id${hint ? `; did you mean '${hint}'?` : ''}`,
        });
      }
    }
  }

  // A name is claimed by a service when one of its entries is that name or
  // a suffix entry above it. Claims must not overlap: with overlapping claims
  // an exception for one service would quietly leave a name of another blocked.
  type Claim = { svc: Service; dom: CatalogueDomain; order: number };
  const byName = new Map<string, Claim[]>();
  let order = 0;
  for (const svc of services) {
    for (const dom of svc.domains) {
      const claims = byName.get(dom.name) ?? [];
      claims.push({ svc, dom, order: order++ });
      byName.set(dom.name, claims);
    }
  }
  const shared = (a: Service, b: Service) => a.shares.includes(b.id) && b.shares.includes(a.id);
  for (const claims of byName.values()) {
    for (const mine of claims) {
      const labels = mine.dom.name.split('.');
      for (let i = 0; i < labels.length - 1; i++) {
        const ancestor = labels.slice(i).join('.');
        for (const theirs of byName.get(ancestor) ?? []) {
          const sameName = i === 0;
          if (theirs === mine || (sameName && theirs.order > mine.order) || (!sameName && theirs.dom.exact)) continue;
          const where = `${theirs.dom.file}:${theirs.dom.line}`;
          const { file, line, name } = mine.dom;
          if (theirs.svc === mine.svc) {
            issues.push({
              file,
              line,
              key: `${mine.svc.id}.domains`,
              message: sameName
                ? `'${name}' is listed twice (also at ${where})`
                : `'${name}' is already covered by '${ancestor}' (${where}); drop it, or make '${ancestor}' exact`,
            });
          } else if (!shared(mine.svc, theirs.svc)) {
            issues.push({
              file,
              line,
              key: `${mine.svc.id}.domains`,
              message:
                `'${name}' is also claimed by service '${theirs.svc.id}' ` +
                `(${sameName ? 'same name' : `suffix '${ancestor}'`} at ${where}); keep it in one service, ` +
                `or add shares: [${theirs.svc.id}] to '${mine.svc.id}' and shares: [${mine.svc.id}] to '${theirs.svc.id}'`,
            });
          }
        }
      }
    }
  }
}
