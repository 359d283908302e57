// aifence's DoT (RFC 7858) and DoH (RFC 8484) listeners end to end, queried
// by real clients (dig 9.18, kdig) and by node's own HTTP/2 and HTTP/1.1
// clients for what the tools cannot send: a blocked and an allowed name on
// every transport, malformed DoH requests turned away without harm, the
// client group decided by a trusted proxy's X-Forwarded-For, the TCP bounds
// holding for DoT, the certificate reloaded when its files change, the
// transport label on the metrics, and DDR naming the listeners.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { writeFileSync, copyFileSync, mkdtempSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { type ClientHttp2Session, connect as h2connect } from 'node:http2';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { loadCatalogue } from '../../src/control/catalogue/index.js';
import { TYPES, decode, encodeQuery, query } from '../support/client.js';
import { type TestCert, makeCert } from '../support/certs.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { toolsPresent } from '../support/tools.js';
import { TestUpstream } from '../support/upstream.js';

const present = toolsPresent(['dig', 'kdig', 'openssl'], 'bind9-dnsutils knot-dnsutils openssl');
const BLOCKED = 'chat.deepseek.com';
const ALLOWED = 'www.example.org';
/** Blocked for the `lab` group only (tag:genai), allowed for everyone else. */
const LAB_ONLY = 'chatgpt.com';
const catalogue = loadCatalogue();

const CONFIG = `
listenTls: ["127.0.0.1:0"]
listenHttps: ["127.0.0.1:0"]
listenHttp: ["127.0.0.1:0"]
tls: { cert: server-cert.pem, key: server-key.pem }
doh: { trustedProxies: ["127.0.0.1"] }
groups:
  default:
    block: [service:deepseek, tag:doh-bypass]
  lab:
    clients: [10.9.9.0/24]
    block: [service:deepseek, tag:genai]
`;

interface Run {
  stdout: string;
  code: number;
}

function run(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 15_000 }, (err, stdout) => resolve({ stdout, code: err ? ((err as { code?: number }).code ?? 1) : 0 }));
  });
}

const statusOf = (out: string) => /status: ([A-Z]+)/.exec(out)?.[1];

let upstream: TestUpstream;
let d: TestDaemon;
let cert: TestCert;
let dir: string;
let dot: number;
let https: number;
let http: number;

