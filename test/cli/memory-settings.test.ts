// `aifence serve` brings its own memory settings (a 4 MB V8 semi-space and
// glibc's MALLOC_TRIM_THRESHOLD_): started as a systemd unit starts it, the
// bin with no environment of its own, the daemon must still run with them,
// as the same PID (systemd's MAINPID, docker's PID 1), with signals, exit
// codes and output as before. An admin's own settings are kept.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT, MALLOC_ARENA_MAX, MALLOC_TRIM_THRESHOLD, MARKER, SEMI_SPACE_MB, memoryExecPlan } from '../../src/commands/serve-memory.js';
import { query } from '../support/client.js';
import { TestUpstream } from '../support/upstream.js';

const CLI = resolve('dist/cli.js');
/** What a systemd unit without Environment= gives a service: a PATH and nothing else. */
const CLEAN_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
const FLAG = `--max-semi-space-size=${SEMI_SPACE_MB}`;

let upstream: TestUpstream;
let dir: string;
let config: string;

beforeAll(async () => {
  upstream = await TestUpstream.start();
  dir = mkdtempSync(join(tmpdir(), 'aifence-memory-'));
  config = join(dir, 'aifence.yaml');
  writeFileSync(config, `upstream: { servers: ["${upstream.address}"] }\nadmin: { listen: "off" }\n`);
});
afterAll(() => upstream.close());

interface Served {
  child: ChildProcess;
  port: number;
  /** Everything it wrote so far, stdout and stderr. */
  out(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  cmdline(): string[];
  environ(): Record<string, string>;
}

/** `node [nodeArgs] dist/cli.js serve` with exactly `env`, resolved once its log says where it listens and which memory settings apply. */
async function serve(env: Record<string, string>, nodeArgs: string[] = []): Promise<Served> {
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'serve', '--config', config, '--listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  const port = await new Promise<number>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`not listening after 20 s: ${out}`)), 20_000);
    child.stdout!.on('data', () => {
      const m = /"listen":\["127\.0\.0\.1:(\d+)"\]/.exec(out);
      if (m && out.includes('"msg":"memory settings')) {
        clearTimeout(timer);
        ok(Number(m[1]));
      }
    });
    child.on('exit', () => fail(new Error(`serve exited early: ${out}`)));
  });
  const pid = child.pid!;
  return {
    child,
    port,
    out: () => out,
    exited,
    cmdline: () => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean),
    environ: () => Object.fromEntries(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
  };
}

/** The JSON log line whose msg is `msg`. */
const logLine = (out: string, msg: string): Record<string, unknown> | undefined =>
  out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => l.msg === msg);

