// `aifence health` as a container or systemd health check runs it: the probe
// goes where the config says the daemon listens, and only the daemon's own
// NOERROR answer to that probe counts. A stand-in DNS server on loopback
// plays the daemon so each kind of wrong reply can be sent on purpose.

import { spawn } from 'node:child_process';
import { type Socket, createSocket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

const CLI = resolve('dist/cli.js');
const dir = mkdtempSync(join(tmpdir(), 'aifence-health-'));

type Reply = 'noerror' | 'servfail' | 'wrong-id' | 'no-qr';

interface Standin {
  socket: Socket;
  port: number;
  questions: string[];
  reply: Reply;
}

/** Reads the question name of a query (uncompressed, as the probe writes it). */
function qname(msg: Buffer): string {
  const labels: string[] = [];
  for (let at = 12; msg[at] !== 0; at += msg[at] + 1) labels.push(msg.toString('latin1', at + 1, at + 1 + msg[at]));
  return labels.join('.');
}

const standin = (host: string) => standinAt(host, 0);

async function standinAt(host: string, port: number): Promise<Standin> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((ok, fail) => {
    socket.once('error', fail);
    socket.bind(port, host, ok);
  });
  const s: Standin = { socket, port: socket.address().port, questions: [], reply: 'noerror' };
  socket.on('message', (msg, from) => {
    s.questions.push(`${qname(msg)}/${msg.readUInt16BE(msg.length - 4)}`);
    const reply = Buffer.from(msg);
    if (s.reply !== 'no-qr') reply[2] |= 0x80;
    if (s.reply === 'servfail') reply[3] = (reply[3] & 0xf0) | 2;
    if (s.reply === 'wrong-id') reply.writeUInt16BE((msg.readUInt16BE(0) + 1) & 0xffff, 0);
    socket.send(reply, from.port, from.address);
  });
  return s;
}

function health(...args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((ok) => {
    const child = spawn(process.execPath, [CLI, 'health', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('exit', (status) => ok({ status, out }));
  });
}

function config(listen: string): string {
  const file = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, `listen: ["${listen}"]\nupstream: { servers: ["192.0.2.53"] }\n`);
  return file;
}

let v4: Standin;
beforeAll(async () => {
  v4 = await standin('127.0.0.1');
});
afterAll(() => v4.socket.close());

describe('aifence health', () => {
  it('probes the first listen address of --config (0.0.0.0 as 127.0.0.1) with health.aifence.invalid, and exits 0 on NOERROR', async () => {
    v4.reply = 'noerror';
    v4.questions.length = 0;
    const r = await health('--config', config(`0.0.0.0:${v4.port}`));
    expect(r.out).toContain(`aifence answers on 127.0.0.1:${v4.port}`);
    expect(r.status).toBe(0);
    expect(v4.questions).toEqual(['health.aifence.invalid/1']);
  });

  it('reads [::] as ::1', async (ctx) => {
    let v6: Standin;
    try {
      v6 = await standin('::1');
    } catch {
      ctx.skip(); // no IPv6 loopback on this machine
      return;
    }
    try {
      const r = await health('--config', config(`[::]:${v6.port}`));
      expect(r.out).toContain(`aifence answers on [::1]:${v6.port}`);
      expect(r.status).toBe(0);
    } finally {
      v6.socket.close();
    }
  });

  it('without --config or --server, probes where `npm start` serves: the package config, 127.0.0.1:5300', async (ctx) => {
    let s: Standin;
    try {
      s = await standinAt('127.0.0.1', 5300);
    } catch {
      ctx.skip(); // something on this machine already serves 5300
      return;
    }
    try {
      const r = await health();
      expect(r.out).toContain('aifence answers on 127.0.0.1:5300');
      expect(r.status).toBe(0);
    } finally {
      s.socket.close();
    }
  });

  it('lets --server win over --config', async () => {
    v4.reply = 'noerror';
    const r = await health('--config', config('127.0.0.1:9'), '--server', `127.0.0.1:${v4.port}`);
    expect(r.status).toBe(0);
  });

  it.each<[Reply, RegExp]>([
    ['servfail', /answered SERVFAIL, not NOERROR/],
    ['wrong-id', /no answer from 127\.0\.0\.1:\d+ within 500ms/],
    ['no-qr', /no answer from 127\.0\.0\.1:\d+ within 500ms/],
  ])('exits 1 on a %s reply', async (reply, message) => {
    v4.reply = reply;
    const r = await health('--server', `127.0.0.1:${v4.port}`, '--timeout', '500');
    expect(r.out).toMatch(message);
    expect(r.status).toBe(1);
  });

  it('rejects a timeout that is not a number of milliseconds', async () => {
    const r = await health('--server', `127.0.0.1:${v4.port}`, '--timeout', '2s');
    expect(r.out).toMatch(/--timeout.*milliseconds/);
    expect(r.status).not.toBe(0);
  });
});

describe('aifence health against the daemon', () => {
  let upstream: TestUpstream;
  let d: TestDaemon;
  beforeAll(async () => {
    upstream = await TestUpstream.start();
    d = await startDaemon('', [upstream.address]);
  });
  afterAll(async () => {
    await d.stop();
    await upstream.close();
  });

  it('exits 0 when the daemon answers', async () => {
    const r = await health('--server', `127.0.0.1:${d.port}`);
    expect(r.status).toBe(0);
  });

  it('exits 0 while the upstream is down: the daemon answers the probe itself', async () => {
    upstream.behave = () => ({ kind: 'silent' });
    try {
      const before = upstream.received.length;
      const r = await health('--server', `127.0.0.1:${d.port}`, '--timeout', '1500');
      expect(r.out).toContain('aifence answers on');
      expect(r.status).toBe(0);
      expect(upstream.received.length).toBe(before); // never forwarded
    } finally {
      upstream.behave = () => ({ kind: 'answer' });
    }
  });
});
