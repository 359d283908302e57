// The query log after its disk fails: a real ENOSPC (the log path is a
// symlink to /dev/full), then the disk "recovers" (the symlink is pointed at
// a real file). The log must start writing again by itself, and at once on
// a reload, without a restart; what was lost in between is counted and noted.

import { existsSync, mkdtempSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeQuery, query } from '../support/client.js';
import { startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';
import { QueryEvent } from '../../src/shared/events.js';
import { createLogger } from '../../src/shared/logger.js';
import { QueryLog } from '../../src/control/observe/querylog.js';

const hasDevFull = existsSync('/dev/full');

/** A log path that fails every write with ENOSPC until `recover()` points it at a real file. */
function fullDisk() {
  const dir = mkdtempSync(join(tmpdir(), 'aifence-fulldisk-'));
  const path = join(dir, 'queries.jsonl');
  const real = join(dir, 'real.jsonl');
  symlinkSync('/dev/full', path);
  return {
    path,
    real,
    recover() {
      unlinkSync(path);
      symlinkSync(real, path);
    },
  };
}

const lines = (file: string): Record<string, unknown>[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];

async function until(what: string, test: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An allowed A query from 10.0.0.1, as the resolver hands it to observers. */
function event(name: string): QueryEvent {
  const e = new QueryEvent();
  Object.assign(e, { time: Date.now(), client: '10.0.0.1', group: 'default', verdict: 'allowed', msg: encodeQuery(name, 1), qtype: 1 });
  e.questionEnd = e.msg.length;
  return e;
}

describe.runIf(hasDevFull)('query log on a disk that fails and recovers', () => {
  it('retries by itself with back-off and resumes writing, noting what it dropped', async () => {
    const disk = fullDisk();
    const warnings: { msg: string }[] = [];
    const log = createLogger({ level: 'warn', destination: { write: (l: string) => void warnings.push(JSON.parse(l)) } });
    const qlog = new QueryLog({ mode: 'all', path: disk.path, maxSize: 1 << 20, keep: 1, anonymize: false }, log, { flushMs: 20, retryMs: 100, retryMaxMs: 400 });
    try {
      qlog.observe(event('lost.example'));
      await until('the full disk is noticed', () => qlog.dropped > 0, 3000);
      // Observed while the file is failed: it waits in memory, and is not lost with a retry on a disk still full.
      qlog.observe(event('waited.example'));
      const retries = () => warnings.filter((w) => w.msg === 'query log cannot be written yet; retrying').length;
      await until('a retry fails on the disk still full', () => retries() >= 1, 3000);
      disk.recover();
      qlog.observe(event('after.example'));
      await until('lines are written after the disk recovered', () => lines(disk.real).some((l) => l.name === 'after.example'), 5000);
      const written = lines(disk.real);
      expect(written.filter((l) => l.name).map((l) => l.name)).toEqual(['waited.example', 'after.example']);
      // The entry in the write that failed is gone, counted and noted in the file.
      const noted = written.filter((l) => l.event === 'dropped').reduce((n, l) => n + (l.count as number), 0);
      expect(noted).toBe(1);
      expect(qlog.dropped).toBe(1);
      // Said once the write's completion comes back, which may be a moment after its bytes are in the file.
      await until('the recovery is logged', () => warnings.some((w) => w.msg === 'query log writing again'), 3000);
    } finally {
      await qlog.close();
    }
  });
});

describe.runIf(hasDevFull)('query log whose file cannot even be opened for a while', () => {
  it('keeps retrying with back-off and resumes once the path is writable again', async () => {
    const disk = fullDisk();
    const warnings: { msg: string; retryInMs?: number }[] = [];
    const log = createLogger({ level: 'warn', destination: { write: (l: string) => void warnings.push(JSON.parse(l)) } });
    const qlog = new QueryLog({ mode: 'all', path: disk.path, maxSize: 1 << 20, keep: 1, anonymize: false }, log, { flushMs: 20, retryMs: 50, retryMaxMs: 200 });
    try {
      qlog.observe(event('lost.example'));
      await until('the full disk is noticed', () => qlog.failing, 3000);
      qlog.observe(event('kept.example'));
      // Now the path leads through a regular file where a directory should be: open() fails with ENOTDIR.
      const blocker = `${disk.real}.dir`;
      writeFileSync(blocker, '');
      unlinkSync(disk.path);
      symlinkSync(join(blocker, 'q.jsonl'), disk.path);
      const openFailures = () => warnings.filter((w) => w.msg === 'query log still cannot be opened');
      await until('re-opening fails a few times', () => openFailures().length >= 3, 5000);
      // Back-off grows, up to its ceiling.
      expect(openFailures().map((w) => w.retryInMs)).toEqual(expect.arrayContaining([200]));
      disk.recover();
      await until('the waiting entry is written', () => lines(disk.real).some((l) => l.name === 'kept.example'), 5000);
      expect(qlog.failing).toBe(false);
    } finally {
      await qlog.close();
    }
  });
});

describe.runIf(hasDevFull)('query log in the daemon on a disk that fails and recovers', () => {
  let upstream: TestUpstream;
  beforeAll(async () => {
    upstream = await TestUpstream.start();
  });
  afterAll(() => upstream.close());

  it('re-opens the failed log at once on a reload whose config did not change', async () => {
    const disk = fullDisk();
    const d = await startDaemon(`queryLog: { mode: all, path: ${JSON.stringify(disk.path)} }\n`, [upstream.address]);
    try {
      const failedAt = Date.now();
      await query(d.port, 'lost.example');
      await sleep(500); // flushed (200 ms) into /dev/full: ENOSPC; the next retry is 5 s away
      disk.recover();
      const reloaded = await d.daemon.reload();
      expect(reloaded.ok).toBe(true);
      await query(d.port, 'after-reload.example');
      await until('the line after the reload is written', () => lines(disk.real).some((l) => l.name === 'after-reload.example'), 3000);
      // Well before the back-off would have retried: the reload did it.
      expect(Date.now() - failedAt).toBeLessThan(5000);
    } finally {
      await d.stop();
    }
  });

  it('resumes by itself, without reload or restart, once the disk takes writes again', async () => {
    const disk = fullDisk();
    const d = await startDaemon(`queryLog: { mode: all, path: ${JSON.stringify(disk.path)} }\n`, [upstream.address]);
    try {
      await query(d.port, 'lost.example');
      await sleep(500);
      disk.recover();
      await query(d.port, 'later.example');
      // The first retry comes 5 s after the failure; the entry that waited is written then.
      await until('a line is written once the disk recovered', () => lines(disk.real).some((l) => l.name === 'later.example'), 10_000);
      expect(lines(disk.real).find((l) => l.event === 'dropped')).toMatchObject({ count: 1 });
      expect((await d.daemon.scrape()).body).toMatch(/aifence_querylog_dropped_total 1/);
    } finally {
      await d.stop();
    }
  }, 20_000);
});
