// External programs the process-level tests start (dig, unbound, ...).
// .ci/run installs them, so in CI a missing one fails the run; on a
// developer's machine the tests that need it are skipped, saying what to install.

import { spawnSync } from 'node:child_process';

const found = new Map<string, boolean>();

export function hasTool(name: string): boolean {
  let ok = found.get(name);
  if (ok === undefined) {
    ok = spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
    found.set(name, ok);
  }
  return ok;
}

/** True when every tool is here; in CI a missing tool throws instead. */
export function toolsPresent(names: string[], debianPackages: string): boolean {
  const missing = names.filter((n) => !hasTool(n));
  if (missing.length === 0) return true;
  const message = `${missing.join(', ')} not installed: apt-get install ${debianPackages} (.ci/run does)`;
  if (process.env.CI) throw new Error(message);
  console.warn(`skipped: ${message}`);
  return false;
}
