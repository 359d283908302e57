// Devices over encrypted DNS: a phone or laptop that uses aifence over DoH
// (`/dns-query/alice-phone`) or DoT (SNI `alice-phone.dns.aifence.test`)
// names itself, and the group that lists it (`devices:`) decides, whatever
// its address; plain `/dns-query` and unknown ids keep the address's group.
// Real clients: dig +https=/dns-query/ID and +http-plain=/dns-query/ID,
// kdig +tls-hostname=ID.NAME verifying a wildcard certificate. The device
// travels with the query into the query log, also through worker threads.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCatalogue } from '../../src/control/catalogue/index.js';
import { TYPES, decode, encodeQuery } from '../support/client.js';
import { type TestCert, makeCert } from '../support/certs.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { toolsPresent } from '../support/tools.js';
import { TestUpstream } from '../support/upstream.js';

const present = toolsPresent(['dig', 'kdig', 'openssl'], 'bind9-dnsutils knot-dnsutils openssl');
const catalogue = loadCatalogue();
/** Blocked for the `phones` group (tag:genai) only. */
const PHONES_ONLY = 'chatgpt.com';
/** Blocked for the `office` group (the address's) only. */
const OFFICE_ONLY = 'games.example';

const config = (cert: TestCert, log: string, workers = 1) => `
workers: ${workers}
listenTls: ["127.0.0.1:0"]
listenHttps: ["127.0.0.1:0"]
listenHttp: ["127.0.0.1:0"]
tls: { cert: ${cert.cert}, key: ${cert.key} }
doh: { trustedProxies: ["127.0.0.2"] }
lists:
  games: { source: games.txt }
groups:
  default: {}
  office:
    clients: [127.0.0.1]
    block: [list:games]
  phones:
    devices: [alice-phone]
    block: [tag:genai]
queryLog: { mode: all, path: ${log} }
`;

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => execFile(cmd, args, { timeout: 15_000 }, (_err, stdout) => resolve(stdout)));
}
const statusOf = (out: string) => /status: ([A-Z]+)/.exec(out)?.[1];

interface Line {
  client: string;
  device?: string;
  group?: string;
  name?: string;
  transport?: string;
  verdict: string;
}
const lines = (file: string): Line[] => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);

