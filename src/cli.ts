#!/usr/bin/env node
// The `aifence` bin. It stays this small so that `aifence serve` can re-execute
// itself with its memory settings (commands/serve-memory.ts) before the
// program and its libraries are loaded (~130 ms and ~30 MB it would pay twice);
// then it imports the program (program.ts).

import { applyMemorySettings } from './commands/serve-memory.js';

applyMemorySettings();
await import('./program.js');
