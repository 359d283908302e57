// Starting the real daemon in-process on a random loopback port, against a
// test upstream, from a config written as YAML like an admin would.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Catalogue } from '../../src/control/catalogue/index.js';
import { configFromText } from '../../src/control/config/load.js';
import { createLogger } from '../../src/shared/logger.js';
import { Daemon } from '../../src/control/daemon.js';

export interface TestDaemon {
  daemon: Daemon;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/**
 * `yaml` is the config body; `listen` and `upstream.servers` are filled in
 * unless given.
 */
/** No catalogue services: serving tests pin the path, not the catalogue's contents. */
export const EMPTY_CATALOGUE: Catalogue = { services: [], info: { origin: 'packaged', version: 'test', reviewed: '' }, tags: () => [] };

export interface StartOptions {
  /** Written beside the config (list sources). */
  files?: Record<string, string>;
  catalogue?: Catalogue;
  /** Wall clock for expiring and scheduled rules. */
  clock?: () => number;
  /** Reload when the config or a list file changes. */
  watch?: boolean;
  /** Start in this directory (a restart: its config, lists and dataDir are those of the last start there). */
  dir?: string;
  /** The daemon's log lines (JSON, from debug up) are appended here; otherwise it logs nothing. */
  log?: string[];
}

export async function startDaemon(yaml: string, upstreams: string[], options: StartOptions = {}): Promise<TestDaemon> {
  const { files = {}, catalogue = EMPTY_CATALOGUE, clock } = options;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'aifence-test-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  let text = yaml;
  if (!/^listen:/m.test(text)) text = `listen: ["127.0.0.1:0"]\n${text}`;
  if (!/^upstream:/m.test(text)) text = `upstream: { servers: ${JSON.stringify(upstreams)}, timeout: 1s }\n${text}`;
  if (!/^admin:/m.test(text)) text = `admin: { listen: "127.0.0.1:0" }\n${text}`;
  // Without groups the built-in default policy selects service:deepseek, which the empty catalogue lacks.
  if (!/^groups:/m.test(text) && catalogue === EMPTY_CATALOGUE) text = `groups: { default: {} }\n${text}`;
  const file = join(dir, 'aifence.yaml');
  writeFileSync(file, text);
  const config = configFromText(text, file);
  const lines = options.log;
  const log = lines ? createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(line) } }) : createLogger({ level: 'silent', destination: { write: () => undefined } });
  const daemon = await Daemon.start(config, { log, drainMs: 500, catalogue, clock, configFile: file, watch: options.watch ?? false });
  return { daemon, port: daemon.addresses[0].port, dir, stop: () => daemon.stop() };
}
