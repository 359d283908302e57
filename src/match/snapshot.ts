// The compiled matcher on disk: what a restart reads instead of compiling
// the lists again. The file holds the matcher's flat arrays as they are in
// memory, the reports of the compile, what was read of each list file
// (SourceFingerprint) and whatever the caller adds (`meta`: the control
// plane's fingerprints), behind a versioned header and under a checksum.
//
//   "aifence-filter-snapshot\n"   24 bytes
//   format version                u32 LE
//   header length H               u32 LE
//   header                        H bytes of JSON: the matcher's scalars and list specs, the section sizes, reports, sources, meta
//   sections                      pool, table, mask bits: each as in memory, padded to 8 bytes
//   checksum                      SHA-256 of every byte before it
//
// Reading checks the magic, the format, the machine's byte order and the
// length before anything else, hands the header to the caller to accept or
// refuse (fingerprints), then reads the sections straight into shared
// memory and checks the checksum: a file cut short, a byte changed or an
// older format is refused with the reason, never half used.

import { createHash } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readSync, readdirSync, rmSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { SourceFingerprint } from './lists.js';
import type { CompiledParts } from './matcher.js';
import { sharedArray } from './shared.js';
import type { ListReport } from './types.js';

const MAGIC = Buffer.from('aifence-filter-snapshot\n');
/** Raised whenever the layout or the meaning of what is stored changes: an older file is then refused. */
export const SNAPSHOT_FORMAT = 1;
const PREFIX = MAGIC.length + 8;
const CHECKSUM = 32;
/** Bytes hashed and written or read at a time. */
const CHUNK = 1 << 20;

/** What a snapshot holds. */
export interface SnapshotContent {
  parts: CompiledParts;
  reports: readonly ListReport[];
  /** Per list (by list id): what was read of its file; null for in-memory lists. */
  sources: readonly (SourceFingerprint | null)[];
  /** The caller's own fingerprints and data, as JSON. */
  meta: unknown;
}

/** The header as read, before the sections: what a caller checks its fingerprints against. */
export interface SnapshotHeader {
  format: number;
  sources: readonly (SourceFingerprint | null)[];
  meta: unknown;
}

interface StoredHeader extends SnapshotHeader {
  endianness: string;
  matcher: Omit<CompiledParts, 'pool' | 'table' | 'masks'> & { masks: { count: number; words: number } };
  sections: { pool: number; table: number; masks: number };
  reports: ListReport[];
}

/** Why a snapshot cannot be used: the caller compiles instead. */
export class SnapshotError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'SnapshotError';
  }
}

const pad8 = (n: number) => (8 - (n % 8)) % 8;
const ZEROS = Buffer.alloc(8);

/**
 * Writes the snapshot to `path` (its directory created if need be) through a
 * temporary file renamed over it, so that a reader never sees half a file.
 * The I/O is asynchronous and the checksum is computed 1 MB at a time: the
 * thread that calls this keeps answering queries meanwhile.
 */
export async function writeSnapshot(path: string, content: SnapshotContent): Promise<void> {
  const { parts } = content;
  const { pool, table, masks, ...scalars } = parts;
  const header: StoredHeader = {
    format: SNAPSHOT_FORMAT,
    endianness: endianness(),
    matcher: { ...scalars, masks: { count: masks.count, words: masks.words } },
    sections: { pool: pool.byteLength, table: table.byteLength, masks: masks.bits.byteLength },
    reports: [...content.reports],
    sources: content.sources,
    meta: content.meta,
  };
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(PREFIX);
  MAGIC.copy(prefix);
  prefix.writeUInt32LE(SNAPSHOT_FORMAT, MAGIC.length);
  prefix.writeUInt32LE(json.length, MAGIC.length + 4);
  mkdirSync(dirname(path), { recursive: true });
  removeLeftovers(path);
  const temp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const file = await open(temp, 'w', 0o644);
  try {
    const hash = createHash('sha256');
    const put = async (bytes: Uint8Array) => {
      for (let at = 0; at < bytes.length; at += CHUNK) {
        const chunk = bytes.subarray(at, at + CHUNK);
        hash.update(chunk);
        await file.write(chunk);
      }
    };
    await put(prefix);
    await put(json);
    await put(ZEROS.subarray(0, pad8(PREFIX + json.length)));
    for (const section of [pool, table, masks.bits]) {
      await put(new Uint8Array(section.buffer, section.byteOffset, section.byteLength));
      await put(ZEROS.subarray(0, pad8(section.byteLength)));
    }
    await file.write(hash.digest());
    await file.close();
    await rename(temp, path);
  } catch (err) {
    await file.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw err;
  }
}

