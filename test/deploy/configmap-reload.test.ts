// Kubernetes updates a mounted ConfigMap without touching the file names the
// daemon was given: it writes a new timestamped directory and swaps the
// `..data` symlink by rename. The daemon must reload all the same.

import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/control/config/load.js';
import { createLogger } from '../../src/shared/logger.js';
import { Daemon } from '../../src/control/daemon.js';
import { query } from '../support/client.js';
import { EMPTY_CATALOGUE } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

let upstream: TestUpstream;
beforeAll(async () => {
  upstream = await TestUpstream.start();
});
afterAll(() => upstream.close());

/** Writes one version of the ConfigMap the way the kubelet's atomic writer does. */
function publish(dir: string, version: string, files: Record<string, string>, first: boolean): void {
  const data = join(dir, `..2026_12_01_${version}`);
  mkdirSync(data);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(data, name), text);
  symlinkSync(`..2026_12_01_${version}`, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  if (first) for (const name of Object.keys(files)) symlinkSync(`..data/${name}`, join(dir, name));
}

describe('ConfigMap mounted as a directory', () => {
  it('reloads when the ..data link is swapped, for the config and for a list in it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-configmap-'));
    const config = (list: string) =>
      `listen: ["127.0.0.1:0"]\nadmin: { listen: "off" }\nupstream: { servers: ["${upstream.address}"], timeout: 1s }\ngroups: { default: {} }\nlists:\n  local: { source: ${list} }\n`;
    publish(dir, 'v1', { 'aifence.yaml': config('one.txt'), 'one.txt': 'one.test\n', 'two.txt': 'two.test\n' }, true);
    const file = join(dir, 'aifence.yaml');
    const log = createLogger({ level: 'silent', destination: { write: () => undefined } });
    const daemon = await Daemon.start(loadConfig(file), { log, configFile: file, catalogue: EMPTY_CATALOGUE, drainMs: 200 });
    const port = daemon.addresses[0].port;
    const rcode = async (name: string) => (await query(port, name, 1, { timeoutMs: 2000 })).rcode;
    /** Polls for up to 5 s: the watcher debounces, and the machine is busy. */
    const eventually = async (name: string, want: number) => {
      let got = -1;
      for (let i = 0; i < 50 && got !== want; i++) {
        await new Promise((r) => setTimeout(r, 100));
        got = await rcode(name);
      }
      return got;
    };
    try {
      expect(await rcode('one.test')).toBe(3);
      expect(await rcode('two.test')).toBe(0);

      // The config now names the other list.
      publish(dir, 'v2', { 'aifence.yaml': config('two.txt'), 'one.txt': 'one.test\n', 'two.txt': 'two.test\n' }, false);
      rmSync(join(dir, '..2026_12_01_v1'), { recursive: true });
      expect(await eventually('two.test', 3)).toBe(3);
      expect(await rcode('one.test')).toBe(0);

      // Same config, the list's contents changed.
      publish(dir, 'v3', { 'aifence.yaml': config('two.txt'), 'one.txt': 'one.test\n', 'two.txt': 'three.test\n' }, false);
      rmSync(join(dir, '..2026_12_01_v2'), { recursive: true });
      expect(await eventually('three.test', 3)).toBe(3);
      expect(await rcode('two.test')).toBe(0);
    } finally {
      await daemon.stop();
    }
  }, 30_000);
});
