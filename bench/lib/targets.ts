// The servers under test. Each is a Target: started on a free port with the
// blocklist and the upstream, measured through its pid, then stopped. Peers
// (unbound, dnsmasq, dnsdist) slot in as further Targets.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Started, pinning, rssMB, startServer } from './proc.js';

export type Scenario = 'blocked' | 'hits' | 'misses' | 'mix';

export interface Running {
  /** The process whose CPU time is charged to the target. */
  pid: number;
  port: number;
  /** Milliseconds from spawn to answering (for aifence: to its "serving" line, the list loaded). */
  startMs: number;
  /** Resident memory once ready. */
  rssMB: number;
  stop(): Promise<void>;
}

export interface Target {
  name: string;
  /** The scenarios it can run: the floor only answers NXDOMAIN, so only "blocked" means anything for it. */
  scenarios: readonly Scenario[];
  /** Whether it loads the blocklist (its RSS and start time then say something about the list). */
  loadsList: boolean;
  start(listFile: string, upstreamPort: number): Promise<Running>;
}

const LISTEN = /"listen":\["127\.0\.0\.1:(\d+)"\]/;

function running(s: Started): Running {
  return { pid: s.pid, port: Number(s.ready?.[1]), startMs: s.readyMs, rssMB: rssMB(s.pid), stop: s.stop };
}

/** bench/floor.mjs: the cheapest Node DNS server, NXDOMAIN for everything. */
export function floorTarget(benchDir: string): Target {
  return {
    name: 'floor',
    scenarios: ['blocked'],
    loadsList: false,
    start: async () => running(await startServer([process.execPath, join(benchDir, 'floor.mjs'), '0'], pinning.server, LISTEN, 10_000)),
  };
}

/** The built daemon (dist/cli.js) with the list as its only block rule. */
export function aifenceTarget(repoDir: string, workDir: string): Target {
  return {
    name: 'aifence',
    scenarios: ['blocked', 'hits', 'misses', 'mix'],
    loadsList: true,
    async start(listFile, upstreamPort) {
      const config = join(workDir, 'aifence.yaml');
      writeFileSync(
        config,
        [
          `upstream: { servers: ["127.0.0.1:${upstreamPort}"], timeout: 2s }`,
          // #10's memory target is stated for a full 100k cache.
          'cache: { maxEntries: 100000 }',
          `lists: { big: { source: ${JSON.stringify(listFile)}, format: domains } }`,
          'groups: { default: { block: ["list:big"] } }',
          'access: { clients: [127.0.0.0/8] }',
          'blocking: { answer: nxdomain }',
          '',
        ].join('\n'),
      );
      // Started as `npm start` and the Docker image start it: glibc told to give freed memory back.
      const argv = ['env', 'MALLOC_TRIM_THRESHOLD_=131072', process.execPath, join(repoDir, 'dist/cli.js'), 'serve', '--config', config, '--listen', '127.0.0.1:0'];
      return running(await startServer(argv, pinning.server, LISTEN, 120_000));
    },
  };
}
