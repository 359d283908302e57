// The README's install, as a new admin follows it on a fresh clone: after
// `npm ci` (or `npm install`) the bin works through npx without a separate
// build, and `npm install -g .` puts `aifence` on the PATH.

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const version = JSON.parse(readFileSync('package.json', 'utf8')).version as string;

/** The files a clone would have: tracked and new ones, none ignored (no dist/, no node_modules/). */
function freshClone(): string {
  const root = mkdtempSync(join(tmpdir(), 'aifence-clone-'));
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

describe('install from a fresh clone', () => {
  it('npm ci builds the bin (prepare): npx aifence works at once, and npm install -g . puts it on the PATH', () => {
    const clone = freshClone();
    // --offline: the packages come from npm's cache, which `npm ci` of this checkout filled.
    const npm = (...args: string[]) => spawnSync('npm', [...args, '--offline', '--no-audit', '--no-fund'], { cwd: clone, encoding: 'utf8' });
    const ci = npm('ci');
    expect(ci.status, ci.stderr).toBe(0);

    const npx = spawnSync('npx', ['--offline', 'aifence', '--version'], { cwd: clone, encoding: 'utf8' });
    expect(npx.stderr).toBe('');
    expect(npx.stdout.trim()).toBe(version);

    const prefix = join(clone, '.global');
    const global = npm('install', '-g', '--prefix', prefix, '.');
    expect(global.status, global.stderr).toBe(0);
    const onPath = spawnSync('aifence', ['check', 'chat.deepseek.com'], {
      cwd: tmpdir(),
      encoding: 'utf8',
      env: { ...process.env, PATH: `${join(prefix, 'bin')}:${process.env.PATH}` },
    });
    expect(onPath.stdout).toMatch(/^chat\.deepseek\.com\tblocked\tdefault/);
    expect(onPath.status).toBe(0);
  }, 300_000);
});
