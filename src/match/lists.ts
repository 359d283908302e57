// Loading the configured lists into one compiled matcher, and explaining
// verdicts afterwards. File lists are re-read for explanations (nothing per
// entry is kept in memory); in-memory lists keep their entries.
//
// Two ways to load: `loadLists` compiles on the calling thread (tests,
// tools); `loadListsOffThread` compiles in a worker thread and gets the
// matcher back in shared memory, so the daemon's query loop never parses a
// line. A set loaded off the thread also explains off the thread.
import { createHash } from 'node:crypto';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Entry, Explanation, ListInput, ListReport, ListSet, ListSpec, Matcher } from './types.js';
import { TrieBuilder } from './builder.js';
import { CompiledMatcher, type CompiledParts } from './matcher.js';
import { matchText, normalizeName, queryText } from './name.js';
import { textLabels } from '../wire/presentation.js';
import { type EntryCallback, ListParser, MAX_SAMPLES } from './parse.js';
import { JobRunner, fullGc, siblingModule } from '../thread/run.js';
import { type PhaseMark, epochNow } from '../thread/clock.js';

export interface LoadOptions {
  /** Directory that relative list paths are resolved against (default: the working directory). */
  baseDir?: string;
}

type MemoryEntries = readonly (Entry & { text?: string })[];

/** Names one explanation job takes at most; more wait for the next job (and past MAX_PENDING_NAMES are refused). */
const MAX_BATCH_NAMES = 100_000;
const MAX_PENDING_NAMES = 200_000;

/**
 * Read, parse and compile every list into one matcher, on this thread. List
 * ids are the inputs' indices. Throws if a file list cannot be read (naming
 * list and path); bad lines never throw, they are counted in the reports.
 */
export async function loadLists(inputs: readonly ListInput[], opts: LoadOptions = {}): Promise<ListSet> {
  const paths = resolvePaths(inputs, opts);
  const { parts, reports } = await compileLists(inputs, paths);
  return new CompiledListSet(new CompiledMatcher(parts), reports, inputs, paths, false);
}

/** What the compile job sends back: the matcher's parts (shared memory), the reports, and what was read of each file. */
export interface CompiledLists {
  parts: CompiledParts;
  reports: readonly ListReport[];
  /** Per list: what was read of its file (null: in memory). What a snapshot keeps, to know it is still current. */
  sources: readonly (SourceFingerprint | null)[];
}

/** The matcher's worker thread (worker.ts): compiles and explains. */
const worker = new JobRunner(siblingModule(import.meta.url, 'worker'));

/** The last set compiled off the thread and the key of its inputs: a reload that changes no list reuses it whole. */
let last: { key: string; set: CompiledListSet } | undefined;

/**
 * The same as loadLists, but the reading, parsing and compiling happen in a
 * worker thread; only the finished matcher (SharedArrayBuffers, not copied)
 * and the reports come back. When no input changed since the last call (same
 * specs, in-memory entries and, per file, path, size and modification time),
 * nothing is read again and the last set is returned.
 */
export async function loadListsOffThread(inputs: readonly ListInput[], opts: LoadOptions & { retire?: boolean; mark?: PhaseMark } = {}): Promise<ListSet> {
  const paths = resolvePaths(inputs, opts);
  // `retire`: the thread ends with the job (the daemon's start: the heap a compile leaves, ~100 MB per million
  // names after the job, goes at once); otherwise it stays 5 s, warm for a burst of reloads.
  const reply = await worker.run<CompileReply>({ kind: 'compile', inputs, paths, reuse: last?.key } satisfies CompileJob, { retire: opts.retire });
  if ('reused' in reply) return last!.set;
  if (opts.mark) {
    opts.mark('compileThread', reply.times.started);
    opts.mark('listsRead', reply.times.read);
    opts.mark('listsCompiled', reply.times.compiled);
  }
  const set = new CompiledListSet(new CompiledMatcher(reply.parts), reply.reports, inputs, paths, true, reply.sources);
  last = { key: reply.key, set };
  return set;
}

/** The parts, reports and sources of a set that loadListsOffThread compiled (what a snapshot keeps); undefined for any other set. */
export function compiledContent(set: ListSet): CompiledLists | undefined {
  return set instanceof CompiledListSet && set.sources.length > 0 ? { parts: set.matcher.parts, reports: set.reports, sources: set.sources } : undefined;
}

/**
 * A set over lists compiled earlier (a snapshot), as loadListsOffThread
 * would return it, explaining off the thread. `inputs` must be the ones it
 * was compiled from.
 */
