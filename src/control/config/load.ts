// Reading the config file: YAML in, a validated Config out, or an error
// that names the file, the key, the value and what would be right.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ConfigError } from './check.js';
import { type Config, parseConfig } from './schema.js';

/** The config shipped with the package: config/aifence.yaml beside src/ and dist/. */
export const DEFAULT_CONFIG_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../../config/aifence.yaml');

export class ConfigFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'ConfigFileError';
  }
}

/** `systemUpstreams`: the default upstreams when the config names none (the machine's resolv.conf). */
export function loadConfig(file: string = DEFAULT_CONFIG_PATH, systemUpstreams: () => string[] = systemNameservers): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigFileError(file, `cannot read the config file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return configFromText(text, file, systemUpstreams);
}

export function configFromText(text: string, file: string, systemUpstreams: () => string[] = systemNameservers): Config {
  let raw: unknown;
  try {
    raw = parse(text, { uniqueKeys: true });
  } catch (err) {
    throw new ConfigFileError(file, `is not valid YAML: ${(err as Error).message}`);
  }
  try {
    return { file, ...parseConfig(raw ?? {}, dirname(resolve(file)), systemUpstreams) };
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigFileError(file, err.message);
    throw err;
  }
}

/** Nameservers from /etc/resolv.conf, the default upstreams. */
export function systemNameservers(path = '/etc/resolv.conf'): string[] {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .map((line) => /^\s*nameserver\s+(\S+)/.exec(line)?.[1])
      .filter((s): s is string => s !== undefined);
  } catch {
    return [];
  }
}
