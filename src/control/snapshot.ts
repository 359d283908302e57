// The compiled-filter snapshot in dataDir (the format: src/match/snapshot.ts).
// Written after every compile; read at start when every fingerprint still
// matches, so that a restart serves at once instead of compiling for a
// second or more; then checked again in the background, and any difference
// compiles the lists as a reload would. What is fingerprinted:
//
// - each list file: path, size, modification time and inode, checked before
//   serving; the hash of its content, checked in the background;
// - the lists section of the config (each list's name, path, format, exact,
//   allow); the rest (groups, answers, upstreams) is applied at start as
//   always, so changing it keeps the snapshot;
// - the catalogue: the hash of all it holds, and for the packaged one the
//   key of its files (the package version and every file's name and
//   content: then the snapshot's copy is used);
// - the aifence version, and the files of the code that builds the lists
//   and compiles them (an upgrade or a rebuild compiles again), and the
//   snapshot's own format.
//
// Verdict tables are not kept: they follow the clock (expiring exceptions,
// schedules) and the runtime state (pauses), and are rebuilt from the rules
// at every start in milliseconds.

import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Catalogue, type CatalogueFiles, packageVersion, readCatalogueFiles } from './catalogue/index.js';
import type { PackagedCatalogue } from './catalogue/offload.js';
import type { Config } from './config/schema.js';
import type { Logger } from '../shared/logger.js';
import { compiledContent, verifySources } from '../match/lists.js';
import { SnapshotError, type SnapshotContent, readSnapshot, writeSnapshot } from '../match/snapshot.js';
import type { ListSet } from '../match/types.js';

export const SNAPSHOT_FILE = 'filter.snapshot';

/** The catalogue as data (tags() is a function). */
interface CatalogueData {
  services: Catalogue['services'];
  info: Catalogue['info'];
  tags: string[];
}

/** The control plane's part of the snapshot header. */
interface SnapshotMeta {
  aifence: string;
  compiler: string;
  lists: string;
  catalogue: {
    /** The packaged catalogue's files' key when it was compiled from them; null for a signed bundle (or a test's own). */
    key: string | null;
    hash: string;
    data: CatalogueData;
  };
}

/** A snapshot whose lists and code fingerprints match: its matcher, and the catalogue it was compiled with. */
export interface SavedFilter {
  compiled: SnapshotContent;
  catalogue: Catalogue;
  /** As in SnapshotMeta: the packaged catalogue's files' key, or null. */
  catalogueKey: string | null;
  catalogueHash: string;
}

