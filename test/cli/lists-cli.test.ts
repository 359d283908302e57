// `aifence lists`: per list its format, what loaded, what was rejected and
// why (with line numbers), and the compiled matcher's size.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('aifence lists', () => {
  it('reports formats, entries and rejected lines with list name, line number and reason', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-lists-'));
    writeFileSync(join(dir, 'hosts.txt'), '127.0.0.1 localhost\n0.0.0.0 ads.example\n0.0.0.0 bad_host!.example\n0.0.0.0 tracker.example\n');
    writeFileSync(join(dir, 'rules.txt'), '[Adblock Plus]\n||ai.example^\n||x.example^$third-party\n@@||ok.ai.example^\n');
    writeFileSync(join(dir, 'aifence.yaml'), 'upstream: { servers: ["127.0.0.1:5399"] }\nlists:\n  hosts: { source: hosts.txt }\n  rules: { source: rules.txt }\n');
    const out = execFileSync(process.execPath, [resolve('dist/cli.js'), 'lists', '--config', join(dir, 'aifence.yaml'), '--json'], { encoding: 'utf8' });
    const { matcherBytes, lists } = JSON.parse(out) as { matcherBytes: number; lists: { name: string; format: string; entries: number; rejected: number; skipped: number; samples: { line: number; reason: string }[] }[] };
    expect(matcherBytes).toBeGreaterThan(0);
    const hosts = lists.find((l) => l.name === 'hosts')!;
    expect(hosts).toMatchObject({ format: 'hosts', entries: 2, rejected: 1 });
    expect(hosts.samples[0].line).toBe(3);
    const rules = lists.find((l) => l.name === 'rules')!;
    expect(rules).toMatchObject({ format: 'adblock', entries: 2, skipped: 1 });
    expect(rules.samples.some((s) => s.line === 3)).toBe(true);
    const text = execFileSync(process.execPath, [resolve('dist/cli.js'), 'lists', '--config', join(dir, 'aifence.yaml')], { encoding: 'utf8' });
    expect(text).toMatch(/^hosts\thosts\t2 entries\t1 rejected/m);
    expect(text).toMatch(/line 3: .*"0\.0\.0\.0 bad_host!\.example"/);
  });
});