export function adoptCompiled(inputs: readonly ListInput[], compiled: CompiledLists, opts: LoadOptions = {}): ListSet {
  return new CompiledListSet(new CompiledMatcher(compiled.parts), compiled.reports, inputs, resolvePaths(inputs, opts), true, compiled.sources);
}

/**
 * Reads every list file of `set` (from adoptCompiled) again, off the
 * thread, and compares what it reads with what it was compiled from: null
 * when all match, else why not, naming the list. A match makes the set the
 * one a reload with the same inputs reuses.
 */
export async function verifySources(set: ListSet): Promise<string | null> {
  if (!(set instanceof CompiledListSet)) throw new Error('verifySources: not a set from adoptCompiled');
  const { inputs, paths, sources } = set;
  const reply = await worker.run<VerifyReply>({ kind: 'verify', inputs, paths, sources } satisfies VerifyJob, { retire: true });
  // On a mismatch the files' stats failed to tell a change: the next load must not reuse a set by them either.
  last = reply.mismatch === null ? { key: reply.key, set } : undefined;
  return reply.mismatch;
}

export interface VerifyJob {
  kind: 'verify';
  inputs: readonly ListInput[];
  paths: readonly (string | undefined)[];
  sources: readonly (SourceFingerprint | null)[];
}

export interface VerifyReply {
  mismatch: string | null;
  key: string;
}

/** The verify job (run in the worker): the key first (its stats come before the reads, as for a compile). */
export async function verifyJob(job: VerifyJob): Promise<VerifyReply> {
  const key = await inputsKey(job.inputs, job.paths);
  for (let i = 0; i < job.inputs.length; i++) {
    const path = job.paths[i];
    if (path === undefined) continue;
    const was = job.sources[i];
    const { spec } = job.inputs[i];
    let now: SourceFingerprint;
    try {
      now = await readListFile(spec, path);
    } catch (err) {
      return { mismatch: (err as Error).message, key };
    }
    if (was === null || was === undefined || was.path !== now.path) return { mismatch: `list "${spec.name}": read from ${now.path}, not from where it was compiled`, key };
    for (const field of ['size', 'mtimeMs', 'ino', 'sha256'] as const) {
      if (was[field] !== now[field]) return { mismatch: `list "${spec.name}": its ${field === 'sha256' ? 'content' : field} changed (${was[field]} -> ${now[field]})`, key };
    }
  }
  return { mismatch: null, key };
}

export interface CompileJob {
  kind: 'compile';
  inputs: readonly ListInput[];
  paths: readonly (string | undefined)[];
  /** The key of the last compiled inputs: when they are unchanged, the job answers `reused`. */
  reuse: string | undefined;
}

/** When the compile thread took the job, had read and parsed every list, and had compiled them (epoch ms). */
interface CompileTimes {
  started: number;
  read: number;
  compiled: number;
}

export type CompileReply = { reused: true } | (CompiledLists & { key: string; times: CompileTimes });

/** The compile job (run in the worker). */
export async function compileJob(job: CompileJob): Promise<CompileReply> {
  const started = epochNow();
  const key = await inputsKey(job.inputs, job.paths);
  if (key === job.reuse) return { reused: true };
  let read = 0;
  // This thread's heap is the compile's alone: collecting between phases keeps the peak to one phase's arrays.
  const compiled = await compileLists(job.inputs, job.paths, fullGc(), () => (read = epochNow()));
  return { ...compiled, key, times: { started, read, compiled: epochNow() } };
}

/**
 * A digest of everything the compiled set depends on. Files are known by
 * path, size, modification time and inode (15 stats of the shared lists:
 * 0.1–0.6 ms; reading and hashing their 41 MB: 35–70 ms); stat comes before the
 * read, so a file changed while it is read is compiled again next time.
 */
async function inputsKey(inputs: readonly ListInput[], paths: readonly (string | undefined)[]): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify(inputs));
  for (let i = 0; i < paths.length; i++) {
    const path = paths[i];
    if (path === undefined) continue;
    const s = await stat(path).catch(() => undefined);
    hash.update(`\0${path}\0${s ? `${s.size}:${s.mtimeMs}:${s.ino}` : 'missing'}`);
  }
  return hash.digest('hex');
}

function resolvePaths(inputs: readonly ListInput[], opts: LoadOptions): (string | undefined)[] {
  return inputs.map(({ spec }) => (spec.source === undefined ? undefined : resolve(opts.baseDir ?? '.', spec.source)));
}

/** What was read of a list file: its stat before reading, and a hash of the bytes read. */
export interface SourceFingerprint {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
  /** SHA-256 of the bytes read, hex. */
  sha256: string;
}

/** Bytes read at a time: the list is parsed as it is read, never held whole. */
const CHUNK_BYTES = 256 * 1024;

