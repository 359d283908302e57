// Loading the configured lists into one compiled matcher, and explaining
// verdicts afterwards. File lists are re-read for explanations (nothing per
// entry is kept in memory); in-memory lists keep their entries.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Entry, Explanation, ListInput, ListReport, ListSet, ListSpec, Matcher } from './types.js';
import { TrieBuilder } from './builder.js';
import { normalizeName } from './name.js';
import { MAX_SAMPLES, parseList } from './parse.js';

export interface LoadOptions {
  /** Directory that relative list paths are resolved against (default: the working directory). */
  baseDir?: string;
}

type MemoryEntries = readonly (Entry & { text?: string })[];

/**
 * Read, parse and compile every list into one matcher. List ids are the
 * inputs' indices. Throws if a file list cannot be read (naming list and path);
 * bad lines never throw, they are counted in the reports.
 */
export async function loadLists(inputs: readonly ListInput[], opts: LoadOptions = {}): Promise<ListSet> {
  const builder = new TrieBuilder();
  const reports: ListReport[] = [];
  const paths = inputs.map(({ spec }) => (spec.source === undefined ? undefined : resolve(opts.baseDir ?? '.', spec.source)));
  const read = (listId: number): Promise<string> | undefined => {
    const path = paths[listId];
    return path === undefined ? undefined : readList(inputs[listId].spec, path);
  };
  // The next file is read while this one is parsed.
  let reading = read(0);
  for (let listId = 0; listId < inputs.length; listId++) {
    const { spec, entries } = inputs[listId];
    const text = await reading;
    reading = listId + 1 < inputs.length ? read(listId + 1) : undefined;
    const onEntry = (name: string, _line: number, exact: boolean, allow: boolean): void =>
      builder.add(name, listId, exact, allow);
    reports.push(text !== undefined ? parseList(text, spec, onEntry) : addMemoryList(spec, entries ?? [], onEntry));
  }
  const matcher = builder.compile(inputs.map((i) => i.spec));
  return new CompiledListSet(matcher, reports, inputs, paths);
}

async function readList(spec: ListSpec, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`list "${spec.name}": cannot read ${path}: ${(err as Error).message}`);
  }
}

/** In-memory entries are trusted to be entries, but their names still go through normalisation. */
function addMemoryList(
  spec: ListSpec,
  entries: MemoryEntries,
  onEntry: (name: string, line: number, exact: boolean, allow: boolean) => void,
): ListReport {
  const report: ListReport = { name: spec.name, format: 'memory', entries: 0, ignored: 0, skipped: 0, rejected: 0, samples: [] };
  for (const e of entries) {
    const name = normalizeName(e.name);
    if (typeof name === 'string') {
      report.entries++;
      onEntry(name, e.line, spec.exact || e.exact, spec.allow || e.allow);
    } else {
      report.rejected++;
      if (report.samples.length < MAX_SAMPLES) report.samples.push({ line: e.line, text: e.text ?? e.name, reason: name.reason });
    }
  }
  return report;
}

class CompiledListSet implements ListSet {
  constructor(
    readonly matcher: Matcher,
    readonly reports: readonly ListReport[],
    private readonly inputs: readonly ListInput[],
    private readonly paths: readonly (string | undefined)[],
  ) {}

  async explain(name: string): Promise<Explanation[]> {
    const query = normalizeName(name);
    const mask = this.matcher.matchName(name);
    if (typeof query !== 'string' || mask <= 0) return [];
    // Which entries apply: the name itself (any entry), or a parent (entries that cover subdomains).
    const applies = (entry: string, exact: boolean): boolean =>
      entry === query || (!exact && query.endsWith('.' + entry));
    const found: Explanation[] = [];
    for (let listId = 0; listId < this.inputs.length; listId++) {
      if (!this.matcher.blocks(mask, listId) && !this.matcher.allows(mask, listId)) continue;
      const { spec, entries } = this.inputs[listId];
      const collect = (entry: string, line: number, exact: boolean, allow: boolean, text?: string): void => {
        if (applies(entry, exact)) found.push({ list: spec.name, entry, line, allow, exact, ...(text === undefined ? {} : { text }) });
      };
      const path = this.paths[listId];
      if (path !== undefined) {
        parseList(await readList(spec, path), spec, collect);
      } else {
        for (const e of entries ?? []) {
          const entry = normalizeName(e.name);
          if (typeof entry === 'string') collect(entry, e.line, spec.exact || e.exact, spec.allow || e.allow, e.text);
        }
      }
    }
    // Most specific (longest entry) first; then list order, then line.
    return found.sort((a, b) => b.entry.length - a.entry.length || this.listIndex(a.list) - this.listIndex(b.list) || a.line - b.line);
  }

  private listIndex(name: string): number {
    return this.inputs.findIndex((i) => i.spec.name === name);
  }
}