describe.skipIf(!present)('encrypted listeners', () => {
  beforeAll(async () => {
    upstream = await TestUpstream.start();
    dir = mkdtempSync(join(tmpdir(), 'aifence-certs-'));
    cert = makeCert(dir, 'server', { dns: ['dns.aifence.test'], ip: ['127.0.0.1'] });
    d = await startDaemon(CONFIG.replace('server-cert.pem', cert.cert).replace('server-key.pem', cert.key), [upstream.address], { catalogue, watch: true });
    dot = d.daemon.tlsAddresses[0].port;
    https = d.daemon.httpsAddresses[0].port;
    http = d.daemon.httpAddresses[0].port;
  });
  afterAll(async () => {
    await d?.stop();
    await upstream?.close();
  });

  const clients: [string, string, (port: () => number) => string[]][] = [
    ['dig +tls', 'dig', () => ['-p', String(dot), '+tls']],
    ['dig +https (POST, HTTP/2)', 'dig', () => ['-p', String(https), '+https']],
    ['dig +https-get (GET, HTTP/2)', 'dig', () => ['-p', String(https), '+https-get']],
    ['dig +http-plain (DoH behind a proxy)', 'dig', () => ['-p', String(http), '+http-plain']],
    ['kdig +tls', 'kdig', () => ['-p', String(dot), '+tls']],
    ['kdig +https', 'kdig', () => ['-p', String(https), '+https']],
    ['kdig +https-get', 'kdig', () => ['-p', String(https), '+https', '+https-get']],
  ];

  it.each(clients)('%s: a blocked name gets NXDOMAIN, an allowed one upstream\'s answer', async (_label, tool, args) => {
    const common = ['@127.0.0.1', ...args(() => 0), ...(tool === 'dig' ? ['+tries=1', '+time=5'] : ['+retry=0', '+timeout=5'])];
    const blocked = await run(tool, [...common, BLOCKED, 'A']);
    expect(statusOf(blocked.stdout), blocked.stdout).toBe('NXDOMAIN');
    const name = `${tool}-${args(() => 0).join('')}.${ALLOWED}`.replace(/[^a-z0-9.-]/gi, '');
    const allowed = await run(tool, [...common, name, 'A']);
    expect(statusOf(allowed.stdout), allowed.stdout).toBe('NOERROR');
    expect(allowed.stdout).toMatch(/\sA\s+192\.0\.2\.1/);
    expect(upstream.count(BLOCKED)).toBe(0);
  });

  it('counts each transport under aifence_queries_total{transport}', async () => {
    await query(d.port, BLOCKED, TYPES.A);
    const { body } = await d.daemon.scrape();
    for (const transport of ['udp', 'dot', 'doh']) {
      expect(body).toMatch(new RegExp(`aifence_queries_total\\{verdict="blocked"[^}]*service="deepseek"[^}]*transport="${transport}",worker="0"\\} \\d+`));
    }
  });

  describe('DoH requests that are not DoH', () => {
    let session: ClientHttp2Session;
    const open = async () => {
      const s = h2connect(`https://127.0.0.1:${https}`, { rejectUnauthorized: false });
      s.on('error', () => undefined);
      await new Promise((resolve, reject) => s.once('connect', resolve).once('error', reject));
      return s;
    };
    beforeAll(async () => {
      session = await open();
    });
    afterAll(() => session?.close());

    const h2 = (headers: Record<string, string>, body?: Buffer, on = session): Promise<{ status: number; body: Buffer; type?: string }> =>
      new Promise((resolve, reject) => {
        const stream = on.request(headers, { endStream: body === undefined });
        const chunks: Buffer[] = [];
        let status = 0;
        let type: string | undefined;
        stream.on('response', (h) => {
          status = Number(h[':status']);
          type = h['content-type'] as string | undefined;
        });
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => resolve({ status, body: Buffer.concat(chunks), type }));
        stream.on('close', () => resolve({ status, body: Buffer.concat(chunks), type }));
        stream.on('error', reject);
        if (body !== undefined) stream.end(body);
      });
    const get = (path: string) => h2({ ':method': 'GET', ':path': path });
    const post = (body: Buffer, type = 'application/dns-message') => h2({ ':method': 'POST', ':path': '/dns-query', 'content-type': type }, body);

    it('answers 400, 405, 413, 415 and 404, then serves a good query on the same connection', async () => {
      const good = encodeQuery(BLOCKED, TYPES.A, { id: 0 });
      const before = d.daemon.dohStats.rejected;
      expect((await get('/dns-query?dns=not*base64!')).status).toBe(400);
      expect((await get('/dns-query?dns=AAAA')).status).toBe(400); // 3 bytes: no DNS header
      expect((await get('/dns-query')).status).toBe(400);
      // Headers over the bound (16 KiB) never reach the handler: the server ends that connection, no other.
      const other = await open();
      const huge = h2({ ':method': 'GET', ':path': `/dns-query?dns=${Buffer.alloc(70_000, 1).toString('base64url')}` }, undefined, other);
      await expect(huge).rejects.toThrow();
      other.destroy();
      expect((await h2({ ':method': 'PUT', ':path': '/dns-query' }, good)).status).toBe(405);
      expect((await post(good, 'application/json')).status).toBe(415);
      expect((await post(Buffer.alloc(70_000))).status).toBe(413);
      expect((await get(`/other?dns=${good.toString('base64url')}`)).status).toBe(404);
      expect(d.daemon.dohStats.rejected - before).toBe(7);
      const viaPost = await post(good);
      expect(viaPost.status).toBe(200);
      expect(viaPost.type).toBe('application/dns-message');
      expect(decode(viaPost.body).rcode).toBe(3);
      const viaGet = await get(`/dns-query?dns=${encodeQuery(`get.${ALLOWED}`, TYPES.A, { id: 0 }).toString('base64url')}`);
      expect(viaGet.status).toBe(200);
      expect(decode(viaGet.body).packet.answers[0]).toMatchObject({ address: '192.0.2.1' });
      // The daemon still answers everyone else.
      expect((await query(d.port, `after.${ALLOWED}`, TYPES.A)).rcode).toBe(0);
    });

    it('gives an HTTP cache no longer than the smallest TTL', async () => {
      const r = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':method': 'GET', ':path': `/dns-query?dns=${encodeQuery(`ttl.${ALLOWED}`, TYPES.A, { id: 0 }).toString('base64url')}` });
        stream.on('response', (h) => resolve(Number(/max-age=(\d+)/.exec(String(h['cache-control']))?.[1])));
        stream.on('error', reject);
        stream.resume();
      });
      expect(r).toBeGreaterThanOrEqual(0);
      expect(r).toBeLessThanOrEqual(300);
    });
  });

  describe('client address behind a reverse proxy (plain HTTP)', () => {
    /** The rcode a DoH POST over HTTP/1.1 from `from` gets, with this X-Forwarded-For. */
    const ask = (from: string, name: string, forwardedFor?: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const body = encodeQuery(name, TYPES.A, { id: 0 });
        const headers: Record<string, string> = { 'content-type': 'application/dns-message', 'content-length': String(body.length) };
        if (forwardedFor !== undefined) headers['x-forwarded-for'] = forwardedFor;
        const req = httpRequest({ host: '127.0.0.1', port: http, localAddress: from, method: 'POST', path: '/dns-query', headers, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => (res.statusCode === 200 ? resolve(decode(Buffer.concat(chunks)).rcode) : reject(new Error(`HTTP ${res.statusCode}`))));
        });
        req.on('error', reject);
        req.end(body);
      });

    it('puts the client the trusted proxy names in its group', async () => {
      expect(await ask('127.0.0.1', LAB_ONLY)).toBe(0); // the proxy itself: default group
      expect(await ask('127.0.0.1', LAB_ONLY, '10.9.9.9')).toBe(3);
      expect(await ask('127.0.0.1', LAB_ONLY, '203.0.113.7, 10.9.9.9')).toBe(3); // the rightmost hop the proxy saw
      expect(await ask('127.0.0.1', BLOCKED, '10.9.9.9')).toBe(3);
    });

    it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
      expect(await ask('127.0.0.2', LAB_ONLY, '10.9.9.9')).toBe(0);
    });

    it('refuses a forwarded client outside access.clients', async () => {
      expect(await ask('127.0.0.1', ALLOWED, '198.51.100.1')).toBe(5);
    });
  });

  it('DDR: _dns.resolver.arpa SVCB names the DoT and DoH listeners, even where tag:doh-bypass is blocked', async () => {
    const out = await run('dig', ['@127.0.0.1', '-p', String(d.port), '+tries=1', '+time=5', '_dns.resolver.arpa', 'SVCB']);
    expect(statusOf(out.stdout), out.stdout).toBe('NOERROR');
    expect(out.stdout).toMatch(new RegExp(`SVCB\\s+1 dns\\.aifence\\.test\\. alpn="dot" port=${dot} ipv4hint=127\\.0\\.0\\.1`));
    expect(out.stdout).toMatch(new RegExp(`SVCB\\s+2 dns\\.aifence\\.test\\. alpn="h2,http/1\\.1" port=${https} ipv4hint=127\\.0\\.0\\.1 (dohpath|key7)="/dns-query\\{\\?dns\\}"`));
    expect(upstream.count('_dns.resolver.arpa')).toBe(0);
  });

  it('presents a new certificate once its files change, without a restart', async () => {
    const fingerprint = () =>
      new Promise<string>((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port: dot, rejectUnauthorized: false, ALPNProtocols: ['dot'] }, () => {
          resolve(s.getPeerX509Certificate()!.fingerprint256);
          s.destroy();
        });
        s.on('error', reject);
      });
    expect(await fingerprint()).toBe(cert.fingerprint);
    const next = makeCert(mkdtempSync(join(tmpdir(), 'aifence-certs-')), 'next', { dns: ['dns.aifence.test'], ip: ['127.0.0.1'] });
    copyFileSync(next.key, cert.key);
    copyFileSync(next.cert, cert.cert);
    let seen = '';
    for (let i = 0; i < 50 && seen !== next.fingerprint; i++) {
      await new Promise((r) => setTimeout(r, 100));
      seen = await fingerprint();
    }
    expect(seen).toBe(next.fingerprint);
    // A half-written pair (a certificate with no key to match) keeps the last good one.
    writeFileSync(cert.key, 'not a key');
    await new Promise((r) => setTimeout(r, 800));
    expect(await fingerprint()).toBe(next.fingerprint);
    copyFileSync(next.key, cert.key);
  });
});

