// The runtime is Node 24 LTS, also on a machine whose own node is older: npm
// puts the pinned `node` package's binary first on PATH for npm scripts, so
// `npm test`, `npm start` and the daemons that tests spawn all run on it.

import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const major = (version: string) => Number(version.replace(/^v/, '').split('.')[0]);

describe('runtime', () => {
  it('the tests, and the daemon they spawn, run on Node 24 or later', () => {
    console.log(`tests run on Node ${process.version} (${process.execPath})`);
    expect(major(process.version)).toBeGreaterThanOrEqual(24);
    const spawned = execFileSync(process.execPath, ['-p', 'process.version'], { encoding: 'utf8' }).trim();
    expect(major(spawned)).toBeGreaterThanOrEqual(24);
  });

  it('the built CLI warns on stderr, and still runs, when started by an older node', () => {
    const old = '/usr/bin/node';
    let version = '';
    try {
      version = execFileSync(old, ['-p', 'process.version'], { encoding: 'utf8' }).trim();
    } catch {
      return; // no system node here: nothing to check
    }
    if (major(version) >= 24) return;
    const out = execFileSync(old, [resolve('dist/cli.js'), '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toMatch(/Usage: aifence/);
    const err = execFileSync('sh', ['-c', `"${old}" "${resolve('dist/cli.js')}" --help 2>&1 >/dev/null`], { encoding: 'utf8' });
    expect(err).toMatch(/warning: running on Node 2\d.*Node 24 LTS/);
  });
});
