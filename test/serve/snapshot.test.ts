// The compiled-filter snapshot in dataDir: a restart with nothing changed
// serves the snapshot (and checks it in the background); a change to any
// fingerprint (a list's size, time, inode, path or content, the lists
// section, the catalogue, the aifence version or its compiling code) or a
// damaged file (cut short, a byte changed, an older format) compiles the
// lists instead. Every case also checks the answers, so that a snapshot
// served wrongly would show as a wrong verdict, not only as a log line.

import { existsSync, mkdtempSync, readFileSync, renameSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Catalogue } from '../../src/control/catalogue/index.js';
import { SNAPSHOT_FILE } from '../../src/control/snapshot.js';
import { readSnapshot, writeSnapshot } from '../../src/match/snapshot.js';
import { query } from '../support/client.js';
import { type StartOptions, startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

const NXDOMAIN = 3;
const NAMES = 2000;
const LIST = Array.from({ length: NAMES }, (_, i) => `host${i}.zone${i % 10}.test`).join('\n') + '\n';
const CONFIG = 'dataDir: data\nlists: { big: { source: big.txt } }\ngroups: { default: { block: [list:big] } }\n';

let upstream: TestUpstream;
beforeAll(async () => {
  upstream = await TestUpstream.start();
});
afterAll(async () => {
  await upstream?.close();
});

interface Started {
  dir: string;
  log: string[];
  stop(): Promise<void>;
  port: number;
}

async function start(config: string, options: StartOptions = {}): Promise<Started> {
  const log: string[] = [];
  const d = await startDaemon(config, [upstream.address], { ...options, log });
  return { dir: d.dir, log, port: d.port, stop: () => d.stop() };
}

const lines = (s: Started) => s.log.map((l) => JSON.parse(l) as Record<string, unknown>);
const serving = (s: Started) => lines(s).find((l) => l.msg === 'aifence serving')!;
const said = (s: Started, msg: string) => lines(s).find((l) => typeof l.msg === 'string' && l.msg.startsWith(msg));

async function until(done: () => unknown, what: string, ms = 20_000): Promise<void> {
  for (const t0 = Date.now(); !done(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
  }
}

/** A whole second, so that a test can put a file's time back exactly. */
const LIST_TIME = new Date('2026-11-30T12:00:00Z');

/** A first start in a new directory, stopped once its snapshot is on disk; returns the directory. */
async function primed(config = CONFIG, options: StartOptions = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'aifence-snapshot-'));
  writeFileSync(join(dir, 'big.txt'), LIST);
  utimesSync(join(dir, 'big.txt'), LIST_TIME, LIST_TIME);
  const first = await start(config, { dir, ...options });
  expect(serving(first).filter).toBe('compiled');
  await until(() => said(first, 'filter snapshot written'), 'the snapshot');
  await first.stop();
  return dir;
}

const rcode = async (s: Started, name: string) => (await query(s.port, name)).rcode;

