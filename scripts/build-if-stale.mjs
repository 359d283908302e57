// `npm start` runs this before serving dist/: it builds only when a source is
// newer than the build (a developer's edit, a `git pull` without a build),
// never on every start (tsc takes ~10 s), and never into a dist/ this user
// cannot write (a clone installed with `sudo npm install` and started by a
// normal user): then it says how to rebuild and lets the build there serve.
// Plain JavaScript: it must run where `npm install --omit=dev` left no tsx.

import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const at = (p) => join(root, p);
const BUILT = at('dist/cli.js');

/** The newest modification time of the sources tsc -p tsconfig.build.json reads (tests are not built). */
function newestSource() {
  let newest = Math.max(statSync(at('tsconfig.json')).mtimeMs, statSync(at('tsconfig.build.json')).mtimeMs);
  for (const entry of readdirSync(at('src'), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || entry.name.endsWith('.test.ts')) continue;
    newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

function writable(path) {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

const built = existsSync(BUILT) ? statSync(BUILT).mtimeMs : 0;
if (!existsSync(at('src')) || newestSource() <= built) process.exit(0);

const why = built === 0 ? 'dist/ has no build' : 'src/ is newer than the build in dist/';
const tsc = at('node_modules/typescript/bin/tsc');
const cannot = !existsSync(tsc)
  ? 'TypeScript is not installed (npm install --omit=dev)'
  : !writable(existsSync(at('dist')) ? at('dist') : root) || (built !== 0 && !writable(BUILT))
    ? `this user cannot write ${at('dist')}`
    : null;
if (cannot !== null) {
  const fix = `run \`npm run build\` in ${root} as the user who installed it (\`sudo npm run build\` after \`sudo npm install\`)`;
  if (built === 0) {
    process.stderr.write(`aifence: ${why} and ${cannot}: ${fix}\n`);
    process.exit(1);
  }
  process.stderr.write(`aifence: warning: ${why}, but ${cannot}: serving the build there; to rebuild, ${fix}\n`);
  process.exit(0);
}
process.stderr.write(`aifence: ${why}: building (npm run build)\n`);
// The steps of `npm run build`: tsc, the program bundled into one file, the catalogue validated into dist/catalogue.json.
// node_modules from before the bundler came (a `git pull` without `npm install`): tsc's program, unbundled, serves as well.
const bundler = existsSync(at('node_modules/esbuild/package.json'));
if (!bundler) process.stderr.write('aifence: esbuild is not installed (run `npm install`): the program stays unbundled, ~0.1 s slower to start\n');
const steps = [[tsc, '-p', at('tsconfig.build.json')], ...(bundler ? [[at('scripts/bundle-program.mjs')]] : []), [at('scripts/build-catalogue.mjs')]];
for (const args of steps) {
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
