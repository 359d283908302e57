// DoH clients that misbehave at the HTTP layer get a clear answer and cost
// a bounded amount: over HTTP/1.1 an oversized header is answered 431 and an
// oversized ?dns= 414 (not a bare close), in clear (listenHttp) and over TLS
// (listenHttps with ALPN http/1.1); over HTTP/2 a client that opens streams
// and cancels them at once (rapid reset, CVE-2023-44487), from a process of
// its own, drives no more upstream queries than its stream limit and is cut
// off with GOAWAY ENHANCE_YOUR_CALM.

import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TYPES, encodeQuery } from '../support/client.js';
import { makeCert } from '../support/certs.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { toolsPresent } from '../support/tools.js';
import { TestUpstream } from '../support/upstream.js';

const present = toolsPresent(['openssl'], 'openssl');

let upstream: TestUpstream;
let d: TestDaemon;
let https: number;
let http: number;

beforeAll(async () => {
  if (!present) return;
  upstream = await TestUpstream.start();
  const c = makeCert(mkdtempSync(join(tmpdir(), 'aifence-certs-')), 'server', { dns: ['dns.aifence.test'] });
  // Upstream answers for the rapid-reset names take a while, as misses do: the cancelled streams' queries are still out.
  upstream.behave = (name) => (name.startsWith('rr-') ? { kind: 'delay', ms: 300 } : { kind: 'answer' });
  d = await startDaemon(`listenHttps: ["127.0.0.1:0"]\nlistenHttp: ["127.0.0.1:0"]\ntls: { cert: ${c.cert}, key: ${c.key} }\ndoh: { maxStreams: 20 }\n`, [upstream.address]);
  https = d.daemon.httpsAddresses[0].port;
  http = d.daemon.httpAddresses[0].port;
});
afterAll(async () => {
  await d?.stop();
  await upstream?.close();
});

/**
 * Sends `request` as raw bytes over HTTP/1.1 (in clear, or TLS with ALPN
 * http/1.1), then `then` once a first response came; what came back before
 * the server closed, as text.
 */
function raw(tls: boolean, request: string, then?: string): Promise<string> {
  return new Promise((resolve) => {
    const sock = tls ? tlsConnect({ host: '127.0.0.1', port: https, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }) : tcpConnect({ host: '127.0.0.1', port: http });
    let got = '';
    sock.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (then !== undefined) sock.write(then);
      then = undefined;
    });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve(got));
    sock.once(tls ? 'secureConnect' : 'connect', () => sock.write(request));
    setTimeout(() => sock.destroy(), 5000);
  });
}

const dns = encodeQuery('www.example.org', TYPES.A).toString('base64url');

