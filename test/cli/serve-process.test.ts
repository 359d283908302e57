// `aifence serve` as an admin runs it: the built CLI in its own process,
// queried with dig, stopped with SIGTERM; plus `check` and config errors.

import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestUpstream } from '../support/upstream.js';

const run = promisify(execFile);
const CLI = resolve('dist/cli.js');
const hasDig = spawnSync('dig', ['-v']).status === 0;
if (process.env.CI && !hasDig) throw new Error('dig is missing: .ci/run installs bind9-dnsutils');

let upstream: TestUpstream;
let dir: string;

beforeAll(async () => {
  upstream = await TestUpstream.start();
  dir = mkdtempSync(join(tmpdir(), 'aifence-cli-'));
});
afterAll(() => upstream.close());

/** Starts `aifence serve` and resolves once its log says where it listens. */
async function serve(config: string): Promise<{ child: ChildProcess; port: number; exited: Promise<number | null> }> {
  const file = join(dir, `serve-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, config);
  const child = spawn(process.execPath, [CLI, 'serve', '--config', file, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const port = await new Promise<number>((resolvePort, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"listen":\["127\.0\.0\.1:(\d+)"\]/.exec(out);
      if (m) resolvePort(Number(m[1]));
    });
    child.on('exit', () => reject(new Error(`serve exited early: ${out}`)));
  });
  return { child, port, exited };
}

const dig = async (port: number, ...args: string[]) => (await run('dig', [`@127.0.0.1`, '-p', String(port), '+tries=1', '+time=2', ...args])).stdout;

describe('aifence serve (process)', () => {
  it.runIf(hasDig)('blocks DeepSeek with the default policy, forwards and caches the rest, over UDP and TCP; exits 0 on SIGTERM', async () => {
    const { child, port, exited } = await serve(`upstream: { servers: ["${upstream.address}"] }\ngroups:\n  default:\n    block: [service:deepseek, tag:cn]\n`);
    try {
      expect(await dig(port, 'chat.deepseek.com')).toMatch(/status: NXDOMAIN/);
      expect(await dig(port, '+tcp', 'api.deepseek.com', 'AAAA')).toMatch(/status: NXDOMAIN/);
      expect(await dig(port, 'chat.deepseek.com')).toMatch(/EDE: 15 \(Blocked\)/);
      const first = await dig(port, 'www.example.org');
      expect(first).toMatch(/status: NOERROR/);
      expect(first).toMatch(/www\.example\.org\.\s+300\s+IN\s+A\s+192\.0\.2\.1/);
      expect(await dig(port, '+tcp', 'www.example.org')).toMatch(/192\.0\.2\.1/);
      expect(upstream.count('www.example.org')).toBe(1);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('health exits 1 when nothing answers DNS there', () => {
    const result = spawnSync(process.execPath, [CLI, 'health', '--server', '127.0.0.1:9', '--timeout', '300'], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('no answer from 127.0.0.1:9');
  });

  it('refuses a bad config with the key, the value and what would be right, and exit code 2', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'cache:\n  maxTtl: forever\n');
    const result = spawnSync(process.execPath, [CLI, 'serve', '--config', file], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('cache.maxTtl: "forever" is not a duration');
  });

  it('refuses an unknown selector, naming the closest valid one', async () => {
    const file = join(dir, 'typo.yaml');
    writeFileSync(file, `upstream: { servers: ["${upstream.address}"] }\ngroups:\n  default:\n    block: [service:deepsek]\n`);
    const result = spawnSync(process.execPath, [CLI, 'check', 'x.com', '--config', file], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/unknown selector 'service:deepsek'; did you mean 'service:deepseek'\?/);
  });
});

describe('aifence check', () => {
  it('prints the verdict, list, line and entry as JSON, with the service', async () => {
    const file = join(dir, 'check.yaml');
    writeFileSync(join(dir, 'local.txt'), '# local list\nintranet-ai.example\n');
    writeFileSync(file, `upstream: { servers: ["${upstream.address}"] }\nlists:\n  local: { source: local.txt }\ngroups:\n  default:\n    block: [service:deepseek]\n`);
    const { stdout } = await run(process.execPath, [CLI, 'check', 'chat.deepseek.com', 'Chat.Intranet-AI.example.', 'example.org', '--config', file, '--json']);
    const [deepseek, local, other] = stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(deepseek).toMatchObject({ name: 'chat.deepseek.com', verdict: 'blocked', service: 'deepseek', list: 'service:deepseek', entry: 'deepseek.com' });
    expect(deepseek.line).toBeGreaterThan(0);
    expect(local).toMatchObject({ verdict: 'blocked', list: 'local', line: 2, entry: 'intranet-ai.example', service: null });
    expect(other).toMatchObject({ verdict: 'allowed', list: null });
  });
});
