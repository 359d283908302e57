// test/support/gap-probe.mjs started in its own process, so that the
// daemon's event loop cannot slow it down: what a client asking every few
// milliseconds sees (lost queries, gaps between answers).

import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const PROBE = resolve('test/support/gap-probe.mjs');

export interface ProbeSummary {
  sent: number;
  answered: number;
  lost: number;
  maxGapMs: number;
  topGapsMs: number[];
  maxLatencyMs: number;
}

/** test/support/gap-probe.mjs in its own process: a query every `intervalMs`; stop() waits a second for stragglers and returns what it saw. */
export async function startProbe(port: number, name: string, intervalMs = 10): Promise<{ stop: () => Promise<ProbeSummary> }> {
  const probe = spawn(process.execPath, [PROBE, String(port), name, String(intervalMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  probe.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<void>((r) => probe.on('exit', () => r()));
  while (!out.includes('ready\n')) await new Promise((r) => setTimeout(r, 10));
  return {
    stop: async () => {
      probe.stdin!.end('stop\n');
      await exited;
      return JSON.parse(out.trim().split('\n').at(-1)!) as ProbeSummary;
    },
  };
}
