// The README's install, as a new admin follows it on a fresh clone: after
// `npm ci` (or `npm install`) the bin works through npx without a separate
// build, and `npm install -g .` puts `aifence` on the PATH. Installed by root
// (`sudo npm install`), `npm start` serves for a normal user from the build
// in dist/, on the Node 24 that npm brought, without writing into dist/; it
// rebuilds only when a source is newer than the build. The build bundles
// the program into one file (scripts/bundle-program.mjs) and never leaves
// half a bundle; node_modules without the bundler build it unbundled.

import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { query } from '../support/client.js';

const version = JSON.parse(readFileSync('package.json', 'utf8')).version as string;
const NOBODY = 65534;
const canDrop = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
const BUNDLED = '// aifence: bundled by scripts/bundle-program.mjs';
const bundled = (clone: string) => readFileSync(join(clone, 'dist/program.js'), 'utf8').startsWith(BUNDLED);
/** What a build stopped half way would leave: temporary files beside its outputs. */
const leftovers = (clone: string) => readdirSync(join(clone, 'dist')).filter((f) => f.endsWith('.tmp'));

/** The files a clone would have: tracked and new ones, none ignored (no dist/, no node_modules/). */
function freshClone(): string {
  const root = mkdtempSync(join(tmpdir(), 'aifence-clone-'));
  chmodSync(root, 0o755); // like /opt/aifence: readable by everyone, writable by its owner
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const f of files) {
    mkdirSync(join(root, dirname(f)), { recursive: true });
    try {
      cpSync(f, join(root, f));
    } catch {
      // deleted in the work tree but still in the index
    }
  }
  return root;
}

/** `npm start -- ARGS` in `clone` as an unprivileged user with a login's PATH (the system's node, 20 here); resolves once it serves. */
async function startAsUser(clone: string, home: string): Promise<{ child: ChildProcess; port: number; out: () => string }> {
  const child = spawn('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', 'npm', 'start', '--', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], {
    cwd: clone,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: npm, node and the re-executed daemon are stopped together
  });
  let out = '';
  const port = await new Promise<number>((ok, fail) => {
    const seen = (c: Buffer) => {
      out += c;
      const m = /"listen":\["127\.0\.0\.1:(\d+)"\]/.exec(out);
      if (m) ok(Number(m[1]));
    };
    child.stdout!.on('data', seen);
    child.stderr!.on('data', seen);
    child.on('exit', () => fail(new Error(`npm start exited: ${out}`)));
  });
  return { child, port, out: () => out };
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(-child.pid!, 'SIGTERM');
  await exited;
}

