// The results: a table for people, or one JSON line per result for scripts.

import type { Measurement } from './dnsperf.js';
import type { Scenario } from './targets.js';

export interface Row extends Measurement {
  target: string;
  scenario: Scenario;
  /** µs/q over the floor's µs/q for blocked; null for the floor itself or when there is no floor. */
  ratioToFloor: number | null;
}

export interface StartRow {
  target: string;
  rssMB: number;
  startMs: number;
  names: number;
}

/** How far above the floor each scenario may cost. */
export const GOALS: Partial<Record<Scenario, number>> = { blocked: 1.2, hits: 1.3, misses: 2.2 };

/** Peers measured on this machine with the same method and a 1M-name list (µs/q), for scale only. */
const REFERENCE: { name: string; blocked: number; hits: number; misses: number }[] = [
  { name: 'unbound', blocked: 10, hits: 8, misses: 44 },
  { name: 'dnsmasq', blocked: 56, hits: 10, misses: 36 },
  { name: 'dnsdist', blocked: 9, hits: 8, misses: 17 },
];

export function jsonLines(rows: Row[], starts: StartRow[]): string {
  const lines = rows.map((r) =>
    JSON.stringify({
      target: r.target,
      scenario: r.scenario,
      qps: Math.round(r.qps),
      meanMs: round(r.meanMs, 3),
      p99Ms: round(r.p99Ms, 3),
      lost: r.lost,
      completed: r.completed,
      usPerQuery: round(r.usPerQuery, 2),
      ratioToFloor: r.ratioToFloor === null ? null : round(r.ratioToFloor, 2),
    }),
  );
  for (const s of starts) lines.push(JSON.stringify({ target: s.target, rssMB: round(s.rssMB, 1), startMs: Math.round(s.startMs), names: s.names }));
  return lines.join('\n');
}

export function table(rows: Row[], starts: StartRow[], floorUs: number | null): string {
  const head = ['target', 'scenario', 'QPS', 'busy', 'mean ms', 'p99 ms', 'lost', 'completed', 'µs/q', '× floor', 'goal'];
  const body = rows.map((r) => {
    // The goals are for plain UDP to nsd: the encrypted listeners (aifence-dot, -doh) and the unbound upstreams (aifence→udp, →dot, →doh) are shown beside them, not judged.
    const goal = r.target.startsWith('aifence-') || r.target.startsWith('aifence→') ? undefined : GOALS[r.scenario];
    // Judged on the ratio as shown (two decimals), so "1.20× ≤ 1.2" never reads as a miss.
    const verdict = r.ratioToFloor === null || goal === undefined ? '' : `≤ ${goal} ${round(r.ratioToFloor, 2) <= goal ? 'met' : 'MISSED'}`;
    return [
      r.target,
      r.scenario,
      Math.round(r.qps).toLocaleString('en-US'),
      `${Math.round(r.busy * 100)}%`,
      r.meanMs.toFixed(3),
      r.p99Ms.toFixed(3),
      String(r.lost),
      r.completed.toLocaleString('en-US'),
      r.usPerQuery.toFixed(1),
      r.ratioToFloor === null ? '' : `${r.ratioToFloor.toFixed(2)}×`,
      verdict,
    ];
  });
  for (const p of REFERENCE) {
    for (const scenario of ['blocked', 'hits', 'misses'] as const) {
      const ratio = floorUs ? `${(p[scenario] / floorUs).toFixed(2)}×` : '';
      body.push([`${p.name} (reference, not measured in this run)`, scenario, '', '', '', '', '', '', String(p[scenario]), ratio, '']);
    }
  }
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const fmt = (row: string[]) => row.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const out = [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)];
  for (const s of starts) out.push('', `${s.target}: ${s.names.toLocaleString('en-US')} listed names, ${s.rssMB.toFixed(0)} MB RSS when serving, ${Math.round(s.startMs)} ms from spawn to serving`);
  return out.join('\n');
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));
