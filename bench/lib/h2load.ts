// One h2load run (Debian's nghttp2-client) against aifence's DoH listener:
// the same POST (one DNS query) over and over on HTTP/2, with the server's
// CPU time read from /proc before and after, like runDnsperf. dnsperf 2.10
// speaks DoH (-m doh) but cannot take two answers that arrive in one TLS
// record ("frame received when already having a dns msg", a TODO in its
// source), which node's HTTP/2 sends under load; h2load can.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { Measurement } from './dnsperf.js';
import { cpuSeconds, spawnTracked } from './proc.js';

export interface H2loadOptions {
  h2load: string;
  pin: string[];
  port: number;
  /** The DNS query sent in every request. */
  name: string;
  bodyFile: string;
  seconds: number;
  /** Connections (-c) and streams in flight on each (-m): -c × -m queries outstanding, as dnsperf's -q. */
  clients: number;
  streams: number;
}

function query(name: string): Buffer {
  const labels = name.split('.').filter(Boolean);
  const qname = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
  const header = Buffer.from([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]); // ID 0 (RFC 8484 §4.1), RD
  return Buffer.concat([header, qname, Buffer.from([0, 1, 0, 1])]);
}

const stat = (text: string, label: RegExp): number => {
  const m = label.exec(text);
  if (!m) throw new Error(`h2load output lacks ${label.source}:\n${text.slice(-2000)}`);
  return Number(m[1]);
};

const ms = (value: string, unit: string): number => Number(value) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : 1);

export async function runH2load(serverPid: number, o: H2loadOptions): Promise<Measurement> {
  writeFileSync(o.bodyFile, query(o.name));
  const argv = [
    ...o.pin, o.h2load, '-c', String(o.clients), '-m', String(o.streams), '-D', String(o.seconds),
    '-d', o.bodyFile, '-H', 'content-type: application/dns-message', `https://127.0.0.1:${o.port}/dns-query`,
  ];
  const cpuBefore = cpuSeconds(serverPid);
  const t0 = performance.now();
  const { code, text } = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
    const child = spawnTracked(argv, ['ignore', 'pipe', 'pipe']);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (c) => resolve({ code: c, text: out }));
  });
  const cpu = cpuSeconds(serverPid) - cpuBefore;
  const wall = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}: ${text.slice(-2000)}`);
  const completed = stat(text, /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded/);
  const failed = stat(text, /(\d+) failed/) + stat(text, /(\d+) errored/) + stat(text, /(\d+) timeout/);
  const mean = /time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\s/.exec(text);
  return {
    qps: stat(text, /finished in [\d.]+s, ([\d.]+) req\/s/),
    meanMs: mean ? ms(mean[1], mean[2]) : NaN,
    p99Ms: NaN, // h2load reports no percentiles
    lost: failed,
    completed,
    cpuSeconds: cpu,
    busy: cpu / wall,
    usPerQuery: completed > 0 ? (cpu * 1e6) / completed : NaN,
    rcodes: {}, // h2load sees HTTP status only (all 2xx when `lost` is 0)
  };
}

/** The first name of a dnsperf query file ("name TYPE" lines). */
export function firstName(file: string): string {
  return execFileSync('head', ['-n', '1', file]).toString().split(/\s+/)[0];
}
