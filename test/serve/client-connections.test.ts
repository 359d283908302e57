// tcp.maxPerClient is one budget per client for the whole daemon: over every
// worker thread (the kernel spreads one client's connections over them), over
// TCP and DoH together, given back when connections close or when the
// worker holding them dies.

import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { type Socket, connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TYPES, encodeQuery } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

let upstream: TestUpstream | null = null;
let d: TestDaemon | null = null;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await d?.stop();
  d = null;
  await upstream?.close();
  upstream = null;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Opens `n` connections to `port` one after another; the ones the daemon still holds open `settle` ms later. */
async function kept(port: number, n: number, settle = 500, from?: string): Promise<Socket[]> {
  const opened: { sock: Socket; closed: boolean }[] = [];
  for (let i = 0; i < n; i++) {
    const sock = connect({ host: '127.0.0.1', port, localAddress: from });
    const entry = { sock, closed: false };
    sock.on('error', () => undefined);
    sock.on('close', () => (entry.closed = true));
    sockets.push(sock);
    opened.push(entry);
    await new Promise((r) => sock.once('connect', r).once('close', r));
  }
  await sleep(settle);
  return opened.filter((o) => !o.closed).map((o) => o.sock);
}

async function close(socks: Socket[]): Promise<void> {
  await Promise.all(socks.map((s) => new Promise((r) => (s.destroyed ? r(null) : (s.once('close', r), s.destroy())))));
  await sleep(300); // the daemon's own 'close' handlers
}

/** One DNS query over an open TCP connection: its rcode. */
function ask(sock: Socket, name: string): Promise<number> {
  const msg = encodeQuery(name, TYPES.A);
  const frame = Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 0xff]), msg]);
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 + buf.readUInt16BE(0)) {
        sock.off('data', onData);
        resolve(buf[5] & 0x0f);
      }
    };
    sock.on('data', onData);
    sock.once('close', () => reject(new Error('closed')));
    sock.write(frame);
  });
}

describe('tcp.maxPerClient', () => {
  it('holds over two worker threads, not per thread, and comes back as connections close', async () => {
    upstream = await TestUpstream.start();
    d = await startDaemon('workers: 2\ntcp: { maxPerClient: 4 }\n', [upstream.address]);
    const open = await kept(d.port, 16);
    expect(open).toHaveLength(4);
    for (const s of open) expect(await ask(s, 'served.example')).toBe(0);
    await close(open);
    expect(await kept(d.port, 16)).toHaveLength(4);
  }, 30_000);

  it("gives back a dead worker's connections with it", async () => {
    upstream = await TestUpstream.start();
    d = await startDaemon('workers: 2\ntcp: { maxPerClient: 4 }\n', [upstream.address]);
    const held = await kept(d.port, 8);
    expect(held).toHaveLength(4);
    // A crash, as the control thread sees one: the thread is gone with its sockets (their 'close' never runs there).
    const workers = (d.daemon as unknown as { planes: { workers: { worker: { terminate(): Promise<number> } }[] } }).planes.workers;
    await workers[0].worker.terminate();
    await close(held);
    // Started again after a second (seconds on a busy machine): then the whole budget is there again.
    const hex = d.port.toString(16).toUpperCase().padStart(4, '0');
    const udpSockets = () => readFileSync('/proc/net/udp', 'utf8').split('\n').filter((l) => l.includes(`0100007F:${hex} `)).length;
    const deadline = Date.now() + 40_000;
    while (udpSockets() < 2 && Date.now() < deadline) await sleep(100);
    expect(udpSockets()).toBe(2);
    expect(await kept(d.port, 16)).toHaveLength(4);
  }, 60_000);

  it('is one budget over TCP and DoH', async () => {
    upstream = await TestUpstream.start();
    d = await startDaemon('listenHttp: ["127.0.0.1:0"]\ntcp: { maxPerClient: 3 }\n', [upstream.address]);
    const http = d.daemon.httpAddresses[0].port;
    expect(await kept(d.port, 2)).toHaveLength(2);
    expect(await kept(http, 2)).toHaveLength(1);
  });

  it('does not take a trusted reverse proxy for one client: the clients it names are held to their share instead', async () => {
    upstream = await TestUpstream.start();
    upstream.behave = (name) => (name.startsWith('slow') ? { kind: 'delay', ms: 600 } : { kind: 'answer' });
    d = await startDaemon('listenHttp: ["127.0.0.1:0"]\ndoh: { trustedProxies: ["127.0.0.1"], maxStreams: 1 }\ntcp: { maxPerClient: 2 }\n', [upstream.address]);
    const port = d.daemon.httpAddresses[0].port;
    // What nginx does without an upstream keepalive pool: a connection per request, X-Forwarded-For naming the client.
    const get = (name: string, client: string) =>
      new Promise<number>((resolve) => {
        const dns = encodeQuery(name, TYPES.A).toString('base64url');
        const req = request({ host: '127.0.0.1', port, path: `/dns-query?dns=${dns}`, agent: false, headers: { 'x-forwarded-for': client } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', () => resolve(0));
        req.end();
      });
    // Six clients at once through the proxy: more connections from 127.0.0.1 than maxPerClient, all served.
    const many = await Promise.all(Array.from({ length: 6 }, (_, i) => get(`slow-${i}.example`, `10.0.0.${i + 1}`)));
    expect(many).toEqual([200, 200, 200, 200, 200, 200]);
    // One client through the proxy gets what it could hold connecting itself: maxPerClient × maxStreams requests in flight.
    const one = await Promise.all(Array.from({ length: 3 }, (_, i) => get(`slow-one-${i}.example`, '10.9.9.9')));
    expect(one.sort()).toEqual([200, 200, 429]);
    expect(await get('after.example', '10.9.9.9')).toBe(200); // given back once answered
    // A peer that is not a trusted proxy is capped as before.
    expect(await kept(port, 3, 500, '127.0.0.2')).toHaveLength(2);
  });
});
