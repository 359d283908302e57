// The systemd unit's promise, carried out without systemd: the unit's own
// ExecStart (its /opt/aifence read as this checkout), so on the Node 24 that
// `npm install` brought, not the machine's node (20 here); as an unprivileged
// user holding only CAP_NET_BIND_SERVICE (the unit's AmbientCapabilities and
// CapabilityBoundingSet), it binds a port below 1024 and serves
// deploy/aifence.yaml, writing only where the unit lets it write
// (StateDirectory and LogsDirectory stand-ins owned by that user).

import { type ChildProcess, execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { query } from '../support/client.js';
import { freePort } from '../support/activation.js';
import { lowPort } from '../support/servers.js';
import { TestUpstream } from '../support/upstream.js';

const run = promisify(execFile);
const CLI = resolve('dist/cli.js');
/** The unit's ExecStart with /opt/aifence (where the README clones) read as this checkout. */
const EXEC_START = /^ExecStart=(.*)$/m
  .exec(readFileSync('deploy/systemd/aifence.service', 'utf8'))![1]
  .split(/\s+/)
  .map((w) => w.replace(/^\/opt\/aifence(?=\/)/, resolve('.')));
const major = (version: string) => Number(version.replace(/^v/, '').split('.')[0]);
const NOBODY = 65534;
const canDrop = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;

/** The unit's user and capabilities, as setpriv grants them. */
const asUnit = (args: string[]) => [
  '--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups',
  '--inh-caps=-all,+net_bind_service', '--ambient-caps=-all,+net_bind_service', '--bounding-set=-all,+net_bind_service',
  '--no-new-privs',
  ...args,
];

describe.runIf(canDrop)('the daemon as the systemd unit runs it', () => {
  let upstream: TestUpstream;
  let child: ChildProcess;
  let port: number;
  let root: string;
  let out = '';

  beforeAll(async () => {
    upstream = await TestUpstream.start();
    root = mkdtempSync(join(tmpdir(), 'aifence-unit-run-'));
    chmodSync(root, 0o755); // the config is read by the unit's user
    const state = join(root, 'var/lib/aifence');
    const logs = join(root, 'var/log/aifence');
    for (const d of [state, logs]) {
      mkdirSync(d, { recursive: true });
      chownSync(d, NOBODY, NOBODY);
    }
    port = await lowPort();
    const config = parse(readFileSync('deploy/aifence.yaml', 'utf8'));
    config.listen = [`127.0.0.1:${port}`];
    config.upstream.servers = [upstream.address];
    config.dataDir = state;
    // The admin API on a port of its own: the unit's 8053 may be taken by another aifence on this machine.
    config.admin = { ...config.admin, listen: `127.0.0.1:${await freePort()}` };
    config.queryLog.path = join(logs, 'queries.jsonl');
    const file = join(root, 'aifence.yaml');
    writeFileSync(file, stringify(config));
    // The unit's command line, with this test's config in place of /etc/aifence/aifence.yaml.
    expect(EXEC_START.slice(-2)).toEqual(['--config', '/etc/aifence/aifence.yaml']);
    child = spawn('setpriv', asUnit([...EXEC_START.slice(0, -1), file]), {
      // What the unit gives it: systemd's PATH and its one Environment= line (serve adds its memory settings itself).
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((ok, fail) => {
      child.stdout!.on('data', (c) => {
        out += c;
        if (out.includes('policy in force')) ok();
      });
      child.stderr!.on('data', (c) => (out += c));
      child.on('exit', () => fail(new Error(`serve exited: ${out}`)));
    });
  });

  afterAll(async () => {
    child?.kill('SIGTERM');
    await upstream?.close();
  });

  it(`binds a port below 1024 without root, blocks by the deploy policy, forwards the rest`, async () => {
    expect(out).toContain(`"listen":["127.0.0.1:${port}"]`);
    expect((await query(port, 'chat.deepseek.com')).rcode).toBe(3);
    expect((await query(port, 'www.example.org')).rcode).toBe(0);
    expect((await query(port, 'chat.deepseek.com', 1, { tcp: true })).rcode).toBe(3);
  });

  it("runs on the Node 24 that npm install brought, whatever the machine's own node is", () => {
    const [node] = EXEC_START;
    expect(node).toBe(resolve('node_modules/node/bin/node'));
    expect(readlinkSync(`/proc/${child.pid}/exe`)).toBe(realpathSync(node));
    expect(major(execFileSync(node, ['--version'], { encoding: 'utf8' }))).toBe(24);
    // No warning about an old Node (the CLI prints one on stderr when started by Node 20).
    expect(out).not.toContain('warning: running on Node');
    const system = spawnSync('/usr/bin/node', ['--version'], { encoding: 'utf8' });
    if (system.status === 0) console.log(`this machine's /usr/bin/node is ${system.stdout.trim()}; the unit ran ${execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()}`);
  });

  it('re-executed itself with its memory settings, keeping the capability (the same PID: what systemd signals)', async () => {
    expect(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0')).toContain('--max-semi-space-size=4');
    expect(readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['MALLOC_TRIM_THRESHOLD_=131072', `MALLOC_ARENA_MAX=${2 + availableParallelism()}`]));
    // Logged once serving (the heap growth is limited after the start-up compile).
    for (let i = 0; i < 50 && !out.includes('"msg":"memory settings"'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(out).toContain('"msg":"memory settings"');
  });

  it('writes the query log where the unit allows, and health passes with the same config', async () => {
    const probe = await run(process.execPath, [CLI, 'health', '--config', join(root, 'aifence.yaml')]);
    expect(probe.stdout).toContain(`aifence answers on 127.0.0.1:${port}`);
    // Blocked queries are logged in batches every 200 ms.
    let log = '';
    for (let i = 0; i < 30 && !log.includes('chat.deepseek.com'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      log = readdirSync(join(root, 'var/log/aifence')).includes('queries.jsonl') ? readFileSync(join(root, 'var/log/aifence/queries.jsonl'), 'utf8') : '';
    }
    expect(log).toContain('"verdict":"blocked"');
  });

  it('cannot bind a low port without the capability (the check above means something)', async () => {
    const r = spawnSync('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', process.execPath, CLI, 'serve', '--config', join(root, 'aifence.yaml')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`cannot listen on udp 127.0.0.1:${port}: permission denied`);
  });
});
