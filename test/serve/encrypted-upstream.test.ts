// DNS over TLS and over HTTPS to the upstream, against Debian's unbound
// serving DoT (tls-port) and DoH (https-port) with a certificate the test
// makes: names resolve with every query encrypted, one TLS connection
// carries many queries, a certificate that does not match (wrong name,
// unknown CA, wrong pin) fails the server and is never worked around in
// clear, and an upstream restarted mid-stream is reconnected to.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UpstreamTls } from '../../src/shared/serving-config.js';
import { upstreamAddress } from '../../src/control/config/upstream-servers.js';
import { UpstreamPool } from '../../src/data/resolve/upstream.js';
import { TYPES, encodeQuery, query } from '../support/client.js';
import { type TestCert, makeCert } from '../support/certs.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { toolsPresent } from '../support/tools.js';
import { type Unbound, startUnbound } from '../support/unbound.js';

const present = toolsPresent(['unbound', 'openssl'], 'unbound openssl');
const NAME = 'dns.aifence.test';

let unbound: Unbound;
let cert: TestCert;
let pin: string;

/** What a pool made from these server strings answers for `name`, and the connection errors it reported. */
async function ask(servers: string[], tls: UpstreamTls, name: string): Promise<{ reply: Buffer | null; errors: string[]; pool: UpstreamPool }> {
  const errors: string[] = [];
  const pool = new UpstreamPool(servers.map((s, i) => upstreamAddress(`upstream.servers[${i}]`, s)), 2, tls, (m) => errors.push(m));
  const reply = await exchange(pool, name);
  return { reply, errors, pool };
}

function exchange(pool: UpstreamPool, name: string): Promise<Buffer | null> {
  const q = encodeQuery(name, TYPES.A);
  return new Promise((resolve) => pool.exchange({ question: q.subarray(12), rd: true, cd: false, dnssecOk: false }, false, (reply) => resolve(reply)));
}

const trusted = (): UpstreamTls => ({ ca: readFileSync(cert.cert, 'utf8'), caFile: cert.cert, pins: [] });

