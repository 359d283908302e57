// The DNS Flag Day EDNS compliance battery (ISC's ednscomp tests, as dig
// runs them) against aifence and against Debian's unbound on the same
// names: aifence must answer as unbound does on every path (forwarded,
// cached, blocked) and transport (UDP, TCP, DoT, DoH), in front of unbound
// and in front of an upstream that sends no OPT at all.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCert } from '../support/certs.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { RawUpstream, aRecord, reply } from '../support/raw-upstream.js';
import { toolsPresent } from '../support/tools.js';
import { type Unbound, startUnbound } from '../support/unbound.js';

const ready = toolsPresent(['dig', 'unbound', 'openssl'], 'bind9-dnsutils unbound openssl');

interface Seen {
  status: string;
  /** null: no OPT in the answer. */
  ednsVersion: number | null;
  doFlag: boolean;
  /** Unknown EDNS flags echoed (dig's MBZ). */
  mbz: boolean;
  /** Option 100 echoed. */
  opt100: boolean;
}

const run = promisify(execFile);

/** dig as a separate process (the daemon runs in this test's event loop, so never a synchronous spawn). */
async function dig(port: number, name: string, options: string[]): Promise<Seen> {
  const { stdout: out, stderr } = await run('dig', [`@127.0.0.1`, '-p', String(port), name, 'A', '+norec', '+time=3', '+tries=1', ...options]).catch((e) => e);
  const edns = /; EDNS: version: (\d+), flags:([^;]*);/.exec(out);
  return {
    status: /status: (\w+)/.exec(out)?.[1] ?? `no answer: ${out}${stderr}`,
    ednsVersion: edns ? Number(edns[1]) : null,
    doFlag: edns ? /\bdo\b/.test(edns[2]) : false,
    mbz: /MBZ/.test(out),
    opt100: /OPT=100/.test(out),
  };
}

// The battery: name, dig options, and what unbound answers (the table).
const BATTERY: [string, string[], Partial<Seen>][] = [
  ['plain', ['+noedns'], { status: 'NOERROR', ednsVersion: null }],
  ['edns', ['+edns=0'], { status: 'NOERROR', ednsVersion: 0 }],
  ['edns1', ['+edns=1', '+noednsneg'], { status: 'BADVERS', ednsVersion: 0 }],
  ['ednsopt', ['+ednsopt=100'], { status: 'NOERROR', ednsVersion: 0, opt100: false }],
  ['edns1opt', ['+edns=1', '+noednsneg', '+ednsopt=100'], { status: 'BADVERS', ednsVersion: 0, opt100: false }],
  ['ednsflags', ['+ednsflags=0x80'], { status: 'NOERROR', ednsVersion: 0, mbz: false }],
  ['dnssec', ['+dnssec'], { status: 'NOERROR', ednsVersion: 0, doFlag: true }],
  ['ednstcp', ['+tcp'], { status: 'NOERROR', ednsVersion: 0 }],
  ['optlist', ['+nsid', '+subnet=192.0.2.0/24', '+expire', '+cookie'], { status: 'NOERROR', ednsVersion: 0 }],
];

describe.runIf(ready)('EDNS compliance battery (ednscomp), aifence beside unbound', () => {
  let unbound: Unbound;
  let raw: RawUpstream;
  let viaUnbound: TestDaemon;
  let viaRaw: TestDaemon;

  beforeAll(async () => {
    unbound = await startUnbound('example.test');
    raw = await RawUpstream.start();
    raw.respond = (q) => reply(q, { answers: [aRecord('192.0.2.1')] }); // never an OPT
    const lists = { files: { 'blocked.txt': 'blocked.example.test\n' } };
    // DoT and DoH listeners too: the battery must hold on every transport.
    const cert = makeCert(mkdtempSync(join(tmpdir(), 'aifence-conformance-')), 'server', { dns: ['dns.example.test'], ip: ['127.0.0.1'] });
    const encrypted = `listenTls: ["127.0.0.1:0"]\nlistenHttps: ["127.0.0.1:0"]\ntls: { cert: ${cert.cert}, key: ${cert.key} }\n`;
    viaUnbound = await startDaemon(`${encrypted}lists:\n  local: { source: blocked.txt }\n`, [unbound.address], lists);
    viaRaw = await startDaemon('lists:\n  local: { source: blocked.txt }\n', [raw.address], lists);
  });
  afterAll(async () => {
    await viaUnbound?.stop();
    await viaRaw?.stop();
    await raw?.close();
    await unbound?.stop();
  });

  for (const [test, options, expected] of BATTERY) {
    it(`${test} (${options.join(' ')}): unbound's answer, forwarded, cached and blocked, over UDP, TCP, DoT and DoH, in front of unbound and of an upstream without OPT`, async () => {
      const name = `${test}.example.test`;
      const reference = await dig(unbound.port, name, options);
      expect(reference).toMatchObject(expected);
      for (const [via, d] of [['unbound', viaUnbound], ['no-OPT upstream', viaRaw]] as const) {
        expect(await dig(d.port, name, options), `forwarded via ${via}`).toEqual(reference);
        expect(await dig(d.port, name, options), `cached via ${via}`).toEqual(reference);
        const blocked = await dig(d.port, 'blocked.example.test', options);
        expect(blocked, `blocked via ${via}`).toEqual({ ...reference, status: reference.status === 'BADVERS' ? 'BADVERS' : 'NXDOMAIN' });
      }
      // The same answers over DoT and DoH (dig +tls, +https), cached and blocked.
      const transports: [string, number, string][] = [
        ['DoT', viaUnbound.daemon.tlsAddresses[0].port, '+tls'],
        ['DoH', viaUnbound.daemon.httpsAddresses[0].port, '+https'],
      ];
      for (const [transport, port, flag] of transports) {
        const over = options.filter((o) => o !== '+tcp').concat(flag);
        expect(await dig(port, name, over), `cached over ${transport}`).toEqual(reference);
        expect(await dig(port, 'blocked.example.test', over), `blocked over ${transport}`).toEqual({ ...reference, status: reference.status === 'BADVERS' ? 'BADVERS' : 'NXDOMAIN' });
      }
    });
  }
});
