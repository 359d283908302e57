// The servers under test. Each is a Target: started on a free port with the
// blocklist and the upstream, measured through its pid, then stopped. Peers
// (unbound, dnsmasq, dnsdist) slot in as further Targets.

import { execFileSync } from 'node:child_process';
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
  /** Its standard output after the ready line (bench/ab.ts --gc counts V8's --trace-gc lines in it). */
  stdout?: NodeJS.ReadableStream | null;
}

export interface Target {
  name: string;
  /** The scenarios it can run: the floor only answers NXDOMAIN, so only "blocked" means anything for it. */
  scenarios: readonly Scenario[];
  /** Whether it loads the blocklist (its RSS and start time then say something about the list). */
  loadsList: boolean;
  /** How dnsperf talks to it (-m); plain UDP when absent. */
  mode?: 'dot' | 'doh';
  start(listFile: string, upstreamPort: number): Promise<Running>;
}

const LISTEN = /"listen":\["127\.0\.0\.1:(\d+)"\]/;

function running(s: Started): Running {
  return { pid: s.pid, port: Number(s.ready?.[1]), startMs: s.readyMs, rssMB: rssMB(s.pid), stop: s.stop, stdout: s.child.stdout };
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
/** `workers` above 1: that many worker threads (config `workers`), named aifence-wN; `pin`: the taskset prefix (default: the server's core). */
/** `variant` (bench/ab.ts): another name, environment, node binary or config lines for the same daemon. */
export interface AifenceVariant {
  name: string;
  env?: Record<string, string>;
  node?: string;
  /** Node's own flags on its command line (V8 refuses some in NODE_OPTIONS, --trace-gc and --cpu-prof among them). */
  nodeArgs?: string[];
  config?: string[];
}

export function aifenceTarget(repoDir: string, workDir: string, workers = 1, pin: string[] = pinning.server, variant?: AifenceVariant): Target {
  return {
    name: variant?.name ?? (workers === 1 ? 'aifence' : `aifence-w${workers}`),
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
          // Left out for one: a build from before the key (bench/ab.ts repo=) reads the config too.
          ...(workers === 1 ? [] : [`workers: ${workers}`]),
          // Port 0: two aifences at once (bench/workers.ts) must not both want 8053.
          'admin: { listen: "127.0.0.1:0" }',
          ...(variant?.config ?? []),
          '',
        ].join('\n'),
      );
      // Started as `npm start` and the Docker image start it: glibc told to give freed memory back.
      const env = Object.entries({ MALLOC_TRIM_THRESHOLD_: '131072', NODE_OPTIONS: '--max-semi-space-size=4', ...variant?.env }).map(([k, v]) => `${k}=${v}`);
      const argv = ['env', ...env, variant?.node ?? process.execPath, ...(variant?.nodeArgs ?? []), join(repoDir, 'dist/cli.js'), 'serve', '--config', config, '--listen', '127.0.0.1:0'];
      return running(await startServer(argv, pin, LISTEN, 120_000));
    },
  };
}

/**
 * The built daemon answering DNS over TLS or HTTPS (HTTP/2), with a
 * certificate made here by openssl; dnsperf -m dot / -m doh loads it. Same
 * list and upstream as `aifence`, so the difference is the transport.
 */
export function aifenceEncryptedTarget(repoDir: string, workDir: string, mode: 'dot' | 'doh'): Target {
  const key = mode === 'dot' ? 'listenTls' : 'listenHttps';
  return {
    name: `aifence-${mode}`,
    scenarios: ['blocked', 'hits'],
    loadsList: false,
    mode,
    async start(listFile, upstreamPort) {
      const cert = join(workDir, 'bench-cert.pem');
      const keyFile = join(workDir, 'bench-key.pem');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
      const config = join(workDir, `aifence-${mode}.yaml`);
      writeFileSync(
        config,
        [
          `upstream: { servers: ["127.0.0.1:${upstreamPort}"], timeout: 2s }`,
          'cache: { maxEntries: 200000 }',
          `lists: { big: { source: ${JSON.stringify(listFile)}, format: domains } }`,
          'groups: { default: { block: ["list:big"] } }',
          'access: { clients: [127.0.0.0/8] }',
          'blocking: { answer: nxdomain }',
          `${key}: ["127.0.0.1:0"]`,
          `tls: { cert: ${JSON.stringify(cert)}, key: ${JSON.stringify(keyFile)} }`,
          // dnsperf holds -c connections open and sends -q queries over them at once.
          'tcp: { maxPipelined: 1000 }',
          'doh: { maxStreams: 1000 }',
          '',
        ].join('\n'),
      );
      const argv = ['env', 'MALLOC_TRIM_THRESHOLD_=131072', 'NODE_OPTIONS=--max-semi-space-size=4', process.execPath, join(repoDir, 'dist/cli.js'), 'serve', '--config', config, '--listen', '127.0.0.1:0'];
      const ready = new RegExp(`"${key}":\\["127\\.0\\.0\\.1:(\\d+)"\\]`);
      return running(await startServer(argv, pinning.server, ready, 120_000));
    },
  };
}

/**
 * The built daemon forwarding misses to `server` (a plain address, tls:// or
 * https://), trusting `caFile` for it: the cost of a miss per upstream transport.
 */
export function aifenceUpstreamTarget(repoDir: string, workDir: string, name: string, server: string, caFile: string): Target {
  return {
    name,
    scenarios: ['misses'],
    loadsList: false,
    async start(listFile) {
      const config = join(workDir, `${name}.yaml`);
      writeFileSync(
        config,
        [
          `upstream: { servers: [${JSON.stringify(server)}], timeout: 2s, tls: { ca: ${JSON.stringify(caFile)} } }`,
          'cache: { maxEntries: 200000 }',
          `lists: { big: { source: ${JSON.stringify(listFile)}, format: domains } }`,
          'groups: { default: { block: ["list:big"] } }',
          'access: { clients: [127.0.0.0/8] }',
          'blocking: { answer: nxdomain }',
          '',
        ].join('\n'),
      );
      const argv = ['env', 'MALLOC_TRIM_THRESHOLD_=131072', 'NODE_OPTIONS=--max-semi-space-size=4', process.execPath, join(repoDir, 'dist/cli.js'), 'serve', '--config', config, '--listen', '127.0.0.1:0'];
      return running(await startServer(argv, pinning.server, LISTEN, 120_000));
    },
  };
}
