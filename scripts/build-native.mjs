// `npm install` builds the batched UDP addon (native/udp) with node-gyp
// against the pinned Node's headers that the `node` package brought
// (nothing is downloaded). Optional: without a compiler, make or python3,
// or off Linux, it says so in one line and the install goes on; the
// daemon then serves UDP through node:dgram and its start log says why.
// Plain JavaScript: it runs before anything is built.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const addon = join(root, 'native/udp');

function skip(why) {
  console.warn(`aifence: batched UDP addon not built (${why}); UDP is served through node:dgram`);
  process.exit(0);
}

if (process.platform !== 'linux') skip(`recvmmsg/sendmmsg are Linux calls, this is ${process.platform}`);
if (process.env.AIFENCE_IO === 'dgram') skip('AIFENCE_IO=dgram');
// The pinned Node's own package, or AIFENCE_NODEDIR: a Node release's directory with include/node (the image's native stage).
const nodedir = process.env.AIFENCE_NODEDIR || join(root, 'node_modules/node/node_modules', `node-${process.platform}-${process.arch}`);
if (!existsSync(join(nodedir, 'include/node/node_api.h'))) skip(`no Node headers at ${nodedir}`);
// npm hands its own node-gyp to lifecycle scripts; else one on the PATH.
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp && existsSync(gyp) ? [process.execPath, [gyp]] : ['node-gyp', []];
const run = spawnSync(cmd, [...args, 'rebuild', '--nodedir', nodedir, '--directory', addon, '--loglevel', 'error'], { cwd: addon, encoding: 'utf8' });
if (run.error) skip(`node-gyp: ${run.error.message}`);
if (run.status !== 0) {
  const last = `${run.stderr}`
    .split('\n')
    .filter((l) => /error|not found|No such|Could not/i.test(l) && !/ERR! (command|cwd|node -v|node-gyp -v|configure error|stack +at)/.test(l))
    .map((l) => l.replace(/^gyp ERR! (stack )?/, ''));
  const reason = [...new Set(last)].slice(0, 2).join(' | ');
  skip(`node-gyp failed: ${reason || `exit ${run.status}`}`);
}
console.log('aifence: batched UDP addon built (native/udp)');
