// Selectors can only be checked against the catalogue and the lists, after
// the config is parsed; their errors still name the file and the key path
// (groups.NAME.block[i]) so the admin knows which line to fix.

import { ConfigError, join } from './check.js';
import { ConfigFileError } from './load.js';
import type { Config } from './schema.js';

/** Resolves every selector once with `select` (which throws on an unknown one), failing with file and key path. */
export function checkSelectors(config: Config, select: (selector: string) => unknown): void {
  config.enforce.forEach((selector, i) => {
    try {
      select(selector);
    } catch (err) {
      const path = join('enforce', i);
      throw config.file ? new ConfigFileError(config.file, `config error at ${path}: ${(err as Error).message}`) : new ConfigError(path, selector, (err as Error).message);
    }
  });
  for (const g of config.groups) {
    for (const kind of ['block', 'allow'] as const) {
      g[kind].forEach((rule, i) => {
        try {
          select(rule.select);
        } catch (err) {
          const written = join(join(join('groups', g.name), kind), i);
          // A rule written as { select, until, ... } has its selector one key further in.
          const path = rule.until !== undefined || rule.reason !== undefined || rule.schedule !== undefined ? join(written, 'select') : written;
          const message = `config error at ${path}: ${(err as Error).message}`;
          throw config.file ? new ConfigFileError(config.file, message) : new ConfigError(path, rule.select, (err as Error).message);
        }
      });
    }
  }
}
