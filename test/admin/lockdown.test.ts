// The admin API as an attacker meets it: no token, a web page posting
// across sites, a rebound name in Host, an oversize or endless body, a token
// of the wrong length. And the readiness probe with the upstream down.

import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { type Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { configFromText } from '../../src/control/config/load.js';
import { createLogger } from '../../src/shared/logger.js';
import { Daemon } from '../../src/control/daemon.js';
import { EMPTY_CATALOGUE, type TestDaemon, startDaemon } from '../support/daemon.js';
import { query } from '../support/client.js';
import { TestUpstream } from '../support/upstream.js';

// Spy on the comparison the API makes: it must compare digests of one length, whatever was sent.
const compared = vi.hoisted(() => [] as [number, number][]);
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  const timingSafeEqual = (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
    compared.push([a.byteLength, b.byteLength]);
    return real.timingSafeEqual(a, b);
  };
  return { ...real, default: { ...real, timingSafeEqual }, timingSafeEqual };
});

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** node:http rather than fetch: fetch will not send a Host of our choosing. */
function call(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let upstream: TestUpstream;
beforeAll(async () => {
  upstream = await TestUpstream.start();
});
afterAll(() => upstream.close());


describe('admin API without a configured token', () => {
  let d: TestDaemon;
  let port: number;
  let token: string;
  const bearer = () => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    d = await startDaemon('', [upstream.address]);
    port = d.daemon.adminAddress!.port;
  });
  afterAll(() => d.stop());

  it('refuses reload, pause and resume without a token, even on loopback', async () => {
    for (const path of ['/reload', '/pause?minutes=10080', '/resume']) {
      const r = await call(port, 'POST', path);
      expect(r.status, path).toBe(401);
      expect(r.body).toMatch(/bearer token/);
    }
    expect(d.daemon.readiness().paused).toEqual([]);
  });

  it('generates a token into dataDir, mode 0600, which the mutating routes accept', async () => {
    const file = join(d.dir, 'data', 'admin.token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    token = readFileSync(file, 'utf8').trim();
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect((await call(port, 'POST', '/reload', bearer())).status).toBe(200);
    const paused = await call(port, 'POST', '/pause?minutes=5', bearer());
    expect(paused.status).toBe(200);
    expect((await call(port, 'POST', '/resume', bearer())).status).toBe(200);
    expect((await call(port, 'POST', '/reload', { authorization: `Bearer ${token}x` })).status).toBe(401);
  });

  it('keeps read-only routes open on loopback when the admin set no token', async () => {
    expect((await call(port, 'GET', '/metrics')).status).toBe(200);
    expect((await call(port, 'GET', '/check?name=chat.example')).status).toBe(200);
  });

  it('refuses a cross-site POST with text/plain (a web form) even with the token', async () => {
    const form = { ...bearer(), 'content-type': 'text/plain', 'content-length': '1' };
    const crossOrigin = await call(port, 'POST', '/pause?minutes=10080', { ...form, origin: 'http://evil.example' }, 'x');
    expect(crossOrigin.status).toBe(403);
    expect(crossOrigin.body).toMatch(/cross-origin request refused/);
    const crossSite = await call(port, 'POST', '/pause?minutes=10080', { ...form, 'sec-fetch-site': 'cross-site' }, 'x');
    expect(crossSite.status).toBe(403);
    expect((await call(port, 'POST', '/pause?minutes=10080', { ...form, origin: 'null' }, 'x')).status).toBe(403);
    expect(d.daemon.readiness().paused).toEqual([]);
    // Its own origin, and curl (no Origin, no Sec-Fetch-Site), are fine.
    expect((await call(port, 'POST', '/resume', { ...bearer(), origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin' })).status).toBe(200);
    expect((await call(port, 'POST', '/resume', bearer())).status).toBe(200);
  });

  it('refuses a Host that is not its own (DNS rebinding) on every route but the probes', async () => {
    for (const [method, path] of [
      ['GET', '/metrics'],
      ['GET', '/check?name=claude.ai'],
      ['POST', '/reload'],
      ['POST', '/pause?minutes=10080'],
      ['GET', '/nowhere'],
    ]) {
      const r = await call(port, method, path, { ...bearer(), host: `rebind.attacker.example:${port}` });
      expect(r.status, path).toBe(421);
      expect(r.body).toMatch(/admin\.hosts/);
    }
    expect((await call(port, 'GET', '/metrics', { host: 'localhost.attacker.example' })).status).toBe(421);
    expect(d.daemon.readiness().paused).toEqual([]);
    // IP literals (with or without the port) and localhost are this API's own.
    for (const host of [`127.0.0.1:${port}`, '127.0.0.1', `[::1]:${port}`, `localhost:${port}`, 'LOCALHOST', '10.0.0.53:8053']) {
      expect((await call(port, 'GET', '/metrics', { host })).status, host).toBe(200);
    }
    // Orchestrators probe by whatever name they like.
    expect((await call(port, 'GET', '/healthz', { host: 'aifence.default.svc' })).status).toBe(200);
    expect((await call(port, 'GET', '/readyz', { host: 'aifence.default.svc' })).status).toBe(200);
  });

  it('refuses a body over 64 KiB with 413, declared or chunked', async () => {
    const big = Buffer.alloc(65 * 1024, 'a');
    const declared = await call(port, 'POST', '/reload', { ...bearer(), 'content-length': String(big.length) }, big);
    expect(declared.status).toBe(413);
    const chunked = await call(port, 'POST', '/reload', { ...bearer(), 'transfer-encoding': 'chunked' }, big);
    expect(chunked.status).toBe(413);
    // A small body is read and ignored.
    expect((await call(port, 'POST', '/reload', { ...bearer(), 'content-length': '2' }, '{}')).status).toBe(200);
  });

  it('answers a route asked with the wrong method with 405 and the method it takes', async () => {
    const r = await call(port, 'GET', '/reload', bearer());
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('POST');
    expect((await call(port, 'OPTIONS', '/pause', bearer())).status).toBe(405);
    expect((await call(port, 'POST', '/metrics', bearer())).status).toBe(405);
  });

  it('closes a connection that never finishes sending its body', async () => {
    const socket: Socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(`POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Length: 100\r\n\r\nabc`);
    const started = Date.now();
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c));
    await new Promise((r) => socket.once('close', r));
    // Node's default would hold it for 300 s; ours is 10 s, checked every second.
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(answer).not.toMatch(/"ok":true/);
  }, 30_000);
});

describe('admin token comparison', () => {
  it('compares equal-length digests, so a token of the wrong length costs the same as a wrong one', async () => {
    const d = await startDaemon('admin: { listen: "127.0.0.1:0", token: s3cret-token-of-some-length }\n', [upstream.address]);
    try {
      const port = d.daemon.adminAddress!.port;
      for (const given of ['s3', 's3cret-token-of-some-length-and-more', 's3cret-token-of-some-lengtX']) {
        compared.length = 0;
        expect((await call(port, 'GET', '/metrics', { authorization: `Bearer ${given}` })).status, given).toBe(401);
        expect(compared, given).toEqual([[32, 32]]);
      }
      expect((await call(port, 'GET', '/metrics', { authorization: 'Bearer s3cret-token-of-some-length' })).status).toBe(200);
    } finally {
      await d.stop();
    }
  });
});

describe('admin token file', () => {
  it('is reused on the next start and its path, never its value, is logged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-token-'));
    const file = join(dir, 'aifence.yaml');
    const text = `listen: ["127.0.0.1:0"]\nupstream: { servers: ["${upstream.address}"], timeout: 1s }\nadmin: { listen: "127.0.0.1:0" }\ndataDir: state\ngroups: { default: {} }\n`;
    writeFileSync(file, text);
    const logged: string[] = [];
    const log = createLogger({ level: 'info', destination: { write: (line: string) => void logged.push(line) } });
    const start = () => Daemon.start(configFromText(text, file), { log, catalogue: EMPTY_CATALOGUE, configFile: file, watch: false, drainMs: 100 });
    const first = await start();
    await first.stop();
    const tokenFile = join(dir, 'state', 'admin.token');
    expect(existsSync(tokenFile)).toBe(true);
    const token = readFileSync(tokenFile, 'utf8').trim();
    const second = await start();
    try {
      expect(readFileSync(tokenFile, 'utf8').trim()).toBe(token);
      const r = await call(second.adminAddress!.port, 'POST', '/reload', { authorization: `Bearer ${token}` });
      expect(r.status).toBe(200);
    } finally {
      await second.stop();
    }
    const all = logged.join('');
    expect(all).toContain(tokenFile);
    expect(all).not.toContain(token);
  });

  it('is refused when others can read it, and mutations are then refused too', async () => {
    const d = await startDaemon('dataDir: state\n', [upstream.address]);
    await d.stop();
    const file = join(d.dir, 'state', 'admin.token');
    chmodSync(file, 0o644);
    const config = configFromText(readFileSync(join(d.dir, 'aifence.yaml'), 'utf8'), join(d.dir, 'aifence.yaml'));
    const logged: string[] = [];
    const log = createLogger({ level: 'info', destination: { write: (line: string) => void logged.push(line) } });
    const again = await Daemon.start(config, { log, catalogue: EMPTY_CATALOGUE, watch: false, drainMs: 100 });
    try {
      const token = readFileSync(file, 'utf8').trim();
      const r = await call(again.adminAddress!.port, 'POST', '/reload', { authorization: `Bearer ${token}` });
      expect(r.status).toBe(403);
      expect(logged.join('')).toMatch(/can be read by others/);
      expect(logged.join('')).not.toContain(token);
    } finally {
      await again.stop();
    }
  });
});

