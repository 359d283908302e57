// Where the shared real-world data lives: `../shared/data` beside the
// checkout, for developers and CI alike (AIFENCE_SHARED_DATA overrides).

import { fileURLToPath } from 'node:url';

export const SHARED_DATA = process.env.AIFENCE_SHARED_DATA ?? fileURLToPath(new URL('../../../shared/data/', import.meta.url));
