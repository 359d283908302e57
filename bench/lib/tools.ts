// dnsperf (required) and nsd (preferred upstream): found on PATH, or
// installed from Debian packages when we are root and apt-get is there.

import { spawnSync } from 'node:child_process';
import { which } from './proc.js';

export interface Tools {
  dnsperf: string;
  /** null: no nsd, the benchmark falls back to its own Node upstream. */
  nsd: string | null;
}

export function findTools(log: (line: string) => void): Tools {
  let dnsperf = which('dnsperf');
  let nsd = which('nsd');
  if (dnsperf && nsd) return { dnsperf, nsd };
  const missing = [dnsperf ? null : 'dnsperf', nsd ? null : 'nsd'].filter((p): p is string => p !== null);
  const apt = which('apt-get');
  if (process.getuid?.() === 0 && apt) {
    log(`installing ${missing.join(' ')} (apt-get)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () => spawnSync(apt, ['install', '-y', '--no-install-recommends', ...missing], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    // A fresh machine may have no package lists yet: update once, then retry.
    if (install().status !== 0) {
      spawnSync(apt, ['update'], { env, stdio: 'ignore' });
      const second = install();
      if (second.status !== 0) log(`apt-get install failed: ${second.stderr.toString().trim().split('\n').slice(-2).join(' ')}`);
    }
    dnsperf = which('dnsperf');
    nsd = which('nsd');
  }
  if (!dnsperf) {
    throw new Error(
      process.getuid?.() === 0 && apt
        ? 'dnsperf is not installed and `apt-get install -y dnsperf` failed; install it and run again'
        : 'dnsperf is not installed; install it (Debian/Ubuntu: sudo apt-get install -y dnsperf nsd) or run this as root to let it install itself',
    );
  }
  return { dnsperf, nsd };
}

/** Debian packages that hold each peer's binary (dnsmasq-base: the binary without a system service that would take port 53). */
const PEER_PACKAGES: Record<string, { binary: string; pkg: string }> = {
  unbound: { binary: 'unbound', pkg: 'unbound' },
  dnsmasq: { binary: 'dnsmasq', pkg: 'dnsmasq-base' },
  dnsdist: { binary: 'dnsdist', pkg: 'dnsdist' },
};

/**
 * The binaries of the peers asked for, installing the missing ones from
 * Debian packages when we are root with apt-get. A peer that is still
 * missing is null: the benchmark says so and runs without it.
 */
export function findPeers(wanted: readonly string[], log: (line: string) => void): Record<string, string | null> {
  const found: Record<string, string | null> = {};
  for (const peer of wanted) found[peer] = which(PEER_PACKAGES[peer].binary);
  const missing = wanted.filter((p) => found[p] === null);
  const apt = which('apt-get');
  if (missing.length > 0 && process.getuid?.() === 0 && apt) {
    const pkgs = missing.map((p) => PEER_PACKAGES[p].pkg);
    log(`installing ${pkgs.join(' ')} (apt-get)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () => spawnSync(apt, ['install', '-y', '--no-install-recommends', ...pkgs], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    if (install().status !== 0) {
      spawnSync(apt, ['update'], { env, stdio: 'ignore' });
      const second = install();
      if (second.status !== 0) log(`apt-get install failed: ${second.stderr.toString().trim().split('\n').slice(-2).join(' ')}`);
    }
    for (const peer of missing) found[peer] = which(PEER_PACKAGES[peer].binary);
  }
  for (const peer of wanted) {
    if (found[peer] === null) log(`WARNING: ${peer} is not installed and could not be installed (${PEER_PACKAGES[peer].pkg}); it is left out`);
  }
  return found;
}
