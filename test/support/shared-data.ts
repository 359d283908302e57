// Where the shared real-world data lives: `../shared/data` beside the
// checkout, for developers and CI alike (AIFENCE_SHARED_DATA overrides).
// A clone without it skips the corpus tests, saying how to point them at
// the data; under CI (.ci/run sets CI=true) a missing corpus fails instead,
// so the tests that need it can never be skipped there unnoticed.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SHARED_DATA = process.env.AIFENCE_SHARED_DATA ?? fileURLToPath(new URL('../../../shared/data/', import.meta.url));

/** True when every path (relative to SHARED_DATA) is there; otherwise a note and false, or under CI a throw. */
export function sharedDataPresent(...paths: string[]): boolean {
  const missing = paths.filter((p) => !existsSync(join(SHARED_DATA, p)));
  if (missing.length === 0) return true;
  const message =
    `the shared corpus is not at ${SHARED_DATA} (missing ${missing.join(', ')}): ` +
    'put the shared data folder beside the checkout as ../shared/data, or set AIFENCE_SHARED_DATA=/path/to/shared/data';
  if (process.env.CI) throw new Error(message);
  console.warn(`skipped: ${message}`);
  return false;
}