describe('compiled-filter snapshot', () => {
  it('an unchanged restart serves the snapshot, answers as the compile did, and verifies it in the background', async () => {
    const dir = await primed();
    const again = await start(CONFIG, { dir });
    try {
      expect(serving(again).filter).toBe('snapshot');
      expect(await rcode(again, 'host7.zone7.test')).toBe(NXDOMAIN);
      expect(await rcode(again, `www.host${NAMES - 1}.zone${(NAMES - 1) % 10}.test`)).toBe(NXDOMAIN);
      expect(await rcode(again, 'host7.zone8.test')).toBe(0);
      await until(() => said(again, 'filter snapshot verified'), 'the verification');
      expect(said(again, 'filter snapshot was stale')).toBeUndefined();
    } finally {
      await again.stop();
    }
  });

  const serviceCatalogue = (id: string, name: string): Catalogue => ({
    info: { origin: 'packaged', version: id, reviewed: '2026-12-01' },
    tags: () => ['genai'],
    services: [{ id, name: id, vendor: id, country: 'us', tags: ['genai'], reviewed: '2026-12-01', shares: [], domains: [{ name, exact: false, sources: ['test'], line: 1, file: 'x.yaml', text: name }], file: 'x.yaml', line: 1 }],
  });

  /** Rewrites the snapshot's control-plane fingerprints (a valid file, checksum and all). */
  async function editMeta(dir: string, edit: (meta: Record<string, unknown>) => void): Promise<void> {
    const path = join(dir, 'data', SNAPSHOT_FILE);
    const content = readSnapshot(path);
    edit(content.meta as Record<string, unknown>);
    await writeSnapshot(path, content);
  }

  const changes: [string, RegExp, (dir: string) => Promise<string | void> | string | void, string?][] = [
    ['a list grows (its size)', /big\.txt changed \(size/, (dir) => writeFileSync(join(dir, 'big.txt'), LIST + 'added.test\n'), 'added.test'],
    ['a list is touched (its time)', /big\.txt changed \(modification time/, (dir) => utimesSync(join(dir, 'big.txt'), new Date(), new Date(Date.now() + 60_000))],
    [
      'a list is replaced by an identical copy (its inode)',
      /big\.txt changed \(inode/,
      (dir) => {
        writeFileSync(join(dir, 'copy.txt'), LIST);
        utimesSync(join(dir, 'copy.txt'), LIST_TIME, LIST_TIME);
        renameSync(join(dir, 'copy.txt'), join(dir, 'big.txt'));
      },
    ],
    [
      'a list moves (its path)',
      /lists section of the config changed/,
      (dir) => {
        writeFileSync(join(dir, 'moved.txt'), LIST + 'moved.test\n');
        return CONFIG.replace('big.txt', 'moved.txt');
      },
      'moved.test',
    ],
    ['a list changes its options (the config hash)', /lists section of the config changed/, () => CONFIG.replace('source: big.txt', 'source: big.txt, exact: true')],
    ['the aifence version', /written by aifence 0\.0\.1/, (dir) => editMeta(dir, (m) => (m.aifence = '0.0.1'))],
    ['the compiling code (a rebuild)', /rebuilt or upgraded/, (dir) => editMeta(dir, (m) => (m.compiler = 'older'))],
    ['the file is cut short', /cut short/, (dir) => truncateSync(join(dir, 'data', SNAPSHOT_FILE), 5000)],
    [
      'a byte of the file changed',
      /checksum/,
      (dir) => {
        const path = join(dir, 'data', SNAPSHOT_FILE);
        const bytes = readFileSync(path);
        bytes[bytes.length - 100] ^= 0x40;
        writeFileSync(path, bytes);
      },
    ],
    [
      'it is of an older format',
      /format 0, this aifence reads format 1/,
      (dir) => {
        const path = join(dir, 'data', SNAPSHOT_FILE);
        const bytes = readFileSync(path);
        bytes.writeUInt32LE(0, 24);
        writeFileSync(path, bytes);
      },
    ],
  ];

  it.each(changes)('is not used when %s', async (_what, why, change, added) => {
    const dir = await primed();
    const config = (await change(dir)) ?? CONFIG;
    const again = await start(config, { dir });
    try {
      expect(serving(again).filter).toBe('compiled');
      expect(JSON.stringify(said(again, 'filter snapshot not used'))).toMatch(why);
      expect(await rcode(again, 'host7.zone7.test')).toBe(NXDOMAIN);
      if (added) expect(await rcode(again, added)).toBe(NXDOMAIN);
      // The new compile is the next start's snapshot.
      await until(() => said(again, 'filter snapshot written'), 'the new snapshot');
    } finally {
      await again.stop();
    }
  });

  it('is not used with another catalogue (its content, however it is named)', async () => {
    const dir = await primed(CONFIG, { catalogue: serviceCatalogue('one', 'one.example') });
    const again = await start(CONFIG, { dir, catalogue: serviceCatalogue('one', 'two.example') });
    try {
      expect(serving(again).filter).toBe('compiled');
      expect(JSON.stringify(said(again, 'filter snapshot not used'))).toContain('the catalogue changed');
    } finally {
      await again.stop();
    }
  });

  it('a list rewritten behind the same size and time: served from the snapshot, caught in the background, compiled again', async () => {
    const dir = await primed();
    const path = join(dir, 'big.txt');
    const { ino } = statSync(path);
    // Same length, same inode (written in place), same time put back: only the content tells.
    writeFileSync(path, LIST.replace('host7.zone7.test\n', 'hosx7.zone7.test\n'));
    utimesSync(path, LIST_TIME, LIST_TIME);
    expect(statSync(path).ino).toBe(ino);
    const again = await start(CONFIG, { dir });
    try {
      expect(serving(again).filter).toBe('snapshot');
      await until(() => said(again, 'filter snapshot was stale'), 'the background check');
      expect(JSON.stringify(said(again, 'filter snapshot was stale'))).toContain('list \\"big\\": its content changed');
      await until(() => said(again, 'reloaded'), 'the compile');
      expect(await rcode(again, 'hosx7.zone7.test')).toBe(NXDOMAIN);
      expect(await rcode(again, 'host7.zone7.test')).toBe(0);
      expect(existsSync(join(dir, 'data', SNAPSHOT_FILE))).toBe(true);
    } finally {
      await again.stop();
    }
  });
});