/** Reads, parses and compiles on the calling thread. `sources`: per input, what was read of its file (null: in memory). */
async function compileLists(
  inputs: readonly ListInput[],
  paths: readonly (string | undefined)[],
  collect?: () => void,
  onRead?: () => void,
): Promise<CompiledLists> {
  const builder = new TrieBuilder({ expectedBytes: await expectedBytes(inputs, paths), collect });
  const reports: ListReport[] = [];
  const sources: (SourceFingerprint | null)[] = [];
  for (let listId = 0; listId < inputs.length; listId++) {
    const { spec, entries } = inputs[listId];
    const onEntry = (name: string, _line: number, exact: boolean, allow: boolean): void => builder.add(name, listId, exact, allow);
    const path = paths[listId];
    if (path === undefined) {
      reports.push(addMemoryList(spec, entries ?? [], onEntry));
      sources.push(null);
      continue;
    }
    const parser = new ListParser(spec, onEntry);
    sources.push(await readListFile(spec, path, (text) => parser.push(text)));
    reports.push(parser.end());
  }
  onRead?.();
  return { parts: builder.compile(inputs.map((i) => i.spec)).parts, reports, sources };
}

/** Bytes of text the lists hold, for the builder's first sizes: the files' sizes, ~16 bytes an in-memory entry. */
async function expectedBytes(inputs: readonly ListInput[], paths: readonly (string | undefined)[]): Promise<number> {
  let bytes = 0;
  for (let i = 0; i < inputs.length; i++) {
    const path = paths[i];
    bytes += path === undefined ? (inputs[i].entries?.length ?? 0) * 16 : ((await stat(path).catch(() => undefined))?.size ?? 0);
  }
  return bytes;
}

/**
 * Streams a list file to `onText` in chunks, decoded as UTF-8, the next
 * chunk read while this one is parsed; returns its stat (taken before
 * reading: a file changed while it is read has a new one next time) and the
 * hash of the bytes read. Without `onText` it only hashes. Throws `list "NAME": cannot read PATH: …`.
 */
export async function readListFile(spec: ListSpec, path: string, onText?: (text: string) => void): Promise<SourceFingerprint> {
  const fail = (err: unknown) => new Error(`list "${spec.name}": cannot read ${path}: ${(err as Error).message}`);
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch (err) {
    throw fail(err);
  }
  try {
    const { size, mtimeMs, ino } = await file.stat();
    const hash = createHash('sha256');
    const decoder = new StringDecoder('utf8');
    const buffers = [Buffer.allocUnsafe(CHUNK_BYTES), Buffer.allocUnsafe(CHUNK_BYTES)];
    let next = 0;
    let reading = file.read(buffers[next], 0, CHUNK_BYTES, null);
    for (;;) {
      const { bytesRead, buffer } = await reading;
      if (bytesRead === 0) break;
      next ^= 1;
      reading = file.read(buffers[next], 0, CHUNK_BYTES, null);
      const bytes = buffer.subarray(0, bytesRead);
      hash.update(bytes);
      onText?.(decoder.write(bytes));
    }
    onText?.(decoder.end());
    return { path, size, mtimeMs, ino, sha256: hash.digest('hex') };
  } catch (err) {
    // A read that failed (not what the parser or the builder threw).
    throw (err as NodeJS.ErrnoException).code !== undefined ? fail(err) : err;
  } finally {
    await file.close();
  }
}