describe('install from a fresh clone', () => {
  let clone: string;
  // --offline: the packages come from npm's cache, which `npm ci` of this checkout filled.
  const npm = (...args: string[]) => spawnSync('npm', [...args, '--offline', '--no-audit', '--no-fund'], { cwd: clone, encoding: 'utf8' });

  beforeAll(() => {
    clone = freshClone();
    const ci = npm('ci');
    expect(ci.status, ci.stderr).toBe(0);
  }, 300_000);

  it('npm ci builds the bin (prepare): npx aifence works at once, and npm install -g . puts it on the PATH, running on Node 24', () => {
    expect(bundled(clone), 'npm run build bundles dist/program.js').toBe(true);
    expect(leftovers(clone)).toEqual([]);
    const npx = spawnSync('npx', ['--offline', 'aifence', '--version'], { cwd: clone, encoding: 'utf8' });
    expect(npx.stderr).toBe('');
    expect(npx.stdout.trim()).toBe(version);

    const prefix = join(clone, '.global');
    const global = npm('install', '-g', '--prefix', prefix, '.');
    expect(global.status, global.stderr).toBe(0);
    // A PATH whose node is the system's (20 here): the command still runs on the clone's Node 24, with no warning.
    const onPath = spawnSync('aifence', ['check', 'chat.deepseek.com'], {
      cwd: tmpdir(),
      encoding: 'utf8',
      env: { PATH: `${join(prefix, 'bin')}:/usr/local/bin:/usr/bin:/bin` },
    });
    expect(onPath.stdout).toMatch(/^chat\.deepseek\.com\tblocked\tdefault/);
    expect(onPath.stderr).toBe('');
    expect(onPath.status).toBe(0);
  }, 120_000);

  it.runIf(canDrop)('installed by root, npm start serves for a normal user from dist/ as built, on Node 24, writing nothing there', async () => {
    const home = mkdtempSync(join(tmpdir(), 'aifence-user-'));
    chownSync(home, NOBODY, NOBODY);
    const built = statSync(join(clone, 'dist/cli.js')).mtimeMs;
    const { child, port, out } = await startAsUser(clone, home);
    try {
      expect((await query(port, 'chat.deepseek.com')).rcode).toBe(3);
      expect(out()).not.toMatch(/TS\d{4}|Could not write|building|warning/);
      expect(statSync(join(clone, 'dist/cli.js')).mtimeMs).toBe(built);
    } finally {
      await stop(child);
    }

    // A source newer than the build (a `git pull` without `sudo npm install`): said plainly, and the build there serves.
    const future = new Date(Date.now() + 60_000);
    utimesSync(join(clone, 'src/cli.ts'), future, future);
    const stale = await startAsUser(clone, home);
    try {
      expect((await query(stale.port, 'chat.deepseek.com')).rcode).toBe(3);
      expect(stale.out()).toContain(`aifence: warning: src/ is newer than the build in dist/, but this user cannot write ${join(clone, 'dist')}: serving the build there`);
      expect(stale.out()).toContain('sudo npm run build');
      expect(stale.out()).not.toMatch(/TS\d{4}|Could not write|building/);
      expect(statSync(join(clone, 'dist/cli.js')).mtimeMs).toBe(built);
    } finally {
      await stop(stale.child);
    }
  }, 120_000);

  it('npm start builds only when a source is newer than dist/, once', () => {
    const buildIfStale = () => spawnSync(process.execPath, ['scripts/build-if-stale.mjs'], { cwd: clone, encoding: 'utf8' });
    const future = new Date(Date.now() + 120_000);
    utimesSync(join(clone, 'src/cli.ts'), future, future);
    const first = buildIfStale();
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toContain('src/ is newer than the build in dist/: building');
    const rebuilt = statSync(join(clone, 'dist/cli.js')).mtimeMs;
    expect(bundled(clone), 'the build npm start runs bundles the program as npm run build does').toBe(true);
    // tsc writes the time of now; the source says two minutes ahead: bring the build level with it, as a real later build would be.
    utimesSync(join(clone, 'dist/cli.js'), future, future);
    expect(rebuilt).toBeGreaterThan(0);
    const second = buildIfStale();
    expect(second.status).toBe(0);
    expect(second.stderr).toBe('');
    expect(statSync(join(clone, 'dist/cli.js')).mtimeMs).toBe(future.getTime());
  }, 120_000);

  it('the bundler refuses a program it bundled already (tsc first), leaving it as it was', () => {
    const before = readFileSync(join(clone, 'dist/program.js'), 'utf8');
    expect(before.startsWith(BUNDLED)).toBe(true);
    const again = spawnSync(process.execPath, ['scripts/bundle-program.mjs'], { cwd: clone, encoding: 'utf8' });
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('dist/program.js is bundled already (run tsc first)');
    expect(readFileSync(join(clone, 'dist/program.js'), 'utf8')).toBe(before);
  }, 60_000);

  it('node_modules without the bundler (a git pull without npm install): npm start builds the program unbundled, says so, and it serves', () => {
    const esbuild = join(clone, 'node_modules/esbuild');
    renameSync(esbuild, `${esbuild}.away`);
    try {
      const future = new Date(Date.now() + 180_000);
      utimesSync(join(clone, 'src/cli.ts'), future, future);
      const build = spawnSync(process.execPath, ['scripts/build-if-stale.mjs'], { cwd: clone, encoding: 'utf8' });
      expect(build.status, build.stderr).toBe(0);
      expect(build.stderr).toContain('esbuild is not installed (run `npm install`): the program stays unbundled');
      expect(bundled(clone)).toBe(false);
      expect(leftovers(clone)).toEqual([]);
      const check = spawnSync(join(clone, 'bin/aifence'), ['check', 'chat.deepseek.com'], { cwd: clone, encoding: 'utf8' });
      expect(check.stdout).toMatch(/^chat\.deepseek\.com\tblocked\tdefault/);
      expect(check.status).toBe(0);
    } finally {
      renameSync(`${esbuild}.away`, esbuild);
    }
  }, 120_000);
});
