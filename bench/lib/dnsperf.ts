// One dnsperf run against one server, with the server's CPU time read from
// /proc right before and right after, and per-query latencies from -v.

import { createReadStream, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { cpuSeconds, spawnTracked } from './proc.js';

export interface LoadOptions {
  dnsperf: string;
  pin: string[];
  port: number;
  file: string;
  /** Time limit in seconds; omitted with `once`. */
  seconds?: number;
  /** Run through the file once (cache warming) instead of for `seconds`. */
  once?: boolean;
  /** UDP sockets (-c), dnsperf threads (-T) and queries outstanding (-q). */
  clients: number;
  threads: number;
  outstanding: number;
  /** Where -v output goes; deleted after parsing. */
  verboseFile: string;
  /** dnsperf -m: DNS over TLS or HTTPS (GET) instead of UDP. */
  mode?: 'dot' | 'doh';
  /** A steady rate (-Q) instead of as fast as the server answers. */
  maxQps?: number;
}

export interface Measurement {
  qps: number;
  meanMs: number;
  p99Ms: number;
  lost: number;
  completed: number;
  /** Server CPU seconds (user + system) during the run. */
  cpuSeconds: number;
  /** Server CPU seconds per wall-clock second of the run: near 1 means the server, not dnsperf, set the pace. */
  busy: number;
  usPerQuery: number;
  /** Answers by RCODE name, from the -v lines: a sanity check that the scenario did what it says. */
  rcodes: Record<string, number>;
}

const stat = (text: string, label: RegExp): number => {
  const m = label.exec(text);
  if (!m) throw new Error(`dnsperf output lacks ${label.source}:\n${text.slice(-2000)}`);
  return Number(m[1]);
};

/** dnsperf -v prints one line per answered query: "> NOERROR h1.bench.test A 0.000123" (latency in seconds). */
async function readVerbose(path: string): Promise<{ latencies: Float64Array; rcodes: Record<string, number> }> {
  let latencies = new Float64Array(1 << 20);
  let n = 0;
  const rcodes: Record<string, number> = {};
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.startsWith('> ')) continue;
    const rcode = line.slice(2, line.indexOf(' ', 2));
    rcodes[rcode] = (rcodes[rcode] ?? 0) + 1;
    if (n === latencies.length) {
      const grown = new Float64Array(n * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[n++] = Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return { latencies: latencies.subarray(0, n), rcodes };
}

export async function runDnsperf(serverPid: number, o: LoadOptions): Promise<Measurement> {
  const args = ['-s', '127.0.0.1', '-p', String(o.port), '-d', o.file, '-c', String(o.clients), '-T', String(o.threads), '-q', String(o.outstanding), '-v'];
  args.push(...(o.once ? ['-n', '1'] : ['-l', String(o.seconds)]));
  if (o.mode) args.push('-m', o.mode);
  if (o.maxQps !== undefined) args.push('-Q', String(o.maxQps));
  const argv = [...o.pin, o.dnsperf, ...args];
  const out = openSync(o.verboseFile, 'w');
  const cpuBefore = cpuSeconds(serverPid);
  const t0 = performance.now();
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawnTracked(argv, ['ignore', out, 'pipe']);
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (c) => resolve({ code: c, stderr: err }));
  });
  const cpu = cpuSeconds(serverPid) - cpuBefore;
  const wall = (performance.now() - t0) / 1000;
  closeSync(out);
  try {
    if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}: ${stderr.trim()}`);
    // The statistics come last, after the -v lines: read only the tail.
    const text = readFileSync(o.verboseFile).subarray(-8192).toString();
    const completed = stat(text, /Queries completed:\s+(\d+)/);
    const { latencies, rcodes } = await readVerbose(o.verboseFile);
    latencies.sort();
    const p99 = latencies.length > 0 ? latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * 0.99) - 1)] : NaN;
    return {
      qps: stat(text, /Queries per second:\s+([\d.]+)/),
      meanMs: stat(text, /Average Latency \(s\):\s+([\d.]+)/) * 1000,
      p99Ms: p99 * 1000,
      lost: stat(text, /Queries lost:\s+(\d+)/),
      completed,
      cpuSeconds: cpu,
      busy: cpu / wall,
      usPerQuery: completed > 0 ? (cpu * 1e6) / completed : NaN,
      rcodes,
    };
  } finally {
    rmSync(o.verboseFile, { force: true });
  }
}