describe.skipIf(!present)('DoT and DoH keep the TCP bounds', () => {
  let dd: TestDaemon;
  let port: number;
  let own: TestUpstream;
  beforeAll(async () => {
    own = await TestUpstream.start();
    const certDir = mkdtempSync(join(tmpdir(), 'aifence-certs-'));
    const c = makeCert(certDir, 'server', { dns: ['dns.aifence.test'] });
    dd = await startDaemon(
      `listenTls: ["127.0.0.1:0"]\nlistenHttps: ["127.0.0.1:0"]\ntls: { cert: ${c.cert}, key: ${c.key} }\ntcp: { maxPerClient: 2, idleTimeout: 600ms, messageTimeout: 500ms }\n`,
      [own.address],
    );
    port = dd.daemon.tlsAddresses[0].port;
  });
  afterAll(async () => {
    await dd?.stop();
    await own?.close();
  });

  it('refuses a client over maxPerClient and closes a handshake that never comes', async () => {
    const open = () =>
      new Promise<ReturnType<typeof tlsConnect>>((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(s));
        s.on('error', reject);
      });
    const a = await open();
    const b = await open();
    await expect(open()).rejects.toThrow();
    expect(dd.daemon.tcpStats.refused).toBe(1);
    a.destroy();
    b.destroy();
    await new Promise((r) => setTimeout(r, 100));
    // A TCP connection that never starts TLS is an idle connection: closed after idleTimeout.
    const silent = tcpConnect({ host: '127.0.0.1', port });
    silent.on('error', () => undefined);
    const closedAfter = await new Promise<number>((resolve) => {
      const t0 = performance.now();
      silent.on('close', () => resolve(performance.now() - t0));
    });
    expect(closedAfter).toBeGreaterThan(300);
    expect(closedAfter).toBeLessThan(5000);
    expect(dd.daemon.tcpStats.idle).toBeGreaterThanOrEqual(1);
  });

  it('answers pipelined queries on one TLS connection, out of order allowed, matched by ID', async () => {
    const s = await new Promise<ReturnType<typeof tlsConnect>>((resolve, reject) => {
      const c = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['dot'] }, () => resolve(c));
      c.on('error', reject);
    });
    expect(s.alpnProtocol).toBe('dot');
    const ids = Array.from({ length: 20 }, (_, i) => 1000 + i);
    const frames = ids.map((id) => {
      const m = encodeQuery(`pipe${id}.example.org`, TYPES.A, { id });
      const f = Buffer.alloc(m.length + 2);
      f.writeUInt16BE(m.length, 0);
      m.copy(f, 2);
      return f;
    });
    s.write(Buffer.concat(frames));
    const got = new Set<number>();
    let buf = Buffer.alloc(0);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${got.size} answers`)), 5000);
      s.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          got.add(msg.readUInt16BE(0));
          expect(decode(Buffer.from(msg)).rcode).toBe(0);
          buf = buf.subarray(2 + buf.readUInt16BE(0));
        }
        if (got.size === ids.length) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    expect([...got].sort()).toEqual(ids);
    s.destroy();
  });
});

describe.skipIf(!present)('DoH keeps its bounds', () => {
  let dd: TestDaemon;
  let port: number;
  let own: TestUpstream;
  beforeAll(async () => {
    own = await TestUpstream.start();
    const c = makeCert(mkdtempSync(join(tmpdir(), 'aifence-certs-')), 'server', { dns: ['dns.aifence.test'] });
    dd = await startDaemon(`listenHttps: ["127.0.0.1:0"]\ntls: { cert: ${c.cert}, key: ${c.key} }\ntcp: { maxPerClient: 2, messageTimeout: 500ms }\n`, [own.address]);
    port = dd.daemon.httpsAddresses[0].port;
  });
  afterAll(async () => {
    await dd?.stop();
    await own?.close();
  });

  const session = async () => {
    const s = h2connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    s.on('error', () => undefined);
    const up = await new Promise<boolean>((resolve) => s.once('connect', () => resolve(true)).once('close', () => resolve(false)));
    return up ? s : null;
  };

  it('cuts a POST whose body never finishes after messageTimeout, and refuses connections over maxPerClient', async () => {
    const s = (await session())!;
    const stream = s.request({ ':method': 'POST', ':path': '/dns-query', 'content-type': 'application/dns-message' }, { endStream: false });
    stream.on('error', () => undefined);
    stream.write(Buffer.alloc(5)); // the start of a query, and then nothing
    const t0 = performance.now();
    const status = await new Promise<number>((resolve) => {
      stream.on('response', (h) => resolve(Number(h[':status'])));
      stream.on('close', () => resolve(0));
    });
    const took = performance.now() - t0;
    expect([408, 0]).toContain(status);
    expect(took).toBeGreaterThan(300);
    expect(took).toBeLessThan(5000);
    const second = await session();
    expect(second).not.toBeNull();
    expect(await session()).toBeNull();
    expect(dd.daemon.dohStats.refused).toBe(1);
    s!.destroy();
    second!.destroy();
  });
});

describe.skipIf(!present)('certificate problems', () => {
  it('stops start-up naming the file when the certificate cannot be read', async () => {
    await expect(startDaemon('listenTls: ["127.0.0.1:0"]\ntls: { cert: /nonexistent/cert.pem, key: /nonexistent/key.pem }\n', ['127.0.0.1:9'])).rejects.toThrow(
      /tls\.cert: cannot read \/nonexistent\/cert\.pem: ENOENT/,
    );
  });

  it('designates nothing by DDR when the certificate names no DNS name (clients could not verify it)', async () => {
    const own = await TestUpstream.start();
    const c = makeCert(mkdtempSync(join(tmpdir(), 'aifence-certs-')), 'ip-only', { ip: ['127.0.0.1'] });
    const dd = await startDaemon(`listenTls: ["127.0.0.1:0"]\ntls: { cert: ${c.cert}, key: ${c.key} }\n`, [own.address]);
    try {
      const r = await query(dd.port, '_dns.resolver.arpa', TYPES.SVCB);
      expect(r.packet.answers.filter((a) => a.type === TYPES.SVCB)).toHaveLength(0);
      expect(own.count('_dns.resolver.arpa')).toBe(1); // as without listeners: the lists decide (none here)
    } finally {
      await dd.stop();
      await own.close();
    }
  });
});
