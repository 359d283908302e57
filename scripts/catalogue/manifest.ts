// The list of public sources the candidate pipeline reads
// (blocklists/review/sources.tsv): for each, the label catalogue entries
// cite, the repository and the exact commit read, how to read it, and which
// files. The fetched checkouts themselves stay outside the repository.

import { readFileSync } from 'node:fs';

export const FORMATS = ['v2fly', 'markdown', 'domains', 'csv', 'models-dev', 'urls'] as const;
export type Format = (typeof FORMATS)[number];

export interface SourceSpec {
  /** Source label as catalogue entries cite it (`v2fly`, `awesome-genai`). */
  label: string;
  /** owner/name on GitHub. */
  repo: string;
  /** The 40-hex commit read. */
  commit: string;
  format: Format;
  /** Files (or, for v2fly, list names under data/) to read, relative to the checkout. */
  paths: string[];
  /** What the source is, in a few words. */
  about: string;
  /** Line of the row in the manifest. */
  line: number;
}

export const MANIFEST_HEADER = ['label', 'repository', 'commit', 'format', 'paths', 'about'];

/** Reads the manifest; throws naming the line, the column and the fix. */
export function readManifest(path: string): SourceSpec[] {
  const out: SourceSpec[] = [];
  const problems: string[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const line = i + 1;
      if (raw.trim() === '' || raw.startsWith('#')) return;
      const cols = raw.split('\t');
      if (cols[0] === 'label') return; // header
      const [label, repo, commit, format, paths, about] = cols;
      const bad = (col: string, why: string) => problems.push(`${path}:${line}: ${col}: ${why}`);
      if (cols.length !== MANIFEST_HEADER.length) return bad('(row)', `has ${cols.length} tab-separated columns; expected ${MANIFEST_HEADER.join(', ')}`);
      if (!/^[a-z0-9-]+$/.test(label)) bad('label', `'${label}' is not a lower-case label (a-z, 0-9, '-')`);
      if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repo)) bad('repository', `'${repo}' is not owner/name`);
      if (!/^[0-9a-f]{40}$/.test(commit)) bad('commit', `'${commit}' is not a 40-hex commit`);
      if (!(FORMATS as readonly string[]).includes(format)) bad('format', `'${format}' is not one of ${FORMATS.join(', ')}`);
      const list = paths.split(',').map((p) => p.trim()).filter(Boolean);
      if (list.length === 0) bad('paths', 'names no file');
      out.push({ label, repo, commit, format: format as Format, paths: list, about, line });
    });
  const seen = new Set<string>();
  for (const s of out) {
    if (seen.has(s.label)) problems.push(`${path}:${s.line}: label: '${s.label}' is used by an earlier row`);
    seen.add(s.label);
  }
  if (problems.length > 0) throw new Error(`source manifest has ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  return out;
}

/** Where a source's checkout is expected under the sources directory: owner+name. */
export const checkoutDir = (repo: string): string => repo.replace('/', '+');
