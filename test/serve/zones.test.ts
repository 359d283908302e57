// Conditional forwarding (upstream.zones) over the wire, against real
// upstream servers on loopback: names in a zone (Active Directory's
// corp.example, a reverse zone) go to the zone's servers, everything else
// to the default upstream; the longest zone wins; a zone fails over as
// upstream.servers do; its answers are not blocked by their CNAME targets
// unless it asks; a reload that adds a zone does not serve the old routing's
// cached answers; a zone's server may speak DoT (unbound).

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromText } from '../../src/control/config/load.js';
import { TYPES, query } from '../support/client.js';
import { makeCert } from '../support/certs.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { toolsPresent } from '../support/tools.js';
import { type Unbound, startUnbound } from '../support/unbound.js';
import { TestUpstream } from '../support/upstream.js';

let publicDns: TestUpstream;
let dc: TestUpstream;
let labDc: TestUpstream;
let silent: TestUpstream;
let d: TestDaemon;

const address = async (name: string, type: number = TYPES.A) => {
  const r = await query(d.port, name, type);
  return r.rcode === 0 ? (r.packet.answers.find((a) => a.type === type) as { address?: string; domain?: string } | undefined) : { rcode: r.rcode };
};

beforeAll(async () => {
  [publicDns, dc, labDc, silent] = await Promise.all([TestUpstream.start(), TestUpstream.start(), TestUpstream.start(), TestUpstream.start()]);
  publicDns.behave = () => ({ kind: 'answer', address: '198.51.100.1' });
  dc.behave = (name, type) =>
    type === 12
      ? { kind: 'answer', records: [{ name, type: 12, class: 1, ttl: 300, domain: 'dc1.corp.example' }] }
      : name === 'cloaked.corp.example'
        ? { kind: 'answer', records: [{ name, type: TYPES.CNAME, class: 1, ttl: 300, domain: 'chat.banned.test' }, { name: 'chat.banned.test', type: TYPES.A, class: 1, ttl: 300, address: '10.0.0.99' }] }
        : { kind: 'answer', address: '10.0.0.10' };
  labDc.behave = () => ({ kind: 'answer', address: '10.30.0.10' });
  silent.behave = () => ({ kind: 'silent' });
  d = await startDaemon(
    `
upstream:
  servers: ["${publicDns.address}"]
  timeout: 1s
  zones:
    corp.example: ["${dc.address}"]
    lab.corp.example: ["${silent.address}", "${labDc.address}"]
    10.in-addr.arpa: ["${dc.address}"]
    inspected.example: { servers: ["${dc.address}"], cnameInspection: true }
lists: { ai: { source: ai.txt } }
groups: { default: { block: [list:ai] } }
`,
    [],
    { files: { 'ai.txt': 'chat.banned.test\n' } },
  );
});
afterAll(async () => {
  await d?.stop();
  await Promise.all([publicDns, dc, labDc, silent].map((u) => u?.close()));
});

