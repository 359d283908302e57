// `aifence report` as an admin runs it: the log found through the config,
// bad lines counted on stderr and never fatal, a bad --since refused.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'report', ...args], { encoding: 'utf8' });

describe('aifence report', () => {
  it('reads queryLog.path from --config, reports bad lines on stderr and prints the table', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-report-cli-'));
    writeFileSync(join(dir, 'aifence.yaml'), 'upstream: { servers: ["127.0.0.1:5399"] }\nqueryLog: { mode: blocked, path: logs.jsonl }\n');
    const entry = (time: string, client: string) =>
      JSON.stringify({ time, client, group: 'default', name: 'chat.deepseek.com', type: 'A', verdict: 'blocked', cached: false, service: 'deepseek', list: 'service:deepseek', rcode: 'NXDOMAIN', latencyMs: 0.1 });
    writeFileSync(join(dir, 'logs.jsonl.1'), entry('2026-11-20T08:00:00.000Z', '10.0.0.7') + '\n{oops\n');
    writeFileSync(join(dir, 'logs.jsonl'), entry('2026-11-21T08:00:00.000Z', '10.0.0.8') + '\n');
    const r = run(['--config', join(dir, 'aifence.yaml'), '--by', 'group']);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`1 unreadable line(s) skipped, the first at ${join(dir, 'logs.jsonl.1')}:2`);
    expect(r.stdout).toBe(
      'group    service   queries  clients  first                     last\n' +
        'default  deepseek        2        2  2026-11-20T08:00:00.000Z  2026-11-21T08:00:00.000Z\n',
    );
    const bad = run(['--log', join(dir, 'logs.jsonl'), '--since', 'last week']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('write a duration such as 90m, 24h, 7d or 4w');
  });
});