/** What a start takes from the snapshot: the saved filter (if its fingerprints match), and the packaged catalogue. */
export interface SnapshotStart {
  saved: SavedFilter | null;
  /** The packaged catalogue (and its files' key; null for the caller's own): the snapshot's copy when its files are unchanged, else read. */
  packaged: { catalogue: Catalogue; key: string | null };
  /** The snapshot's copy stands in for the packaged catalogue (its files are those it was compiled from). */
  catalogueFromSnapshot: boolean;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** All a catalogue holds, as one hash: a snapshot's matcher is used only with the same one. */
const catalogueHash = (c: Catalogue): string => sha256(JSON.stringify({ services: c.services, info: c.info }));


/** The lists section of the config: what the matcher is compiled from besides the files and the catalogue. */
const listsHash = (config: Config): string => sha256(JSON.stringify(config.lists.map(({ name, source, format, exact, allow }) => ({ name, source, format, exact, allow }))));

/**
 * The files of the code that turns the config and the catalogue into the
 * matcher's inputs and compiles them (names, sizes, times): a rebuilt or
 * upgraded aifence compiles again.
 */
function compilerStamp(): string {
  const lines: string[] = [];
  for (const dir of ['../match/', './policy/', './catalogue/']) {
    const path = fileURLToPath(new URL(dir, import.meta.url));
    const files = readdirSync(path, { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.(js|ts)$/.test(f) && !f.endsWith('.test.ts'))
      .sort();
    for (const f of files) {
      const st = statSync(join(path, f));
      lines.push(`${dir}${f}:${st.size}:${st.mtimeMs}`);
    }
  }
  return sha256(lines.join('|'));
}

export class FilterSnapshots {
  readonly path: string;
  /** The set last written or read: a reload that reused it has nothing new to write. */
  private current: ListSet | null = null;
  private warned = false;
  /** The write in progress, if any: stopping waits for it (a restart right after a start finds the snapshot). */
  private writing: Promise<void> = Promise.resolve();
  /** A reload's write waiting for its burst to end. */
  private pending: { run: () => void; timer: NodeJS.Timeout } | null = null;

  constructor(
    dataDir: string,
    private readonly log: Logger,
  ) {
    this.path = join(dataDir, SNAPSHOT_FILE);
  }

  /**
   * The snapshot, if the aifence version, the compiling code, the lists
   * section and every list file's path, size, time and inode are what it
   * was compiled from; else null, and the log says why. The catalogue is
   * left to the caller (it may not be read yet).
   */
  read(config: Config): SavedFilter | null {
    const compiler = compilerStamp();
    try {
      const compiled = readSnapshot(this.path, (header) => {
        const meta = header.meta as SnapshotMeta;
        if (meta?.aifence !== packageVersion()) throw new SnapshotError(`written by aifence ${meta?.aifence}, this is ${packageVersion()}`);
        if (meta.compiler !== compiler) throw new SnapshotError('aifence was rebuilt or upgraded since');
        if (meta.lists !== listsHash(config)) throw new SnapshotError('the lists section of the config changed');
        for (const source of header.sources) {
          if (source === null) continue;
          const st = statSync(source.path, { throwIfNoEntry: false });
          if (st === undefined) throw new SnapshotError(`${source.path} is gone`);
          for (const [field, now] of [['size', st.size], ['modification time', st.mtimeMs], ['inode', st.ino]] as const) {
            const was = field === 'size' ? source.size : field === 'inode' ? source.ino : source.mtimeMs;
            if (was !== now) throw new SnapshotError(`${source.path} changed (${field} ${was} -> ${now})`);
          }
        }
      });
      const meta = compiled.meta as SnapshotMeta;
      const { services, info, tags } = meta.catalogue.data;
      return { compiled, catalogue: { services, info, tags: () => [...tags] }, catalogueKey: meta.catalogue.key, catalogueHash: meta.catalogue.hash };
    } catch (err) {
      if (!(err instanceof SnapshotError)) throw err;
      this.log.info({ snapshot: this.path, reason: err.message }, 'filter snapshot not used: compiling the lists');
      return null;
    }
  }

  /** Writes at once what waits (a reload's snapshot), and resolves once no write is in progress, written or not. */
  settled(): Promise<void> {
    if (this.pending !== null) {
      clearTimeout(this.pending.timer);
      this.pending.run();
    }
    return this.writing;
  }

  /**
   * At start: the snapshot when its fingerprints match, and the packaged
   * catalogue: the snapshot's copy when the catalogue's files are those it
   * was compiled from, else `readPackaged(files)` (with the files just read);
   * `given`: a catalogue of the caller's (tests).
   */
  async open(config: Config, given: Catalogue | undefined, readPackaged: (files: CatalogueFiles) => Promise<PackagedCatalogue>): Promise<SnapshotStart> {
    const saved = this.read(config);
    if (given !== undefined) return { saved, packaged: { catalogue: given, key: null }, catalogueFromSnapshot: false };
    const files = readCatalogueFiles();
    if (saved !== null && saved.catalogueKey === files.key) return { saved, packaged: { catalogue: saved.catalogue, key: files.key }, catalogueFromSnapshot: true };
    return { saved, packaged: await readPackaged(files), catalogueFromSnapshot: false };
  }

  /** The saved lists, if `catalogue` (the one in force: packaged, a signed bundle, a test's) is the one they were compiled with. */
  compiledFor(start: SnapshotStart, catalogue: Catalogue): SnapshotContent | undefined {
    const { saved } = start;
    if (saved === null) return undefined;
    // The snapshot's own catalogue needs no comparing; any other is compared whole.
    if ((start.catalogueFromSnapshot && catalogue === start.packaged.catalogue) || catalogueHash(catalogue) === saved.catalogueHash) return saved.compiled;
    this.log.info({ snapshot: this.path, reason: 'the catalogue changed' }, 'filter snapshot not used: compiling the lists');
    return undefined;
  }

  /**
   * After a start from the snapshot, in the background: reads every list
   * file of `lists` again and compares its content with what was compiled.
   * Returns why it was stale, or null. (The catalogue needs no second look:
   * the snapshot's copy was taken only for the very files it came from.)
   */
  async check(lists: ListSet): Promise<string | null> {
    let stale: string | null;
    try {
      stale = await verifySources(lists);
    } catch (err) {
      stale = `it could not be checked: ${(err as Error).message}`;
    }
    if (stale === null) this.log.info({ snapshot: this.path }, 'filter snapshot verified: every list file is what it was compiled from');
    else this.log.warn({ snapshot: this.path, reason: stale }, 'filter snapshot was stale: compiling the lists again');
    return stale;
  }

  /** The set a start took from the snapshot: nothing to write for it. */
  adopted(set: ListSet): void {
    this.current = set;
  }

  /**
   * Writes the lists `set` compiled with `catalogue` in the background;
   * `packaged`: the key of the packaged catalogue's files when `catalogue`
   * is the packaged one (known at the next start by its files; a signed
   * bundle or a test's own, null, by its content). `delayMs`: wait
   * that long first, a later write replacing this one (a burst of reloads
   * writes once, when it is over; stopping writes what waits). A set
   * already written (a reload that reused it) is skipped. A failure is
   * logged once, never fatal.
   */
  write(set: ListSet, config: Config, catalogue: Catalogue, packaged: string | null, delayMs = 0): void {
    const content = compiledContent(set);
    if (content === undefined || set === this.current) return;
    this.current = set;
    if (this.pending !== null) clearTimeout(this.pending.timer);
    const run = () => {
      this.pending = null;
      const meta: SnapshotMeta = {
        aifence: packageVersion(),
        compiler: compilerStamp(),
        lists: listsHash(config),
        catalogue: { key: packaged, hash: catalogueHash(catalogue), data: { services: catalogue.services, info: catalogue.info, tags: catalogue.tags() } },
      };
      const previous = this.writing;
      this.writing = previous.then(() => writeSnapshot(this.path, { ...content, meta })).then(
        () => this.log.debug({ snapshot: this.path }, 'filter snapshot written'),
        (err: Error) => {
          if (this.warned) return;
          this.warned = true;
          this.log.warn({ snapshot: this.path, err: err.message }, 'filter snapshot not written: every start compiles the lists');
        },
      );
    };
    if (delayMs <= 0) return run();
    this.pending = { run, timer: setTimeout(run, delayMs).unref() };
  }
}
