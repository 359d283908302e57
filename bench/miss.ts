// npx tsx bench/miss.ts: what a cache miss costs the server, and nothing else.
// A miss storm: dnsperf asks names never asked before (`m<i>-<run>.bench.test`)
// of aifence, which forwards each to nsd (a wildcard zone from memory). The
// figure is server CPU (user + system, from /proc) per answered query, as in
// bench:serve's `misses` row, but without the 1M-name list and the other
// scenarios, so that it takes seconds and can be repeated to see the noise.
//
//   npx tsx bench/miss.ts                               # this checkout's dist/, 3 runs of 5 s
//   npx tsx bench/miss.ts --compare /tmp/before         # alternate runs with another checkout's dist/
//   npx tsx bench/miss.ts --dnsmasq                     # and dnsmasq, same upstream and load
//   npx tsx bench/miss.ts --floor                       # and bench/floor-forward.mjs: Node's UDP I/O for a miss, nothing else
//   npx tsx bench/miss.ts --floor --floor-sockets 1024  # the floor with as many upstream sockets as aifence's pool
//   npx tsx bench/miss.ts --prof /tmp/prof              # one run under --cpu-prof; the .cpuprofile lands there
//   npx tsx bench/profile-summary.ts /tmp/prof/*.cpuprofile   # where the time went
//
// Build first (`npm run build`; and in the --compare checkout). Each run starts
// a fresh daemon: the cache is empty and every query of the run is a miss.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ZONE } from './lib/data.js';
import { runDnsperf } from './lib/dnsperf.js';
import { dnsmasqTarget } from './lib/peers.js';
import { cleanUpOnExit, killAll, pinning, startServer, which } from './lib/proc.js';
import { findTools } from './lib/tools.js';
import { type Upstream, startNodeUpstream, startNsd } from './lib/upstream.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    compare: { type: 'string' },
    dnsmasq: { type: 'boolean', default: false },
    floor: { type: 'boolean', default: false },
    'floor-sockets': { type: 'string', default: '16' },
    prof: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const runs = Number(values.runs);
const here = resolve(import.meta.dirname, '..');
const log = (line: string) => console.error(`[miss] ${line}`);

interface Server {
  name: string;
  start(workDir: string, upstreamPort: number): Promise<{ pid: number; port: number; stop(): Promise<void> }>;
}

/** The built daemon of checkout `repo`, forwarding to the upstream; NODE_OPTIONS as `npm start` sets them (plus --cpu-prof when asked). */
function aifence(name: string, repo: string): Server {
  return {
    name,
    async start(workDir, upstreamPort) {
      const config = join(workDir, `${name}.yaml`);
      writeFileSync(
        config,
        [
          `upstream: { servers: ["127.0.0.1:${upstreamPort}"], timeout: 2s }`,
          'cache: { maxEntries: 100000 }',
          'access: { clients: [127.0.0.0/8] }',
          'rateLimit: off',
          'admin: { listen: off }',
          '',
        ].join('\n'),
      );
      const nodeOptions = ['--max-semi-space-size=4'];
      if (values.prof) nodeOptions.push('--cpu-prof', `--cpu-prof-dir=${resolve(values.prof)}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`);
      const argv = ['env', 'MALLOC_TRIM_THRESHOLD_=131072', `NODE_OPTIONS=${nodeOptions.join(' ')}`, process.execPath, join(repo, 'dist/cli.js'), 'serve', '--config', config, '--listen', '127.0.0.1:0'];
      const s = await startServer(argv, pinning.server, /"listen":\["127\.0\.0\.1:(\d+)"\]/, 60_000);
      return { pid: s.pid, port: Number(s.ready?.[1]), stop: s.stop };
    },
  };
}

async function main(): Promise<void> {
  cleanUpOnExit(() => undefined);
  const tools = findTools(log);
  const work = mkdtempSync(join(tmpdir(), 'aifence-miss-'));
  const out = mkdtempSync(join(work, 'out-'));
  const upstream: Upstream = tools.nsd ? await startNsd(tools.nsd, work, pinning.client) : await startNodeUpstream();
  log(`upstream: ${upstream.description}; ${pinning.note}`);
  const servers: Server[] = [aifence('aifence', here)];
  if (values.compare) servers.push(aifence('compare', resolve(values.compare)));
  if (values.floor) {
    servers.push({
      name: 'floor',
      async start(_, upstreamPort) {
        const prof = values.prof ? ['--cpu-prof', `--cpu-prof-dir=${resolve(values.prof)}`, `--cpu-prof-name=floor-${Date.now()}.cpuprofile`] : [];
        const s = await startServer([process.execPath, ...prof, join(here, 'bench/floor-forward.mjs'), String(upstreamPort), '0', values['floor-sockets']], pinning.server, /"listen":\["127\.0\.0\.1:(\d+)"\]/, 10_000);
        return { pid: s.pid, port: Number(s.ready?.[1]), stop: s.stop };
      },
    });
  }
  const dnsmasq = values.dnsmasq ? which('dnsmasq') : null;
  if (dnsmasq) {
    writeFileSync(join(work, 'list.txt'), 'blocked.example\n');
    const target = dnsmasqTarget(dnsmasq, work);
    servers.push({ name: 'dnsmasq', start: (_, port) => target.start(join(work, 'list.txt'), port) });
  }
  const results: { server: string; run: number; usPerQuery: number; qps: number; completed: number; lost: number; busy: number }[] = [];
  try {
    for (let run = 0; run < (values.prof ? 1 : runs); run++) {
      for (const server of servers) {
        const file = join(work, `misses-${server.name}-${run}.txt`);
        // Unique names, more than the fastest run asks for.
        const count = Math.ceil(seconds * 80_000);
        const id = `${Date.now().toString(36)}${run}`;
        writeFileSync(file, Array.from({ length: count }, (_, i) => `m${i}-${id}.${ZONE} A\n`).join(''));
        const s = await server.start(work, upstream.port);
        try {
          const m = await runDnsperf(s.pid, {
            dnsperf: tools.dnsperf,
            pin: pinning.client,
            port: s.port,
            file,
            seconds,
            clients: 4,
            threads: 2,
            outstanding: 200,
            // Not beside the daemon's config: it watches that directory, and dnsperf -v writes a line per answer.
            verboseFile: join(out, 'verbose.txt'),
          });
          const row = { server: server.name, run, usPerQuery: m.usPerQuery, qps: m.qps, completed: m.completed, lost: m.lost, busy: m.busy };
          results.push(row);
          if (values.json) console.log(JSON.stringify(row));
          else log(`${server.name} run ${run}: ${m.usPerQuery.toFixed(1)} µs/q, ${Math.round(m.qps)} q/s, busy ${(m.busy * 100).toFixed(0)} %, lost ${m.lost}, rcodes ${JSON.stringify(m.rcodes)}`);
        } finally {
          await s.stop();
          rmSync(file, { force: true });
        }
      }
    }
  } finally {
    await upstream.stop();
    killAll();
    rmSync(work, { recursive: true, force: true });
  }
  if (!values.json) {
    for (const server of servers) {
      const us = results.filter((r) => r.server === server.name).map((r) => r.usPerQuery).sort((a, b) => a - b);
      if (us.length > 0) console.log(`${server.name.padEnd(8)} µs/miss: median ${us[us.length >> 1].toFixed(1)} (runs: ${us.map((u) => u.toFixed(1)).join(', ')})`);
    }
  }
}

await main();