describe.skipIf(!present)('DoH over HTTP/1.1: oversized requests get their status', () => {
  for (const tls of [false, true]) {
    const via = tls ? 'over TLS' : 'in clear';
    it(`a 64 KB header: 431 (${via})`, async () => {
      const reply = await raw(tls, `GET /dns-query?dns=${dns} HTTP/1.1\r\nHost: dns.aifence.test\r\nX-Padding: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
      expect(reply).toMatch(/^HTTP\/1\.1 431 /);
      expect(reply.toLowerCase()).toContain('connection: close');
    });

    it(`many headers adding up to 64 KB: 431 (${via})`, async () => {
      const headers = Array.from({ length: 60 }, (_, i) => `X-H${i}: ${'b'.repeat(1100)}\r\n`).join('');
      expect(await raw(tls, `GET /dns-query?dns=${dns} HTTP/1.1\r\nHost: dns.aifence.test\r\n${headers}\r\n`)).toMatch(/^HTTP\/1\.1 431 /);
    });

    it(`a 100 KB ?dns=: 414 (${via})`, async () => {
      expect(await raw(tls, `GET /dns-query?dns=${'A'.repeat(100 * 1024)} HTTP/1.1\r\nHost: dns.aifence.test\r\n\r\n`)).toMatch(/^HTTP\/1\.1 414 /);
    });

    it(`a 20 KB ?dns= on a keep-alive connection after a good request: 200, then 414 (${via})`, async () => {
      const good = `GET /dns-query?dns=${dns} HTTP/1.1\r\nHost: dns.aifence.test\r\n\r\n`;
      const reply = await raw(tls, good, `GET /dns-query?dns=${'A'.repeat(20 * 1024)} HTTP/1.1\r\nHost: dns.aifence.test\r\n\r\n`);
      expect(reply).toMatch(/^HTTP\/1\.1 200 /);
      expect(reply).toMatch(/\r\n\r\n[\s\S]*HTTP\/1\.1 414 /);
    });

    it(`a good request is still answered 200 (${via})`, async () => {
      expect(await raw(tls, `GET /dns-query?dns=${dns} HTTP/1.1\r\nHost: dns.aifence.test\r\nConnection: close\r\n\r\n`)).toMatch(/^HTTP\/1\.1 200 /);
    });
  }
});

/** Runs the rapid-reset client (test/support/rapid-reset.mjs) in its own process against the HTTPS listener. */
function rapidReset(total: number, batch: number, prefix: string, mode: 'apart' | 'together'): Promise<{ sent: number; goaway: number | null; closed: boolean }> {
  // apart: HTTP/2 over TLS (listenHttps); together: HTTP/2 in clear (listenHttp), where the client's relay can read the frames.
  const url = mode === 'apart' ? `https://127.0.0.1:${https}` : `http://127.0.0.1:${http}`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['test/support/rapid-reset.mjs', url, String(total), String(batch), prefix, mode], { timeout: 30_000 }, (err, stdout) => {
      if (err) return reject(err);
      resolve(JSON.parse(stdout.trim().split('\n').pop()!));
    });
  });
}

const ENHANCE_YOUR_CALM = 11;

describe.skipIf(!present)('DoH over HTTP/2: rapid reset', () => {
  it('forwards no more upstream than the stream limit, and ends the connection with ENHANCE_YOUR_CALM', async () => {
    const before = upstream.received.length;
    const result = await rapidReset(5000, 20, 'rr-a', 'apart');
    await new Promise((r) => setTimeout(r, 500));
    const forwarded = upstream.received.slice(before).filter((q) => q.name.startsWith('rr-a-')).length;
    console.log(`rapid reset: ${result.sent} streams opened and cancelled, ${forwarded} queries upstream, GOAWAY ${result.goaway}, closed ${result.closed}`);
    expect(result.goaway).toBe(ENHANCE_YOUR_CALM);
    expect(forwarded).toBeLessThanOrEqual(2 * 20); // doh.maxStreams, with what was in flight when it was cut off
    expect(result.sent).toBeLessThan(2500); // of 5,000: cut off, not worn out
    // The listener still serves everyone else, over HTTP/2 and HTTP/1.1.
    expect(await raw(true, `GET /dns-query?dns=${dns} HTTP/1.1\r\nHost: dns.aifence.test\r\nConnection: close\r\n\r\n`)).toMatch(/^HTTP\/1\.1 200 /);
  }, 40_000);

  it('forwards nothing of streams whose reset comes in the same read as their HEADERS (h2c)', async () => {
    const before = upstream.received.length;
    const result = await rapidReset(5000, 20, 'rr-b', 'together');
    await new Promise((r) => setTimeout(r, 500));
    const forwarded = upstream.received.slice(before).filter((q) => q.name.startsWith('rr-b-')).length;
    console.log(`rapid reset, resets in the same read: ${result.sent} streams opened and cancelled, ${forwarded} queries upstream, GOAWAY ${result.goaway}`);
    expect(result.goaway).toBe(ENHANCE_YOUR_CALM);
    expect(forwarded).toBe(0);
    expect(result.sent).toBeLessThan(2500); // of 5,000: cut off, not worn out (under load node refuses some streams itself, unseen, before the cut)
  }, 40_000);
});
