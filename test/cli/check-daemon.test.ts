// `aifence check` asks the running daemon of its config (admin API), so a
// runtime exception or a pause made through the API is what it reports;
// `--offline` decides from the config alone; the output says which. The
// daemon and the CLI in their own processes.

import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonProcess, spawnDaemon } from '../support/process.js';
import { freePort } from '../support/servers.js';
import { TestUpstream } from '../support/upstream.js';

const run = promisify(execFile);
const CLI = resolve('dist/cli.js');
const LAB = '127.0.0.3';

let upstream: TestUpstream;
let d: DaemonProcess;
let adminPort: number;

beforeAll(async () => {
  upstream = await TestUpstream.start();
  adminPort = await freePort();
  d = await spawnDaemon(
    `
upstream: { servers: ["${upstream.address}"], timeout: 1s }
admin: { listen: "127.0.0.1:${adminPort}" }
groups:
  default: { block: [service:deepseek] }
  lab: { clients: [${LAB}/32], block: [tag:genai] }
`,
    {},
    { admin: `127.0.0.1:${adminPort}` },
  );
});
afterAll(async () => {
  d?.stop();
  await upstream.close();
});

const config = () => join(d.dir, 'aifence.yaml');
const check = async (...args: string[]) => {
  const { stdout, stderr } = await run(process.execPath, [CLI, 'check', '--config', config(), '--client', LAB, ...args], { encoding: 'utf8' });
  return { stdout, stderr };
};
const api = (path: string, body?: object) =>
  fetch(`http://127.0.0.1:${adminPort}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${readFileSync(join(d.dir, 'data', 'admin.token'), 'utf8').trim()}`, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });

describe('aifence check with a daemon running', () => {
  it('reports a runtime exception made through the API, and says it asked the daemon', async () => {
    const before = await check('chatgpt.com');
    expect(before.stdout).toMatch(/^chatgpt\.com\tblocked\tlab/);
    expect(before.stdout).toContain(`asked the running daemon at 127.0.0.1:${adminPort}`);
    expect((await api('/exceptions', { group: 'lab', select: 'service:openai', until: '2h', reason: 'ticket 4711' })).status).toBe(201);
    const after = await check('chatgpt.com');
    expect(after.stdout).toMatch(/^chatgpt\.com\tallowed\tlab .*\(exception service:openai until \S+: ticket 4711 \(token holder at 127\.0\.0\.1, exception [0-9a-f]{12}\)\)/);
    const json = JSON.parse((await check('chatgpt.com', 'claude.ai', '--json')).stdout.split('\n')[0]) as { verdict: string; exception: { select: string } };
    expect(json).toMatchObject({ verdict: 'allowed', exception: { select: 'service:openai' }, source: 'daemon' });
  });

  it('decides from the config alone with --offline, and says so', async () => {
    const offline = await check('chatgpt.com', '--offline');
    expect(offline.stdout).toMatch(/^chatgpt\.com\tblocked\tlab/);
    expect(offline.stdout).toMatch(/\n# decided from .*aifence\.yaml alone \(asked for --offline\): runtime exceptions and pauses not included/);
  });

  it('reports a pause', async () => {
    expect((await api('/pause?group=lab&minutes=5')).status).toBe(200);
    expect((await check('claude.ai')).stdout).toMatch(/^claude\.ai\tallowed\tlab .*blocking paused/);
    expect((await api('/resume?group=lab')).status).toBe(200);
  });

  it('does not take the verdicts of a daemon serving another config file', async () => {
    const other = join(d.dir, 'other.yaml');
    copyFileSync(config(), other);
    const r = await run(process.execPath, [CLI, 'check', '--config', other, '--client', LAB, 'chatgpt.com'], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/^chatgpt\.com\tblocked\tlab/);
    expect(r.stdout).toContain(`serves ${config()}, not ${other}`);
  });

  it('falls back to the config when no daemon answers', async () => {
    d.stop();
    await new Promise((ok) => d.child.once('exit', ok));
    const r = await check('chatgpt.com');
    expect(r.stdout).toMatch(/^chatgpt\.com\tblocked\tlab/);
    expect(r.stdout).toMatch(new RegExp(`no daemon answers at 127\\.0\\.0\\.1:${adminPort} \\(ECONNREFUSED\\)`));
  });
});