describe('admin.hosts', () => {
  it('accepts the names an admin lists in Host and Origin', async () => {
    const d = await startDaemon('admin: { listen: "127.0.0.1:0", token: a-long-enough-token, hosts: [resolver1.corp] }\n', [upstream.address]);
    try {
      const port = d.daemon.adminAddress!.port;
      const auth = { authorization: 'Bearer a-long-enough-token' };
      expect((await call(port, 'GET', '/metrics', { ...auth, host: `Resolver1.Corp:${port}` })).status).toBe(200);
      expect((await call(port, 'POST', '/reload', { ...auth, host: `resolver1.corp:${port}`, origin: `http://resolver1.corp:${port}` })).status).toBe(200);
      expect((await call(port, 'POST', '/reload', { ...auth, host: `resolver1.corp:${port}`, origin: `http://127.0.0.1:${port}` })).status).toBe(403);
      expect((await call(port, 'GET', '/metrics', { ...auth, host: 'resolver2.corp' })).status).toBe(421);
    } finally {
      await d.stop();
    }
  });
});

describe('readiness', () => {
  it('stays ready while the upstream is down, and says so in the body', async () => {
    const down = await TestUpstream.start();
    down.behave = () => ({ kind: 'silent' });
    const d = await startDaemon('', [down.address]);
    try {
      await query(d.port, 'first.example').catch(() => undefined); // times out upstream: the server is marked down
      const r = await call(d.daemon.adminAddress!.port, 'GET', '/readyz');
      const body = JSON.parse(r.body) as Record<string, unknown>;
      expect(body).toMatchObject({ ready: true, listening: true, listsCompiled: true, draining: false, upstreamAnswering: false });
      expect(r.status).toBe(200);
    } finally {
      await d.stop();
      await down.close();
    }
  });
});
