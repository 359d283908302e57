// npx tsx bench/profile-summary.ts FILE.cpuprofile [--top 25] [--skip-ms 3000]
// Where a V8 CPU profile's time went: self time per function (top N), and
// per area: each aifence source file, each Node module (node:dgram,
// timers, ...), V8's own entries ((garbage collector), (program): native
// work outside JS, mostly the syscalls of sends and receives, (idle)).
// Percentages are of the time not idle, so that a load that left the
// process waiting does not dilute them; --skip-ms leaves out the first
// milliseconds of the profile (start-up: module loading, list compile).

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' }, 'skip-ms': { type: 'string', default: '0' } }, allowPositionals: true });
if (positionals.length !== 1) {
  console.error('usage: npx tsx bench/profile-summary.ts FILE.cpuprofile [--top N]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0], 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
const skipUs = Number(values['skip-ms']) * 1000;
let elapsed = 0;
for (let i = 0; i < profile.samples.length; i++) {
  elapsed += profile.timeDeltas[i] ?? 0;
  if (elapsed < skipUs) continue;
  self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
}

/** A file or module name from a call frame's URL: `src/data/resolve/upstream.ts`, `node:dgram`, or V8's `(program)`. */
function area(n: Node): string {
  const { url, functionName } = n.callFrame;
  if (url === '') return functionName.startsWith('(') ? functionName : `(native) ${functionName}`;
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 6).replace(/\.js$/, '');
  if (url.includes('node_modules/')) return url.slice(url.lastIndexOf('node_modules/') + 13).split('/')[0];
  return url;
}

/** Coarse groups, to say where a miss's time goes. */
function group(a: string, fn: string): string {
  if (a === 'node:dgram' || a === 'node:internal/dgram' || a === '(program)') return 'UDP send/receive (syscalls in dgram send, libuv, native)';
  if (a === '(garbage collector)') return 'garbage collector';
  if (a.includes('timers')) return 'timers';
  if (a === 'prom-client' || a.startsWith('control/observe')) return 'metrics and query log';
  if (a.startsWith('data/resolve/upstream')) return 'aifence upstream (pool, query, judge)';
  if (a.startsWith('data/resolve/cache')) return 'aifence cache';
  if (a.startsWith('wire/')) return 'aifence wire (reply shape, relay)';
  if (a.startsWith('data/') || a.startsWith('match/') || a.startsWith('shared/')) return 'aifence resolver, listener, matcher';
  if (a.startsWith('node:') || a.startsWith('(native)')) return `other Node internals`;
  return `other (${a}${fn ? '' : ''})`;
}

let total = 0;
const groups = new Map<string, number>();
const areas = new Map<string, number>();
const functions = new Map<string, number>();
for (const [id, us] of self) {
  const n = byId.get(id)!;
  if (n.callFrame.functionName === '(idle)') continue;
  total += us;
  const a = area(n);
  areas.set(a, (areas.get(a) ?? 0) + us);
  const g = group(a, n.callFrame.functionName);
  groups.set(g, (groups.get(g) ?? 0) + us);
  const f = `${n.callFrame.functionName || '(anonymous)'} ${a}:${n.callFrame.lineNumber + 1}`;
  functions.set(f, (functions.get(f) ?? 0) + us);
}
const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)} %`;
const top = Number(values.top);
console.log(`${(total / 1e6).toFixed(2)} s of CPU sampled (idle excluded)\n\nby group (self time):`);
for (const [g, us] of [...groups].sort((x, y) => y[1] - x[1])) console.log(`${pct(us)}  ${g}`);
console.log('\nby area (self time):');
for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`${pct(us)}  ${a}`);
console.log('\nby function (self time):');
for (const [f, us] of [...functions].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`${pct(us)}  ${f}`);
