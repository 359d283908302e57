// `aifence serve` started by a new admin, as a real process: the first log
// lines state the policy in force (loudly when it blocks nothing), and a port
// that is taken is reported with the listener, the address and how to find
// who holds it.

import { type ChildProcess, spawn } from 'node:child_process';
import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainListenError } from '../../src/shared/listen-error.js';
import { query } from '../support/client.js';
import { TestUpstream } from '../support/upstream.js';

const CLI = resolve('dist/cli.js');
const dir = mkdtempSync(join(tmpdir(), 'aifence-first-start-'));
let upstream: TestUpstream;

beforeAll(async () => {
  upstream = await TestUpstream.start();
});
afterAll(() => upstream.close());

function configFile(yaml: string): string {
  const file = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, `upstream: { servers: ["${upstream.address}"] }\n${yaml}`);
  return file;
}

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function serve(file: string, ...args: string[]): Run {
  const child = spawn(process.execPath, [CLI, 'serve', '--config', file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => out, err: () => err, exited };
}

/** The JSON log lines once the daemon has said it serves (and what its policy is). */
async function started(run: Run): Promise<{ port: number; lines: { level: number; msg: string; policy?: string }[] }> {
  for (let i = 0; i < 300; i++) {
    const m = /"listen":\["127\.0\.0\.1:(\d+)"\]/.exec(run.out());
    if (m && /policy in force/.test(run.out())) {
      await new Promise((r) => setTimeout(r, 50)); // a warning right after
      return { port: Number(m[1]), lines: run.out().trim().split('\n').map((l) => JSON.parse(l)) };
    }
    if (run.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`serve did not start: ${run.out()} ${run.err()}`);
}

describe('the policy in force, at start', () => {
  it('without groups: the default policy, stated in the log, and DeepSeek blocked', async () => {
    const run = serve(configFile(''), '--listen', '127.0.0.1:0', '--admin', 'off');
    try {
      const { port, lines } = await started(run);
      const policy = lines.find((l) => l.msg.startsWith('policy in force'));
      expect(policy?.policy).toBe('default: blocks service:deepseek, tag:cn (built-in: the config has no groups)');
      expect(lines.some((l) => /BLOCKS NOTHING/.test(l.msg))).toBe(false);
      expect((await query(port, 'chat.deepseek.com')).rcode).toBe(3);
      expect((await query(port, 'www.example.org')).rcode).toBe(0);
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
    }
  });

  it('with a default group that blocks nothing: a warning that says so', async () => {
    const run = serve(configFile('groups:\n  default: {}\n'), '--listen', '127.0.0.1:0', '--admin', 'off');
    try {
      const { port, lines } = await started(run);
      const warning = lines.find((l) => /BLOCKS NOTHING/.test(l.msg));
      expect(warning?.level).toBe(40); // pino's warn
      expect(warning?.msg).toMatch(/groups\.default\.block/);
      expect((await query(port, 'chat.deepseek.com')).rcode).toBe(0);
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
    }
  });
});

describe('a port already taken', () => {
  let udp: UdpSocket;
  let tcp: Server;
  let udpPort: number;
  let tcpPort: number;
  beforeAll(async () => {
    udp = createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    udpPort = udp.address().port;
    tcp = createServer();
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    tcpPort = (tcp.address() as { port: number }).port;
  });
  afterAll(() => {
    udp.close();
    tcp.close();
  });

  it.each([
    ['udp', () => ['--listen', `127.0.0.1:${udpPort}`, '--admin', 'off'], () => `udp 127.0.0.1:${udpPort}`, () => udpPort],
    ['tcp', () => ['--listen', `127.0.0.1:${tcpPort}`, '--admin', 'off'], () => `tcp 127.0.0.1:${tcpPort}`, () => tcpPort],
    ['admin', () => ['--listen', '127.0.0.1:0', '--admin', `127.0.0.1:${tcpPort}`], () => `admin API (http) 127.0.0.1:${tcpPort}`, () => tcpPort],
  ])('%s: names the listener and how to find who holds the port; exit 2', async (_kind, args, listener, port) => {
    const run = serve(configFile(''), ...args());
    expect(await run.exited).toBe(2);
    expect(run.err()).toContain(`cannot listen on ${listener()}: another program already holds that port`);
    expect(run.err()).toContain(`ss -lntup 'sport = :${port()}'`);
  });

  it('on port 53 points at systemd-resolved and the README', () => {
    const err = Object.assign(new Error('bind EADDRINUSE 0.0.0.0:53'), { code: 'EADDRINUSE', syscall: 'bind' });
    const message = (explainListenError(err, { host: '0.0.0.0', port: 53, family: 4 }) as Error).message;
    expect(message).toContain("cannot listen on udp 0.0.0.0:53: another program already holds that port (is aifence already running?); see which with: ss -lntup 'sport = :53'");
    expect(message).toContain('systemd-resolved');
    expect(message).toContain('DNSStubListener=no');
  });

  it('on a host without IPv6, says to drop the IPv6 listen addresses', () => {
    const err = Object.assign(new Error('bind EAFNOSUPPORT :::53'), { code: 'EAFNOSUPPORT', syscall: 'bind' });
    expect((explainListenError(err, { host: '::', port: 53, family: 6 }) as Error).message).toBe('cannot listen on udp [::]:53: this machine has IPv6 turned off; remove the IPv6 addresses from listen');
  });

  it('without the right to bind a low port, says what grants it', () => {
    const err = Object.assign(new Error('listen EACCES: permission denied [::]:53'), { code: 'EACCES', syscall: 'listen' });
    const message = (explainListenError(err, { host: '::', port: 53, family: 6 }) as Error).message;
    expect(message).toMatch(/^cannot listen on tcp \[::\]:53: permission denied; .*CAP_NET_BIND_SERVICE/);
  });
});