const waitFor = async (what: () => boolean, ms = 10_000) => {
  for (const end = Date.now() + ms; !what(); ) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('aifence serve started with no environment (as a systemd unit without Environment=)', () => {
  it('runs with the semi-space flag and the glibc trim threshold, as the PID it was started as; SIGHUP reloads, SIGTERM exits 0', async () => {
    const s = await serve(CLEAN_ENV);
    try {
      // The same PID: the settings were applied by exec, not by a child that signals would miss.
      expect(s.cmdline()).toContain(FLAG);
      expect(s.cmdline().slice(-6)).toEqual([CLI, 'serve', '--config', config, '--listen', '127.0.0.1:0']);
      expect(s.environ()).toMatchObject({ MALLOC_TRIM_THRESHOLD_: String(MALLOC_TRIM_THRESHOLD), MALLOC_ARENA_MAX: String(MALLOC_ARENA_MAX), [MARKER]: 'applied', PATH: CLEAN_ENV.PATH });
      expect(s.environ().NODE_OPTIONS).toBeUndefined();
      expect(logLine(s.out(), 'memory settings')).toMatchObject({ memory: { semiSpaceMB: SEMI_SPACE_MB, mallocTrimThreshold: MALLOC_TRIM_THRESHOLD, mallocArenaMax: MALLOC_ARENA_MAX, heapGrowingPercent: HEAP_GROWING_PERCENT, appliedBy: 'serve' } });
      expect((await query(s.port, 'www.example.org')).rcode).toBe(0);
      s.child.kill('SIGHUP');
      await waitFor(() => logLine(s.out(), 'reloaded') !== undefined);
      expect((await query(s.port, 'chat.deepseek.com')).rcode).toBe(3);
    } finally {
      s.child.kill('SIGTERM');
    }
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(logLine(s.out(), 'stopped')).toBeDefined();
    // Applied once: one start, one "memory settings" line.
    expect(s.out().split('\n').filter((l) => l.includes('"msg":"memory settings"'))).toHaveLength(1);
  });

  it('SIGINT (Ctrl-C) stops it gracefully too', async () => {
    const s = await serve(CLEAN_ENV);
    s.child.kill('SIGINT');
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(logLine(s.out(), 'stopping: finishing queries in flight')).toMatchObject({ signal: 'SIGINT' });
  });

  it("keeps the admin's NODE_OPTIONS and adds the flag beside them", async () => {
    const s = await serve({ ...CLEAN_ENV, NODE_OPTIONS: '--max-old-space-size=300' });
    try {
      expect(s.environ().NODE_OPTIONS).toBe('--max-old-space-size=300');
      expect(s.cmdline()).toContain(FLAG);
      expect(s.environ().MALLOC_TRIM_THRESHOLD_).toBe(String(MALLOC_TRIM_THRESHOLD));
    } finally {
      s.child.kill('SIGTERM');
    }
    expect((await s.exited).code).toBe(0);
  });

  it("keeps the admin's own semi-space size and glibc settings, and then does not re-execute", async () => {
    const s = await serve({ ...CLEAN_ENV, NODE_OPTIONS: '--max-semi-space-size=2', MALLOC_TRIM_THRESHOLD_: '65536', MALLOC_ARENA_MAX: '4' });
    try {
      expect(s.cmdline().some((a) => a.includes('semi-space'))).toBe(false);
      expect(s.environ()).toMatchObject({ NODE_OPTIONS: '--max-semi-space-size=2', MALLOC_TRIM_THRESHOLD_: '65536', MALLOC_ARENA_MAX: '4' });
      expect(s.environ()[MARKER]).toBeUndefined();
      expect(logLine(s.out(), 'memory settings')).toMatchObject({ memory: { semiSpaceMB: 2, mallocTrimThreshold: 65536, mallocArenaMax: 4, heapGrowingPercent: HEAP_GROWING_PERCENT, appliedBy: 'environment' } });
    } finally {
      s.child.kill('SIGTERM');
    }
    expect((await s.exited).code).toBe(0);
  });

  it("keeps a heap growth given on node's command line, and node's options in front of the script", async () => {
    const s = await serve(CLEAN_ENV, ['--heap-growing-percent=80']);
    try {
      expect(s.cmdline().slice(1, 4)).toEqual(['--heap-growing-percent=80', FLAG, CLI]);
      expect(logLine(s.out(), 'memory settings')).toMatchObject({ memory: { semiSpaceMB: SEMI_SPACE_MB, heapGrowingPercent: 80, appliedBy: 'serve' } });
    } finally {
      s.child.kill('SIGTERM');
    }
    expect((await s.exited).code).toBe(0);
  });

  it(`${MARKER}=off runs it as started, and says what is missing`, async () => {
    const s = await serve({ ...CLEAN_ENV, [MARKER]: 'off' });
    try {
      expect(s.cmdline()).not.toContain(FLAG);
      expect(s.environ().MALLOC_TRIM_THRESHOLD_).toBeUndefined();
      const line = logLine(s.out(), 'memory settings missing: RSS may grow under load');
      expect(line).toMatchObject({ level: 40, memory: { semiSpaceMB: null, mallocTrimThreshold: null, mallocArenaMax: null, heapGrowingPercent: null, appliedBy: 'off' } });
    } finally {
      s.child.kill('SIGTERM');
    }
    expect((await s.exited).code).toBe(0);
  });

  it('passes the exit code and the error through: a bad config exits 2 with the key on stderr', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'cache:\n  maxTtl: forever\n');
    const r = spawnSync(process.execPath, [CLI, 'serve', '--config', bad], { env: CLEAN_ENV, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('cache.maxTtl: "forever" is not a duration');
  });
});

describe('memoryExecPlan', () => {
  const base = { execPath: '/usr/bin/node', execArgv: [] as string[], argv: ['/usr/bin/node', '/opt/aifence/dist/cli.js', 'serve', '-c', 'x.yaml'], env: { PATH: '/usr/bin' } as Record<string, string | undefined> };

  it('adds the flag before the script and the variable to the environment, and marks the exec', () => {
    expect(memoryExecPlan(base)).toEqual({
      file: '/usr/bin/node',
      args: ['/usr/bin/node', FLAG, '/opt/aifence/dist/cli.js', 'serve', '-c', 'x.yaml'],
      env: { PATH: '/usr/bin', MALLOC_TRIM_THRESHOLD_: String(MALLOC_TRIM_THRESHOLD), MALLOC_ARENA_MAX: String(MALLOC_ARENA_MAX), [MARKER]: 'applied' },
    });
  });

  it("keeps node's own options (--inspect, a loader) in front", () => {
    expect(memoryExecPlan({ ...base, execArgv: ['--inspect=0', '--import', 'tsx'] })!.args).toEqual(['/usr/bin/node', '--inspect=0', '--import', 'tsx', FLAG, '/opt/aifence/dist/cli.js', 'serve', '-c', 'x.yaml']);
  });

  it('never execs again once applied, nor when turned off, nor when every setting is there already', () => {
    expect(memoryExecPlan({ ...base, env: { [MARKER]: 'applied' } })).toBeNull();
    expect(memoryExecPlan({ ...base, env: { [MARKER]: 'off' } })).toBeNull();
    expect(memoryExecPlan({ ...base, env: { NODE_OPTIONS: '--max-semi-space-size=8', MALLOC_TRIM_THRESHOLD_: '0', MALLOC_ARENA_MAX: '8' } })).toBeNull();
    expect(memoryExecPlan({ ...base, execArgv: ['--max_semi_space_size', '8'], env: { MALLOC_TRIM_THRESHOLD_: '1', MALLOC_ARENA_MAX: '1' } })).toBeNull();
  });

  it('adds only what is missing', () => {
    const onlyEnv = memoryExecPlan({ ...base, env: { NODE_OPTIONS: '--max-semi-space-size=8', MALLOC_ARENA_MAX: '4' } })!;
    expect(onlyEnv.args).not.toContain(FLAG);
    expect(onlyEnv.env).toMatchObject({ NODE_OPTIONS: '--max-semi-space-size=8', MALLOC_TRIM_THRESHOLD_: String(MALLOC_TRIM_THRESHOLD), MALLOC_ARENA_MAX: '4' });
    const onlyFlag = memoryExecPlan({ ...base, env: { MALLOC_TRIM_THRESHOLD_: '65536', MALLOC_ARENA_MAX: '4' } })!;
    expect(onlyFlag.args).toContain(FLAG);
    expect(onlyFlag.env).toMatchObject({ MALLOC_TRIM_THRESHOLD_: '65536', MALLOC_ARENA_MAX: '4' });
  });

  it('an unknown marker value is not a way around it (only off is)', () => {
    expect(memoryExecPlan({ ...base, env: { [MARKER]: 'no' } })!.env[MARKER]).toBe('applied');
  });
});
