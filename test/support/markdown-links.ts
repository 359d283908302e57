// Relative links in the project's markdown, checked as GitHub would follow
// them: the file (or folder) must exist inside the repository, and an
// `#anchor` must name a heading of the file it points into (GitHub's slug
// rules). A link that leaves the repository (`../shared/…`, an absolute
// path) is a broken link for everyone who has only the repository.

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';

export interface LinkProblem {
  file: string;
  line: number;
  target: string;
  problem: string;
}

/** Markdown text with fenced code blocks blanked (line numbers kept) and inline code spans removed. */
function prose(text: string): string[] {
  const out: string[] = [];
  let fence: string | null = null;
  for (const line of text.split('\n')) {
    const open = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (fence !== null) {
      if (open && open[1][0] === fence[0] && open[1].length >= fence.length && line.trim() === open[1]) fence = null;
      out.push('');
    } else if (open) {
      fence = open[1];
      out.push('');
    } else {
      out.push(line.replace(/(`+)(?:(?!\1).)+?\1/g, ''));
    }
  }
  return out;
}

/** What GitHub shows of a heading's text: link and image text, no code ticks, emphasis or HTML. */
function headingText(raw: string): string {
  return raw
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/`/g, '')
    .trim();
}

/** GitHub's anchor for a heading (github-slugger): lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return headingText(heading)
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a markdown file offers: its headings' slugs (repeats numbered -1, -2 as GitHub does) and explicit `<a name|id>`. */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const lines = text.split('\n');
  let fence: string | null = null;
  for (const line of lines) {
    const open = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (fence !== null) {
      if (open && open[1][0] === fence[0] && line.trim() === open[1]) fence = null;
      continue;
    }
    if (open) {
      fence = open[1];
      continue;
    }
    for (const m of line.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) out.add(m[1]);
    const h = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const base = slug(h[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** The link targets in a markdown file, with their line numbers: inline links and images, reference definitions, HTML href/src. */
export function links(text: string): { line: number; target: string }[] {
  const out: { line: number; target: string }[] = [];
  prose(text).forEach((line, i) => {
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ line: i + 1, target: m[1] });
    const def = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(line);
    if (def) out.push({ line: i + 1, target: def[1] });
    for (const m of line.matchAll(/\b(?:href|src)="([^"]*)"/g)) out.push({ line: i + 1, target: m[1] });
  });
  return out;
}

/** Problems with one file's links, `root` being the repository. */
export function checkFile(root: string, file: string): LinkProblem[] {
  const problems: LinkProblem[] = [];
  const text = readFileSync(join(root, file), 'utf8');
  const here = dirname(join(root, file));
  const cache = new Map<string, Set<string>>();
  const anchorsOf = (path: string) => {
    if (!cache.has(path)) cache.set(path, anchors(readFileSync(path, 'utf8')));
    return cache.get(path)!;
  };
  for (const { line, target } of links(text)) {
    const report = (problem: string) => problems.push({ file, line, target, problem });
    if (target === '') {
      report('empty link');
      continue;
    }
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:: not a file of ours
    if (target.startsWith('//')) continue; // protocol-relative URL
    const hash = target.indexOf('#');
    const pathPart = decodeURIComponent(hash < 0 ? target : target.slice(0, hash)).replace(/\?.*$/, '');
    const anchor = hash < 0 ? null : decodeURIComponent(target.slice(hash + 1));
    const path = pathPart === '' ? join(root, file) : pathPart.startsWith('/') ? join(root, pathPart) : resolve(here, pathPart);
    const rel = relative(root, path);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      report(/(^|\/)shared(\/|$)/.test(pathPart) ? 'points at ../shared, which users of the repository do not have' : 'points outside the repository');
      continue;
    }
    if (!existsSync(path)) {
      report(`no such file: ${rel}`);
      continue;
    }
    if (anchor === null || anchor === '') continue;
    if (statSync(path).isDirectory() || !path.endsWith('.md')) {
      if (!/^L\d+(-L\d+)?$/.test(anchor)) report(`#${anchor} on a file that is not markdown`);
      continue;
    }
    if (!anchorsOf(path).has(anchor)) report(`no heading for #${anchor} in ${rel}`);
  }
  return problems;
}

/** The markdown the project ships: README, docs/, bench/README.md, deploy/ guides, folder READMEs under src/. */
export function projectMarkdown(root: string): string[] {
  const walk = (dir: string, keep: (name: string) => boolean): string[] => {
    if (!existsSync(join(root, dir))) return [];
    return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
      const p = join(dir, e.name);
      if (e.isDirectory()) return walk(p, keep);
      return keep(e.name) ? [p] : [];
    });
  };
  const md = (name: string) => name.endsWith('.md');
  return [
    'README.md',
    ...walk('docs', md),
    ...(existsSync(join(root, 'bench/README.md')) ? ['bench/README.md'] : []),
    ...walk('deploy', md),
    ...walk('src', (name) => name === 'README.md'),
  ].sort();
}
