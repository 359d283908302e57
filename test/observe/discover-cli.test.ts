// `aifence report --discover`: from a query log, the allowed names that look
// like AI services but that no catalogue entry covers, with how many clients
// asked; names the catalogue covers and ordinary names stay out.

import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { evidence, loadCandidates } from '../../src/control/observe/discover.js';

const run = promisify(execFile);

const line = (name: string, client: string, verdict = 'allowed') =>
  JSON.stringify({ time: '2026-12-01T10:00:00.000Z', client, group: 'default', name, type: 'A', verdict, cached: false, rcode: 'NOERROR', latencyMs: 1 });

describe('report --discover', () => {
  it('lists AI-looking names no catalogue entry covers, most clients first, with why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-discover-'));
    const log = join(dir, 'queries.jsonl');
    writeFileSync(
      log,
      [
        line('gpt-helper.example.org', '10.0.0.1'),
        line('gpt-helper.example.org', '10.0.0.2'),
        line('gpt-helper.example.org', '10.0.0.2'),
        line('newthing.ai', '10.0.0.3'),
        line('ai.com', '10.0.0.4'),
        line('chat.deepseek.com', '10.0.0.5'), // the catalogue covers it
        line('chat.openai.com', '10.0.0.5'), // so this too
        line('www.example.org', '10.0.0.1'),
        line('dubai-travel.example', '10.0.0.1'),
        line('blocked-gpt.example', '10.0.0.9', 'blocked'), // the ban caught it already
      ].join('\n') + '\n',
    );
    const { stdout } = await run(process.execPath, [resolve('dist/cli.js'), 'report', '--log', log, '--discover', '--format', 'json']);
    const rows = JSON.parse(stdout).rows as { name: string; clients: number; queries: number; why: string[] }[];
    expect(rows.map((r) => r.name)).toEqual(['gpt-helper.example.org', 'ai.com', 'newthing.ai']);
    expect(rows[0]).toMatchObject({ clients: 2, queries: 3, why: ['product word "gpt"'] });
    expect(rows[1].why[0]).toMatch(/^public AI lists: ai\.com/);
    expect(rows[2].why).toContain('AI-typical TLD .ai');
    const table = (await run(process.execPath, [resolve('dist/cli.js'), 'report', '--log', log, '--discover'])).stdout;
    expect(table.split('\n')[0]).toMatch(/^name\s+clients\s+queries\s+score/);
  });

  it('weighs evidence: vendor names and candidate lists strongly, lone weak words not enough', () => {
    const c = loadCandidates();
    expect(evidence('api.mistral-mirror.example', c).score).toBeGreaterThanOrEqual(3);
    expect(evidence('chat.example.com', c).score).toBe(1);
    expect(evidence('mumbai.example.com', c).score).toBe(0);
    expect(evidence('sorano.example', c).score).toBe(0);
  });
});