async function logged(file: string, name: string, n = 1): Promise<Line[]> {
  for (let i = 0; i < 100; i++) {
    let got: Line[] = [];
    try {
      got = lines(file).filter((l) => l.name === name);
    } catch {
      // not written yet
    }
    if (got.length >= n) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} not logged ${n} times`);
}

describe.skipIf(!present)('devices over encrypted DNS', () => {
  let upstream: TestUpstream;
  let cert: TestCert;
  let dir: string;

  beforeAll(async () => {
    upstream = await TestUpstream.start();
    dir = mkdtempSync(join(tmpdir(), 'aifence-devices-'));
    cert = makeCert(dir, 'server', { dns: ['dns.aifence.test', '*.dns.aifence.test'], ip: ['127.0.0.1'] });
  });
  afterAll(async () => {
    await upstream?.close();
  });

  describe.each([1, 2])('workers: %i', (workers) => {
    let d: TestDaemon;
    let log: string;
    let ports: { dot: number; https: number; http: number };
    beforeAll(async () => {
      log = join(dir, `queries-${workers}.jsonl`);
      d = await startDaemon(config(cert, log, workers), [upstream.address], { catalogue, files: { 'games.txt': `${OFFICE_ONLY}\n` } });
      ports = { dot: d.daemon.tlsAddresses[0].port, https: d.daemon.httpsAddresses[0].port, http: d.daemon.httpAddresses[0].port };
    });
    afterAll(() => d?.stop());

    const dig = (args: string[], name: string) => run('dig', ['@127.0.0.1', '+tries=1', '+time=5', ...args, name, 'A']);
    const kdig = (host: string, name: string) => run('kdig', ['@127.0.0.1', '-p', String(ports.dot), '+tls', `+tls-ca=${cert.cert}`, `+tls-hostname=${host}`, '+retry=0', '+timeout=5', name, 'A']);

    it('DoH /dns-query/alice-phone puts the device in the group that lists it; plain /dns-query and an unknown id keep the address\'s group', async () => {
      const https = ['-p', String(ports.https)];
      const unique = (tag: string) => `${tag}-w${workers}.${PHONES_ONLY}`;
      expect(statusOf(await dig([...https, '+https=/dns-query/alice-phone'], unique('doh-device')))).toBe('NXDOMAIN');
      expect(statusOf(await dig([...https, '+https'], unique('doh-plain')))).toBe('NOERROR');
      expect(statusOf(await dig([...https, '+https=/dns-query/someone-else'], unique('doh-unknown')))).toBe('NOERROR');
      expect(statusOf(await dig([...https, '+https-get=/dns-query/Alice-Phone'], unique('doh-get')))).toBe('NXDOMAIN');
      // The device's group decides alone: the address's group's blocks do not apply to it.
      expect(statusOf(await dig([...https, '+https=/dns-query/alice-phone'], OFFICE_ONLY))).toBe('NOERROR');
      expect(statusOf(await dig([...https, '+https'], OFFICE_ONLY))).toBe('NXDOMAIN');
      // DoH in clear behind a proxy: the same.
      expect(statusOf(await dig(['-p', String(ports.http), '+http-plain=/dns-query/alice-phone'], unique('plain-device')))).toBe('NXDOMAIN');
      expect(statusOf(await dig(['-p', String(ports.http), '+http-plain'], unique('plain-none')))).toBe('NOERROR');
      const got = await Promise.all(['doh-device', 'doh-plain', 'doh-unknown', 'doh-get', 'plain-device', 'plain-none'].map(async (t) => (await logged(log, unique(t)))[0]));
      expect(got.map((l) => [l.device, l.group, l.verdict, l.transport])).toEqual([
        ['alice-phone', 'phones', 'blocked', 'doh'],
        [undefined, 'office', 'allowed', 'doh'],
        ['someone-else', 'office', 'allowed', 'doh'],
        ['alice-phone', 'phones', 'blocked', 'doh'],
        ['alice-phone', 'phones', 'blocked', 'doh'],
        [undefined, 'office', 'allowed', 'doh'],
      ]);
    });

    it('DoT with SNI alice-phone.dns.aifence.test (a wildcard certificate, verified by kdig) selects the device; the resolver\'s own name does not', async () => {
      const name = (tag: string) => `${tag}-w${workers}.${PHONES_ONLY}`;
      expect(statusOf(await kdig('alice-phone.dns.aifence.test', name('dot-device')))).toBe('NXDOMAIN');
      expect(statusOf(await kdig('dns.aifence.test', name('dot-plain')))).toBe('NOERROR');
      expect(statusOf(await kdig('nobody.dns.aifence.test', name('dot-unknown')))).toBe('NOERROR');
      const got = await Promise.all(['dot-device', 'dot-plain', 'dot-unknown'].map(async (t) => (await logged(log, name(t)))[0]));
      expect(got.map((l) => [l.device, l.group, l.transport])).toEqual([
        ['alice-phone', 'phones', 'dot'],
        [undefined, 'office', 'dot'],
        ['nobody', 'office', 'dot'],
      ]);
    });

    it('a device id names, it does not open the door: a client outside access is REFUSED whatever device it gives', async () => {
      const rcode = (path: string, forwardedFor: string) =>
        new Promise<number>((resolve, reject) => {
          const body = encodeQuery(`refused-w${workers}.example.org`, TYPES.A, { id: 0 });
          const headers = { 'content-type': 'application/dns-message', 'content-length': String(body.length), 'x-forwarded-for': forwardedFor };
          const req = httpRequest({ host: '127.0.0.1', port: ports.http, localAddress: '127.0.0.2', method: 'POST', path, headers, agent: false }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => (res.statusCode === 200 ? resolve(decode(Buffer.concat(chunks)).rcode) : reject(new Error(`HTTP ${res.statusCode}`))));
          });
          req.on('error', reject);
          req.end(body);
        });
      expect(await rcode('/dns-query/alice-phone', '203.0.113.9')).toBe(5);
      expect(await rcode('/dns-query/alice-phone', '10.1.2.3')).toBe(0);
    });

    it('a path that is not a device id is 404, saying what a device id is', async () => {
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: ports.http, method: 'GET', path: '/dns-query/alice_phone?dns=AAABAAABAAAAAAAAB2V4YW1wbGUDb3JnAAABAAE', agent: false }, (r) => {
          let body = '';
          r.on('data', (c) => (body += c));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(res.status).toBe(404);
      expect(res.body).toContain('/dns-query/DEVICE (DEVICE: 1 to 63 of a-z, 0-9 and -)');
    });
  });
});
