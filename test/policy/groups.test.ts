// Policy groups over the wire, with the real catalogue: the example
// config, clients told apart by source address (Linux answers for all of
// 127.0.0.0/8), an exception that lapses on an injected clock, CNAME
// cloaking, and the DoH canaries.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../src/control/catalogue/index.js';
import { TYPES, query } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

const DEFAULT = '127.0.0.1';
const EXTERNAL = '127.0.0.2';
const RESEARCH = '127.0.0.3';
const RESEARCH_SUBNET = '127.0.1.9';

const EXAMPLE = `
groups:
  default:                       # everyone not matched below
    block: [service:deepseek, tag:cn]
  external:
    clients: [127.0.0.2/32, "2001:db8:20::/48"]
    block: [tag:genai]
    allow: [service:copilot]
  research:
    clients: [127.0.0.3, 127.0.1.0/24]
    block: [tag:genai]
    allow:
      - { select: service:openai, until: 2027-03-31, reason: "ticket 4711" }
    answer: { ipv4: 10.0.0.80, ipv6: "fd00::80" }   # this group's block page
`;

const catalogue = loadCatalogue();
let upstream: TestUpstream;
let d: TestDaemon;
let now = Date.UTC(2026, 10, 23, 12, 0);

beforeAll(async () => {
  upstream = await TestUpstream.start();
  d = await startDaemon(EXAMPLE, [upstream.address], { catalogue, clock: () => now });
});
afterAll(async () => {
  await d.stop();
  await upstream.close();
});

/** What a client sees: 'blocked' (NXDOMAIN), 'sinkhole' (the group page) or the forwarded address. */
async function seen(from: string, name: string, type: number = TYPES.A): Promise<string> {
  const r = await query(d.port, name, type, { from });
  if (r.rcode === 3) return 'blocked';
  const address = r.packet.answers.find((a) => a.type === type)?.address;
  if (address === '10.0.0.80' || address === 'fd00::80') return 'sinkhole';
  return address ?? `rcode ${r.rcode}, no records`;
}

describe('groups over the wire', () => {
  it('gives each group its own verdict for the same name', async () => {
    // DeepSeek: blocked for everyone, with research's block page.
    expect(await seen(DEFAULT, 'chat.deepseek.com')).toBe('blocked');
    expect(await seen(EXTERNAL, 'chat.deepseek.com')).toBe('blocked');
    expect(await seen(RESEARCH, 'chat.deepseek.com')).toBe('sinkhole');
    expect(await seen(RESEARCH_SUBNET, 'chat.deepseek.com', TYPES.AAAA)).toBe('sinkhole');
    // ChatGPT: default allows it, external blocks it, research has an exception.
    expect(await seen(DEFAULT, 'chatgpt.com')).toBe('192.0.2.1');
    expect(await seen(EXTERNAL, 'chatgpt.com')).toBe('blocked');
    expect(await seen(RESEARCH, 'chatgpt.com')).toBe('192.0.2.1');
    // Copilot: external's allow beats its block; research blocks it.
    expect(await seen(EXTERNAL, 'copilot.microsoft.com')).toBe('192.0.2.1');
    expect(await seen(RESEARCH, 'copilot.microsoft.com')).toBe('sinkhole');
    // Shared infrastructure stays reachable for the strictest group.
    expect(await seen(EXTERNAL, 'www.microsoft.com')).toBe('192.0.2.1');
    expect(await seen(EXTERNAL, 'www.google.com')).toBe('192.0.2.1');
  });

  it('lapses the research exception at its date without a reload', async () => {
    expect(await seen(RESEARCH, 'api.openai.com')).toBe('192.0.2.1');
    now = Date.UTC(2027, 2, 31, 23, 59); // still 2027-03-31
    d.daemon.refreshPolicy();
    expect(await seen(RESEARCH, 'api.openai.com')).toBe('192.0.2.1');
    now = Date.UTC(2027, 3, 1, 0, 0, 1);
    d.daemon.refreshPolicy();
    expect(await seen(RESEARCH, 'api.openai.com')).toBe('sinkhole');
    expect(await seen(DEFAULT, 'api.openai.com')).toBe('192.0.2.1');
  });

  it('blocks a CNAME-cloaked answer for the group that blocks its target, from upstream and from cache', async () => {
    upstream.behave = (name) =>
      name.toLowerCase() === 'docs.cloaked.example'
        ? {
            kind: 'answer',
            records: [
              { name, type: TYPES.CNAME, class: 1, ttl: 300, domain: 'chatgpt.com' },
              { name: 'chatgpt.com', type: TYPES.A, class: 1, ttl: 300, address: '192.0.2.9' },
            ],
          }
        : { kind: 'answer' };
    try {
      expect(await seen(EXTERNAL, 'docs.cloaked.example')).toBe('blocked');
      expect(await seen(DEFAULT, 'docs.cloaked.example')).toBe('192.0.2.9'); // from cache
      expect(await seen(EXTERNAL, 'docs.cloaked.example')).toBe('blocked'); // from cache
      expect(upstream.count('docs.cloaked.example')).toBe(1);
    } finally {
      upstream.behave = () => ({ kind: 'answer' });
    }
  });
});

describe('DoH canaries', () => {
  it('answers use-application-dns.net NXDOMAIN and _dns.resolver.arpa NODATA when a group blocks tag:doh-bypass, even with a block page', async () => {
    const doh = await startDaemon(
      'blocking: { answer: { ipv4: 10.0.0.80 } }\ngroups:\n  default:\n    block: [tag:doh-bypass]\n',
      [upstream.address],
      { catalogue },
    );
    try {
      const canary = await query(doh.port, 'use-application-dns.net');
      expect(canary.rcode).toBe(3);
      const ddr = await query(doh.port, '_dns.resolver.arpa', TYPES.SVCB);
      expect(ddr.rcode).toBe(0);
      expect(ddr.packet.answers).toHaveLength(0);
      expect(upstream.count('_dns.resolver.arpa')).toBe(0);
      expect((await query(doh.port, 'mask.icloud.com')).rcode).toBe(3);
      // The resolvers' names get the group's block page; icloud.com itself is untouched.
      expect((await query(doh.port, 'dns.google')).packet.answers[0].address).toBe('10.0.0.80');
      expect((await query(doh.port, 'www.icloud.com')).packet.answers[0].address).toBe('192.0.2.1');
    } finally {
      await doh.stop();
    }
  });

  it('leaves them alone when no group blocks tag:doh-bypass', async () => {
    expect(await seen(DEFAULT, 'use-application-dns.net')).toBe('192.0.2.1');
  });
});
