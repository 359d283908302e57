// `npm run build`, after tsc: replaces dist/program.js (the program cli.js
// imports) with one file holding it, every module of ours it imports and
// the packages they use (yaml, commander, prom-client, …). Loading the
// program went from ~370 files, each resolved, read and linked on its own,
// to one: ~70 ms less CPU at every start, cold or warm (bench:start's CPU to
// ready, 540 -> 460 ms at a warm start with 1M names).
//
// - Each module keeps its own import.meta.url (rewritten to where tsc put
//   it): the paths it finds beside it (blocklists/, config/, package.json,
//   the worker threads' entries) are the same as unbundled.
// - Worker threads still start from tsc's files (dist/match/worker.js, …).
// - shared/startup.js and commands/serve-memory.js stay outside: cli.js has
//   loaded them before the program, and the program must share them.
// - pino (its transports start threads from files beside it), and ioredis
//   and pg (loaded only when shared state or PostgreSQL is configured), stay
//   in node_modules.
// A tsc run alone leaves tsc's program.js, unbundled: slower, never stale.
// The bundle is written beside it and renamed over it: a build stopped half
// way leaves tsc's program.js, never half a bundle.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const entry = `${dist}program.js`;
const MARK = '// aifence: bundled by scripts/bundle-program.mjs';

if (readFileSync(entry, 'utf8').startsWith(MARK)) {
  process.stderr.write('aifence build: dist/program.js is bundled already (run tsc first)\n');
  process.exit(1);
}

/** Loaded by cli.js before the program: the program imports the very same modules, not copies. */
const SHARED_WITH_CLI = ['shared/startup.js', 'commands/serve-memory.js'];

const keepPaths = {
  name: 'aifence-paths',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\/.*\.js$/ }, (args) => {
      if (!args.importer.startsWith(dist)) return undefined;
      const target = fileURLToPath(new URL(args.path, pathToFileURL(args.importer)));
      const rel = relative(dist, target);
      return SHARED_WITH_CLI.includes(rel) ? { path: `./${rel}`, external: true } : undefined;
    });
    b.onLoad({ filter: /\/dist\/.*\.js$/ }, (args) => {
      if (!args.path.startsWith(dist)) return undefined;
      const here = JSON.stringify(`./${relative(dist, args.path)}`);
      const contents = readFileSync(args.path, 'utf8').replaceAll('import.meta.url', `new URL(${here}, import.meta.url).href`);
      return { contents, loader: 'js' };
    });
  },
};

const result = await build({
  entryPoints: [entry],
  outfile: entry,
  write: false,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  external: ['pino', 'pino-pretty', 'thread-stream', 'ioredis', 'pg', 'pg-copy-streams'],
  // CommonJS packages inside require node's modules: give them a require of their own.
  banner: { js: `${MARK}\nimport { createRequire as aifenceRequire } from 'node:module';\nconst require = aifenceRequire(import.meta.url);` },
  sourcemap: 'linked',
  plugins: [keepPaths],
  logLevel: 'warning',
});
// The map first: program.js names it, and a map without its bundle misleads nobody.
const files = [...result.outputFiles].sort((a, b) => Number(b.path.endsWith('.map')) - Number(a.path.endsWith('.map')));
for (const file of files) {
  const temp = `${file.path}.${process.pid}.tmp`;
  writeFileSync(temp, file.contents);
  renameSync(temp, file.path);
}