/** Temporary files of writes that a killed process never finished (another PID's: this process's may be in progress). */
function removeLeftovers(path: string): void {
  const prefix = `${basename(path)}.`;
  for (const name of readdirSync(dirname(path))) {
    const pid = name.startsWith(prefix) && name.endsWith('.tmp') ? Number(name.slice(prefix.length).split('.')[0]) : NaN;
    if (Number.isInteger(pid) && pid !== process.pid) rmSync(join(dirname(path), name), { force: true });
  }
}

/**
 * Reads the snapshot at `path`. `accept` sees the header first and throws
 * (a SnapshotError naming the reason) to refuse it before the sections are
 * read. Throws SnapshotError when the file is missing, cut short, of
 * another format or byte order, or fails its checksum.
 */
export function readSnapshot(path: string, accept: (header: SnapshotHeader) => void = () => undefined): SnapshotContent {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new SnapshotError((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no snapshot yet' : `cannot read it: ${(err as Error).message}`);
  }
  try {
    const size = fstatSync(fd).size;
    const hash = createHash('sha256');
    let at = 0;
    /** Reads `into` from the current position, hashing it; a file that ends first is cut short. */
    const take = (into: Uint8Array): void => {
      for (let done = 0; done < into.length; ) {
        const n = readSync(fd, into, done, Math.min(CHUNK, into.length - done), at);
        if (n === 0) throw new SnapshotError(`the file is cut short (${size} bytes)`);
        hash.update(into.subarray(done, done + n));
        done += n;
        at += n;
      }
    };
    const prefix = Buffer.alloc(PREFIX);
    take(prefix);
    if (!prefix.subarray(0, MAGIC.length).equals(MAGIC)) throw new SnapshotError('not a filter snapshot');
    const format = prefix.readUInt32LE(MAGIC.length);
    if (format !== SNAPSHOT_FORMAT) throw new SnapshotError(`format ${format}, this aifence reads format ${SNAPSHOT_FORMAT}`);
    const headerLength = prefix.readUInt32LE(MAGIC.length + 4);
    if (PREFIX + headerLength + CHECKSUM > size) throw new SnapshotError(`the file is cut short (${size} bytes)`);
    const json = Buffer.alloc(headerLength);
    take(json);
    let header: StoredHeader;
    try {
      header = JSON.parse(json.toString('utf8')) as StoredHeader;
    } catch {
      throw new SnapshotError('its header is damaged');
    }
    const { sections } = header;
    const sized = (n: unknown, unit: number) => Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) % unit === 0;
    if (!sized(sections?.pool, 1) || !sized(sections?.table, 4) || !sized(sections?.masks, 4)) throw new SnapshotError('its header is damaged');
    const expected = PREFIX + headerLength + pad8(PREFIX + headerLength) + [sections.pool, sections.table, sections.masks].reduce((n, s) => n + s + pad8(s), 0) + CHECKSUM;
    if (size !== expected) throw new SnapshotError(size < expected ? `the file is cut short (${size} of ${expected} bytes)` : `the file is longer than its header says (${size} of ${expected} bytes)`);
    if (header.endianness !== endianness()) throw new SnapshotError(`written on a ${header.endianness} machine, this one is ${endianness()}`);
    accept(header);
    const skipPad = (n: number) => take(Buffer.alloc(pad8(n)));
    skipPad(PREFIX + headerLength);
    const pool = sharedArray(Uint8Array, sections.pool);
    take(pool);
    skipPad(sections.pool);
    const table = sharedArray(Uint32Array, sections.table / 4);
    take(new Uint8Array(table.buffer));
    skipPad(sections.table);
    const bits = sharedArray(Uint32Array, sections.masks / 4);
    take(new Uint8Array(bits.buffer));
    skipPad(sections.masks);
    const digest = hash.digest();
    const stored = Buffer.alloc(CHECKSUM);
    if (readSync(fd, stored, 0, CHECKSUM, at) !== CHECKSUM || !stored.equals(digest)) throw new SnapshotError('its checksum does not match: the file is damaged');
    const parts: CompiledParts = { ...header.matcher, pool, table, masks: { ...header.matcher.masks, bits } };
    return { parts, reports: header.reports, sources: header.sources, meta: header.meta };
  } finally {
    closeSync(fd);
  }
}
