// The command line as a new admin meets it: --version, and output piped into
// `head` (which closes the pipe early) ending quietly instead of with an
// EPIPE stack trace.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = resolve('dist/cli.js');
const version = JSON.parse(readFileSync('package.json', 'utf8')).version as string;
const dir = mkdtempSync(join(tmpdir(), 'aifence-first-run-'));

describe('aifence --version', () => {
  it.each([['--version'], ['-V']])('%s prints the package version', (flag) => {
    const r = spawnSync(process.execPath, [CLI, flag], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(version);
    expect(r.status).toBe(0);
  });
});

describe('--version after a subcommand', () => {
  it('is left to the subcommand (catalogue pack --version V), not taken as the program version', () => {
    const r = spawnSync(process.execPath, [CLI, 'catalogue', 'pack', '--version', '2026.12.01-1', '--help'], { encoding: 'utf8' });
    expect(r.stdout).toContain('Usage: aifence catalogue pack');
    expect(r.stdout.trim()).not.toBe(version);
  });
});

describe('output into a pipe that closes early (| head -1)', () => {
  // `true` exits at once, so the pipe is closed before node has written a byte:
  // the same as `head -1` after its first line, without the race.
  const log = join(dir, 'queries.jsonl');
  writeFileSync(log, '{"time":"2026-11-23T09:00:00.000Z","client":"10.1.2.3","group":"default","name":"chat.deepseek.com","type":"A","verdict":"blocked","cached":false,"service":"deepseek","rcode":"NXDOMAIN","latencyMs":0.05}\n');
  it.each([
    ['services'],
    ['services --json'],
    ['groups'],
    ['lists --all'],
    ['check chat.deepseek.com example.org'],
    [`report --log ${log}`],
    ['--help'],
  ])('aifence %s | true: exit 0, nothing on stderr', (args) => {
    const bash = spawnSync('bash', ['-c', `"${process.execPath}" "${CLI}" ${args} | true; exit \${PIPESTATUS[0]}`], { encoding: 'utf8' });
    expect(bash.stderr).toBe('');
    expect(bash.status).toBe(0);
  });
});
