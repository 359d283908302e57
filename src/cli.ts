#!/usr/bin/env node
// The `aifence` bin. It stays this small so that `aifence serve` can re-execute
// itself with its memory settings (commands/serve-memory.ts) before the
// program and its libraries are loaded (~130 ms and ~30 MB it would pay twice);
// then it imports the program (program.ts).

import * as nodeModule from 'node:module';
// First: the start log's phases count from this process's start (src/shared/startup.ts).
import './shared/startup.js';
import { applyMemorySettings } from './commands/serve-memory.js';

applyMemorySettings();
// serve keeps V8's compiled code of its modules between starts (a tenth of a warm start's CPU): in
// systemd's CacheDirectory= when the unit gives one, else where Node keeps it (NODE_COMPILE_CACHE, or the temp dir).
// A namespace import: Node 20 (which still runs the CLI, with a warning) has no such export.
if (process.argv[2] === 'serve') nodeModule.enableCompileCache?.(process.env.NODE_COMPILE_CACHE ?? process.env.CACHE_DIRECTORY);
await import('./program.js');