/** Parses a list file as it is read (explanations re-read the lists they need). */
async function parseListFile(spec: ListSpec, path: string, onEntry: EntryCallback): Promise<ListReport> {
  const parser = new ListParser(spec, onEntry);
  await readListFile(spec, path, (text) => parser.push(text));
  return parser.end();
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

export interface ExplainJob {
  kind: 'explain';
  parts: CompiledParts;
  inputs: readonly ListInput[];
  paths: readonly (string | undefined)[];
  names: readonly string[];
}

/** The explain job (run in the worker, over the caller's matcher in shared memory). */
export function explainJob(job: ExplainJob): Promise<Explanation[][]> {
  return explainBatch(new CompiledMatcher(job.parts), job.inputs, job.paths, job.names);
}

/**
 * Every entry on each name's suffix path, most specific first. One pass per
 * list for all the names: a list is read only when some name's mask says it
 * is involved, and each of its entries is looked up among the names' suffixes.
 */
async function explainBatch(
  matcher: Matcher,
  inputs: readonly ListInput[],
  paths: readonly (string | undefined)[],
  names: readonly string[],
): Promise<Explanation[][]> {
  const found: Explanation[][] = names.map(() => []);
  const queries: string[] = [];
  const masks = new Int32Array(names.length);
  /** Suffix (the name itself or a parent) -> indices of the names it belongs to. */
  const bySuffix = new Map<string, number[]>();
  names.forEach((raw, i) => {
    // A host name normalised, any other name in presentation form: its labels split where its dots are not escaped.
    const query = queryText(raw);
    masks[i] = query !== null ? matchText(matcher, query) : -1;
    queries[i] = query ?? '';
    if (masks[i] <= 0) return;
    const labels = textLabels(queries[i]);
    for (let k = 0; k < labels.length; k++) {
      const suffix = labels.slice(k).join('.');
      const list = bySuffix.get(suffix);
      if (list === undefined) bySuffix.set(suffix, [i]);
      else if (list[list.length - 1] !== i) list.push(i);
    }
  });
  for (let listId = 0; listId < inputs.length; listId++) {
    const involved = (i: number): boolean => masks[i] > 0 && (matcher.blocks(masks[i], listId) || matcher.allows(masks[i], listId));
    if (!names.some((_, i) => involved(i))) continue;
    const { spec, entries } = inputs[listId];
    // An entry applies to the name itself, or (unless exact) to names below it.
    const collect = (entry: string, line: number, exact: boolean, allow: boolean, text?: string): void => {
      const hits = bySuffix.get(entry);
      if (hits === undefined) return;
      for (const i of hits) {
        if (!involved(i) || (exact && entry !== queries[i])) continue;
        found[i].push({ list: spec.name, entry, line, allow, exact, ...(text === undefined ? {} : { text }) });
      }
    };
    const path = paths[listId];
    if (path !== undefined) {
      await parseListFile(spec, path, collect);
    } else {
      for (const e of entries ?? []) {
        const entry = normalizeName(e.name);
        if (typeof entry === 'string') collect(entry, e.line, spec.exact || e.exact, spec.allow || e.allow, e.text);
      }
    }
  }
  // Most specific (longest entry) first; then list order (the order found), then line.
  const listIndex = new Map(inputs.map((input, i) => [input.spec.name, i]));
  for (const f of found) f.sort((a, b) => b.entry.length - a.entry.length || listIndex.get(a.list)! - listIndex.get(b.list)! || a.line - b.line);
  return found;
}

interface Waiting {
  names: readonly string[];
  resolve: (found: Explanation[][]) => void;
  reject: (err: Error) => void;
}

class CompiledListSet implements ListSet {
  /** Explanations asked for while a job runs: they go together in the next one. */
  private waiting: Waiting[] = [];
  private pendingNames = 0;
  private running = false;

  constructor(
    readonly matcher: CompiledMatcher,
    readonly reports: readonly ListReport[],
    readonly inputs: readonly ListInput[],
    readonly paths: readonly (string | undefined)[],
    private readonly offThread: boolean,
    /** What was read of each file, when known (compiled off the thread, or adopted from a snapshot). */
    readonly sources: readonly (SourceFingerprint | null)[] = [],
  ) {}

  async explain(name: string): Promise<Explanation[]> {
    return (await this.explainAll([name]))[0];
  }

  explainAll(names: readonly string[]): Promise<Explanation[][]> {
    if (!this.offThread) return explainBatch(this.matcher, this.inputs, this.paths, names);
    if (this.pendingNames + names.length > MAX_PENDING_NAMES) {
      return Promise.reject(new Error(`too many explanations pending (${this.pendingNames} names); try again shortly`));
    }
    this.pendingNames += names.length;
    const done = new Promise<Explanation[][]>((resolve, reject) => this.waiting.push({ names, resolve, reject }));
    this.startJob();
    return done;
  }

  /** One worker at a time: requests that arrive meanwhile are answered by the next job, all together. */
  private startJob(): void {
    if (this.running || this.waiting.length === 0) return;
    const batch: Waiting[] = [];
    let count = 0;
    while (this.waiting.length > 0 && (batch.length === 0 || count + this.waiting[0].names.length <= MAX_BATCH_NAMES)) {
      const w = this.waiting.shift()!;
      batch.push(w);
      count += w.names.length;
    }
    this.running = true;
    const job: ExplainJob = { kind: 'explain', parts: this.matcher.parts, inputs: this.inputs, paths: this.paths, names: batch.flatMap((w) => w.names) };
    worker
      .run<Explanation[][]>(job)
      .then(
        (found) => {
          let at = 0;
          for (const w of batch) {
            w.resolve(found.slice(at, at + w.names.length));
            at += w.names.length;
          }
        },
        (err: Error) => batch.forEach((w) => w.reject(err)),
      )
      .finally(() => {
        this.pendingNames -= count;
        this.running = false;
        this.startJob();
      });
  }
}
