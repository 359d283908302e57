// The HTTPS block page's certificates under a flood of server names: the
// daemon as a process, 10,000 TLS handshakes each naming another blocked
// name. Its certificate cache stays at its bound, minting stays within its
// rate, and its memory (RSS from /proc) levels off; the names minted verify
// against the CA, and a name that is not blocked never gets a CA certificate.
// The cache's eviction itself is pinned in a unit test beside certs.ts.

import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCa } from '../support/certs.js';
import { type DaemonProcess, spawnDaemon } from '../support/process.js';
import { toolsPresent } from '../support/tools.js';
import { TestUpstream } from '../support/upstream.js';

const present = toolsPresent(['openssl'], 'openssl');
const NAMES = 10_000;
const CONCURRENCY = 32;

describe.runIf(present)('10,000 server names at the HTTPS block page', () => {
  let upstream: TestUpstream;
  let d: DaemonProcess;
  let ca: { cert: string; key: string };
  let port: number;

  beforeAll(async () => {
    upstream = await TestUpstream.start();
    ca = makeCa(mkdtempSync(join(tmpdir(), 'aifence-ca-')));
    d = await spawnDaemon(`upstream: { servers: ["${upstream.address}"] }
blocking: { mode: page }
blockPage:
  https: ["127.0.0.1:0"]
  answer: { ipv4: 127.0.0.1 }
  ca: { cert: ${ca.cert}, key: ${ca.key} }
groups:
  default: { block: [service:deepseek] }
`);
    port = Number(/"msg":"block page serving"/.test(d.output()) ? /"https":\["127\.0\.0\.1:(\d+)"\]/.exec(d.output())![1] : NaN);
  }, 60_000);

  afterAll(async () => {
    d?.stop();
    await upstream?.close();
  });

  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${d.adminPort}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  };

  it('keeps the certificate cache and RSS bounded, minting within its rate', async () => {
    const started = Date.now();
    const rssBefore = d.rssKb();
    const first = await handshake(port, 'n0.chat.deepseek.com');
    expect(first.subject).toBe('CN=n0.chat.deepseek.com');
    expect(new X509Certificate(first.raw).verify(new X509Certificate(readFileSync(ca.cert)).publicKey)).toBe(true);
    // A name nobody blocks gets the default certificate (the page's address), not one for that name.
    expect((await handshake(port, 'www.example.org')).subject).not.toContain('example.org');

    const rssAt: number[] = [];
    let next = 1;
    let failed = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < NAMES) {
          const i = next++;
          if (i === NAMES / 2) rssAt.push(d.rssKb());
          await handshake(port, `n${i}.chat.deepseek.com`, false).catch(() => failed++);
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const rssAfter = d.rssKb();
    const cached = await metric('aifence_blockpage_certificates');
    const minted = await metric('aifence_blockpage_certificates_minted_total');
    console.log(`10,000 names in ${seconds.toFixed(1)} s: ${minted} minted, ${cached} cached, RSS ${(rssBefore / 1024).toFixed(0)} -> ${(rssAt[0] / 1024).toFixed(0)} (halfway) -> ${(rssAfter / 1024).toFixed(0)} MiB, ${failed} handshakes failed`);
    expect(failed).toBe(0);
    expect(cached).toBeLessThanOrEqual(1000);
    expect(minted).toBeGreaterThan(0);
    // 100 at once, then 20 a second: a flood of names costs bounded signing.
    expect(minted).toBeLessThanOrEqual(100 + 20 * seconds + 10);
    // What 1,000 cached contexts and the handshakes' garbage cost, at most; and no growth in the second half.
    expect(rssAfter - rssBefore).toBeLessThan(80 * 1024);
    expect(rssAfter - rssAt[0]).toBeLessThan(30 * 1024);
  }, 300_000);
});

/** One TLS handshake naming `servername`; resolves with the certificate presented (when `read`). */
function handshake(port: number, servername: string, read = true): Promise<{ subject: string; raw: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const cert = read ? socket.getPeerX509Certificate() : undefined;
      socket.destroy();
      resolve({ subject: cert?.subject.replace(/\n/g, ',') ?? '', raw: cert?.raw ?? Buffer.alloc(0) });
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('handshake timeout')));
    socket.on('error', reject);
  });
}