describe('upstream.zones', () => {
  it("sends corp.example names to the zone's server and every other name to the default upstream", async () => {
    expect(await address('dc1.corp.example')).toMatchObject({ address: '10.0.0.10' });
    expect(await address('CORP.Example')).toMatchObject({ address: '10.0.0.10' });
    expect(await address('www.example.org')).toMatchObject({ address: '198.51.100.1' });
    expect(await address('notcorp.example')).toMatchObject({ address: '198.51.100.1' }); // a suffix of bytes, not of labels
    expect(dc.count('dc1.corp.example')).toBe(1);
    expect(publicDns.count('dc1.corp.example')).toBe(0);
    expect(dc.count('www.example.org')).toBe(0);
  });

  it('sends reverse lookups in 10.in-addr.arpa to the zone', async () => {
    expect(await address('10.0.0.10.in-addr.arpa', 12)).toMatchObject({ domain: 'dc1.corp.example' });
    expect(dc.count('10.0.0.10.in-addr.arpa')).toBe(1);
    expect(publicDns.count('10.0.0.10.in-addr.arpa')).toBe(0);
  });

  it('takes the longest zone, failing over within it when its first server is silent', async () => {
    expect(await address('ws7.lab.corp.example')).toMatchObject({ address: '10.30.0.10' });
    expect(silent.count('ws7.lab.corp.example')).toBe(1);
    expect(labDc.count('ws7.lab.corp.example')).toBe(1);
    expect(dc.count('ws7.lab.corp.example')).toBe(0);
  });

  it("does not block a zone's answer for its CNAME target, unless the zone has cnameInspection", async () => {
    expect(await address('cloaked.corp.example')).toMatchObject({ address: '10.0.0.99' });
    expect(await address('cloaked.corp.example')).toMatchObject({ address: '10.0.0.99' }); // from the cache too
    dc.behave = ((inner) => (name: string, type: number) => (name === 'cloaked.inspected.example' ? inner('cloaked.corp.example', type) : inner(name, type)))(dc.behave);
    expect(await address('cloaked.inspected.example')).toEqual({ rcode: 3 });
    expect(await address('chat.banned.test')).toEqual({ rcode: 3 }); // the target asked for itself stays blocked
  });

  it('keeps a zone out of answers cached before a reload added it', async () => {
    expect(await address('new.example')).toMatchObject({ address: '198.51.100.1' });
    expect(await address('new.example')).toMatchObject({ address: '198.51.100.1' }); // cached
    const file = join(d.dir, 'aifence.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('  zones:\n', `  zones:\n    new.example: ["${labDc.address}"]\n`));
    expect(await d.daemon.reload()).toMatchObject({ ok: true });
    expect(await address('new.example')).toMatchObject({ address: '10.30.0.10' });
    expect(labDc.count('new.example')).toBe(1);
  });

  it('refuses a zone without servers or with a bad name, naming the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-zones-'));
    const parse = (zones: string) => () => configFromText(`upstream: { servers: ["127.0.0.1:53"], zones: ${zones} }\n`, join(dir, 'aifence.yaml'));
    expect(parse('{ corp.example: [] }')).toThrow(/upstream\.zones\.corp\.example: \[\] is empty; name at least one server/);
    expect(parse('{ "bad..zone": ["10.0.0.1"] }')).toThrow(/upstream\.zones\.bad\.\.zone: "bad\.\.zone" is not a zone name/);
    expect(parse('{ corp.example: ["dc1.corp.example"] }')).toThrow(/upstream\.zones\.corp\.example\[0\]: "dc1\.corp\.example" is not an IP address/);
    expect(parse('{ corp.example: { servers: ["10.0.0.1"], inspect: true } }')).toThrow(/upstream\.zones\.corp\.example\.inspect: true is under an unknown key \(valid: servers, cnameInspection\)/);
    expect(parse('{ corp.example: ["10.0.0.1"], "CORP.example.": ["10.0.0.2"] }')).toThrow(/is the same zone as "corp\.example"/);
  });
});

const tls = toolsPresent(['unbound', 'openssl'], 'unbound openssl');

describe.skipIf(!tls)('a zone over DNS over TLS', () => {
  let unbound: Unbound;
  let z: TestDaemon;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-zone-tls-'));
    const cert = makeCert(dir, 'unbound', { dns: ['dc.corp.test'], ip: ['127.0.0.1'] });
    unbound = await startUnbound('corp.test', { tls: { cert: cert.cert, key: cert.key } });
    z = await startDaemon(
      `upstream:\n  servers: ["${publicDns.address}"]\n  timeout: 2s\n  tls: { ca: ${cert.cert} }\n  zones: { corp.test: ["tls://127.0.0.1:${unbound.tlsPort}#dc.corp.test"] }\n`,
      [],
    );
  });
  afterAll(async () => {
    await z?.stop();
    await unbound?.stop();
  });

  it('resolves the zone through its DoT server and the rest through the default upstream', async () => {
    const before = publicDns.count('host.corp.test');
    const r = await query(z.port, 'host.corp.test');
    expect(r.packet.answers[0]).toMatchObject({ address: '192.0.2.1' }); // unbound's local zone
    expect(publicDns.count('host.corp.test')).toBe(before);
    expect((await query(z.port, 'www.example.org')).packet.answers[0]).toMatchObject({ address: '198.51.100.1' });
    expect(z.daemon.planeStats().upstream.tcpConnections).toBe(1);
  });
});
