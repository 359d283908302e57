import { existsSync, mkdtempSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryList } from '../../test/match/helpers.js';
import { loadLists } from './lists.js';
import { CompiledMatcher } from './matcher.js';
import { SNAPSHOT_FORMAT, SnapshotError, type SnapshotContent, readSnapshot, writeSnapshot } from './snapshot.js';

const dir = mkdtempSync(join(tmpdir(), 'aifence-snapshot-'));

/** A compiled matcher of a few hundred names over two lists, and a snapshot of it written to a new file. */
async function written(name: string): Promise<{ path: string; content: SnapshotContent }> {
  const names = Array.from({ length: 300 }, (_, i) => `host${i}.zone${i % 7}.example`);
  const set = await loadLists([memoryList('block', names), memoryList('allow', ['host1.zone1.example'], { allow: true, exact: true })]);
  const content: SnapshotContent = {
    parts: (set.matcher as CompiledMatcher).parts,
    reports: set.reports,
    sources: [null, { path: '/lists/allow.txt', size: 20, mtimeMs: 1.5, ino: 7, sha256: 'ab' }],
    meta: { mine: ['anything', 1] },
  };
  const path = join(dir, name);
  await writeSnapshot(path, content);
  return { path, content };
}

const reason = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(SnapshotError);
    return (err as Error).message;
  }
  throw new Error('not refused');
};

describe('filter snapshot file', () => {
  it('reads back the same matcher, reports, sources and meta, in shared memory', async () => {
    const { path, content } = await written('round-trip');
    const back = readSnapshot(path);
    expect(back.parts.pool).toEqual(content.parts.pool);
    expect(back.parts.table).toEqual(content.parts.table);
    expect(back.parts.masks.bits).toEqual(content.parts.masks.bits);
    expect(back.parts.pool.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect({ ...back, parts: undefined }).toEqual({ ...content, reports: [...content.reports], parts: undefined });
    const [m, n] = [new CompiledMatcher(content.parts), new CompiledMatcher(back.parts)];
    for (const q of ['host5.zone5.example', 'www.host9.zone2.example', 'host1.zone1.example', 'other.example']) expect(n.matchName(q)).toBe(m.matchName(q));
    expect(n.matchName('host5.zone5.example')).toBeGreaterThan(0);
  });

  it('removes the temporary files of writes a killed process left, and only those', async () => {
    const left = join(dir, 'leftovers.1.abc.tmp');
    const mine = join(dir, `leftovers.${process.pid}.def.tmp`);
    writeFileSync(left, 'half a snapshot');
    writeFileSync(mine, 'a write in progress');
    await written('leftovers');
    expect(existsSync(left)).toBe(false);
    expect(existsSync(mine)).toBe(true);
  });

  it('lets the caller refuse it on its header, before the sections are read', async () => {
    const { path } = await written('refused');
    let seen: unknown;
    expect(
      reason(() =>
        readSnapshot(path, (header) => {
          seen = header.meta;
          throw new SnapshotError('the lists changed');
        }),
      ),
    ).toBe('the lists changed');
    expect(seen).toEqual({ mine: ['anything', 1] });
  });

  it('refuses a file cut short anywhere', async () => {
    const { path } = await written('cut');
    const size = statSync(path).size;
    const whole = readFileSync(path);
    for (const keep of [0, 10, 40, 200, size - 1000, size - 33, size - 1]) {
      writeFileSync(path, whole);
      truncateSync(path, keep);
      expect(reason(() => readSnapshot(path)), `cut to ${keep} bytes`).toMatch(/cut short|not a filter snapshot/);
    }
  });

  it('refuses a file with one byte changed, in the sections, the header or the checksum', async () => {
    const { path } = await written('flipped');
    const whole = readFileSync(path);
    const headerEnd = 32 + whole.readUInt32LE(28);
    for (const at of [headerEnd + 100, whole.length - 5000, 40, whole.length - 1]) {
      const bad = Buffer.from(whole);
      bad[at] ^= 0x01;
      writeFileSync(path, bad);
      expect(reason(() => readSnapshot(path)), `byte ${at}`).toMatch(/checksum|header is damaged|cut short|longer/);
    }
    writeFileSync(path, whole);
    expect(() => readSnapshot(path)).not.toThrow();
  });

  it('refuses an older format, and what is no snapshot at all', async () => {
    const { path } = await written('older');
    const older = readFileSync(path);
    older.writeUInt32LE(SNAPSHOT_FORMAT - 1, 24);
    writeFileSync(path, older);
    expect(reason(() => readSnapshot(path))).toBe(`format ${SNAPSHOT_FORMAT - 1}, this aifence reads format ${SNAPSHOT_FORMAT}`);
    writeFileSync(path, 'hello, not a snapshot, but long enough to have a header and a checksum...');
    expect(reason(() => readSnapshot(path))).toBe('not a filter snapshot');
    expect(reason(() => readSnapshot(join(dir, 'missing')))).toBe('no snapshot yet');
  });
});