describe.skipIf(!present)('encrypted upstreams (unbound with tls-port and https-port)', () => {
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-certs-'));
    cert = makeCert(dir, 'unbound', { dns: [NAME], ip: ['127.0.0.1'] });
    pin = execFileSync('sh', ['-c', `openssl x509 -in ${cert.cert} -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`]).toString().trim();
    unbound = await startUnbound('example.test', { tls: { cert: cert.cert, key: cert.key } });
  });
  afterAll(async () => {
    await unbound?.stop();
  });

  describe.each([
    ['DoT', () => `tls://127.0.0.1:${unbound.tlsPort}#${NAME}`],
    ['DoH', () => `https://127.0.0.1:${unbound.httpsPort}/dns-query#${NAME}`],
  ])('%s through the daemon', (label, server) => {
    let d: TestDaemon;
    beforeAll(async () => {
      d = await startDaemon(`upstream: { servers: ["${server()}"], timeout: 2s, tls: { ca: ${cert.cert} } }\nlists: { local: { source: blocked.txt } }\n`, [], {
        files: { 'blocked.txt': 'blocked.example.test\n' },
      });
    });
    afterAll(() => d?.stop());

    it(`${label}: resolves allowed names through the encrypted upstream, many queries on one TLS connection`, async () => {
      for (let i = 0; i < 20; i++) {
        const r = await query(d.port, `n${i}.${label.toLowerCase()}.example.test`, TYPES.A);
        expect(r.rcode).toBe(0);
        expect(r.packet.answers[0]).toMatchObject({ address: '192.0.2.1' });
      }
      const upstream = d.daemon.upstream;
      expect(upstream.tlsHandshakes).toEqual({ full: 1, resumed: 0 });
      if (label === 'DoT') expect(upstream.stats.tcpConnections).toBe(1);
      else expect(upstream.stats.dohConnections).toBe(1);
      expect(upstream.openSockets.udp).toBe(0); // nothing went out in clear
      expect((await query(d.port, 'blocked.example.test', TYPES.A)).rcode).toBe(3);
    });

    it(`${label}: answers queries pipelined at once, matched out of order`, async () => {
      const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => query(d.port, `p${i}.example.test`, TYPES.A)));
      expect(rs.every((r) => r.rcode === 0 && r.packet.answers[0]?.address === '192.0.2.1')).toBe(true);
    });
  });

  it('verifies a server written by IP address against the IP in its certificate', async () => {
    const { reply, pool } = await ask([`tls://127.0.0.1:${unbound.tlsPort}`], trusted(), 'ip.example.test');
    expect(reply).not.toBeNull();
    pool.close();
  });

  it('rejects a certificate for another name, with an error that says so, and sends nothing in clear', async () => {
    const { reply, errors, pool } = await ask([`tls://127.0.0.1:${unbound.tlsPort}#wrong.example`], trusted(), 'mismatch.example.test');
    expect(reply).toBeNull();
    expect(errors.join('\n')).toMatch(/tls:\/\/127\.0\.0\.1:\d+: Hostname\/IP does not match certificate's altnames.*wrong\.example.*the certificate must carry the name wrong\.example/);
    expect(pool.openSockets.udp).toBe(0);
    pool.close();
  });

  it('rejects a certificate from a CA it does not trust', async () => {
    const { reply, errors, pool } = await ask([`https://127.0.0.1:${unbound.httpsPort}/dns-query#${NAME}`], { ca: null, caFile: null, pins: [] }, 'untrusted.example.test');
    expect(reply).toBeNull();
    expect(errors.join('\n')).toMatch(/self-signed certificate.*upstream\.tls\.ca/);
    pool.close();
  });

  it('checks SPKI pins: the right one passes, a wrong one fails', async () => {
    const right = await ask([`tls://127.0.0.1:${unbound.tlsPort}#${NAME}`], { ...trusted(), pins: [pin] }, 'pinned.example.test');
    expect(right.reply).not.toBeNull();
    right.pool.close();
    const wrong = await ask([`tls://127.0.0.1:${unbound.tlsPort}#${NAME}`], { ...trusted(), pins: [Buffer.alloc(32, 7).toString('base64')] }, 'pinned2.example.test');
    expect(wrong.reply).toBeNull();
    expect(wrong.errors.join('\n')).toMatch(/no public key in the certificate chain matches upstream\.tls\.pins/);
    wrong.pool.close();
  });

  it('fails over from a server that does not verify to the next one', async () => {
    const { reply, pool } = await ask([`tls://127.0.0.1:${unbound.tlsPort}#wrong.example`, `https://127.0.0.1:${unbound.httpsPort}/dns-query#${NAME}`], trusted(), 'failover.example.test');
    expect(reply).not.toBeNull();
    pool.close();
  });

  it('resumes the TLS session on the next connection (one full handshake)', async () => {
    const pool = new UpstreamPool([upstreamAddress('s', `tls://127.0.0.1:${unbound.tlsPort}#${NAME}`)], 2, trusted());
    expect(await exchange(pool, 'first.example.test')).not.toBeNull();
    await new Promise((r) => setTimeout(r, 50)); // TLS 1.3 tickets come after the handshake
    pool.close(); // every connection closed; the next query needs a new one
    expect(await exchange(pool, 'second.example.test')).not.toBeNull();
    expect(pool.stats.tcpConnections).toBe(2);
    expect(pool.tlsHandshakes).toEqual({ full: 1, resumed: 1 });
    pool.close();
  });

  it('reconnects when the upstream restarts mid-stream', async () => {
    const errors: string[] = [];
    const pool = new UpstreamPool([upstreamAddress('s', `tls://127.0.0.1:${unbound.tlsPort}#${NAME}`)], 2, trusted(), (m) => errors.push(m));
    expect(await exchange(pool, 'before.example.test')).not.toBeNull();
    const ports = { port: unbound.port, tlsPort: unbound.tlsPort, httpsPort: unbound.httpsPort };
    await unbound.stop();
    unbound = await startUnbound('example.test', { tls: { cert: cert.cert, key: cert.key }, ports });
    expect(await exchange(pool, 'after.example.test')).not.toBeNull();
    expect(pool.stats.tcpConnections).toBe(2);
    pool.close();
  });
});
