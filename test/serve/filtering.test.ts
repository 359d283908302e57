// The daemon end to end on loopback: blocked names answered per block mode,
// allowed names forwarded, over UDP and TCP, with the client's question
// bytes echoed and access control enforced.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import { TYPES, decode, encodeQuery, query } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { TestUpstream } from '../support/upstream.js';

const LIST = 'blocked.test\n# a comment\nads.example\n';
let upstream: TestUpstream;

beforeAll(async () => {
  upstream = await TestUpstream.start();
});
afterAll(() => upstream.close());

describe.each([false, true])('over %s', (tcp) => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startDaemon('lists:\n  local: { source: blocked.txt }\n', [upstream.address], { files: { 'blocked.txt': LIST } });
  });
  afterAll(() => d.stop());
  const transport = tcp ? 'TCP' : 'UDP';

  it(`${transport}: blocks a listed name and its subdomains with NXDOMAIN, never asking upstream`, async () => {
    for (const name of ['blocked.test', 'www.blocked.test', 'a.b.c.blocked.test']) {
      const r = await query(d.port, name, TYPES.A, { tcp });
      expect(r.rcode).toBe(3);
      expect(r.packet.authorities[0].type).toBe(TYPES.SOA);
      expect(upstream.count(name)).toBe(0);
    }
  });

  it(`${transport}: forwards an allowed name and returns upstream's answer`, async () => {
    const name = `allowed-${transport}.example`;
    const r = await query(d.port, name, TYPES.A, { tcp });
    expect(r.rcode).toBe(0);
    expect(r.packet.answers[0]).toMatchObject({ type: TYPES.A, address: '192.0.2.1' });
    expect(upstream.count(name)).toBe(1);
  });

  it(`${transport}: echoes the question bytes exactly, 0x20 case included`, async () => {
    for (const name of ['BlOcKeD.TeSt', `MiXeD-${transport}.ExAmPlE`]) {
      const r = await query(d.port, name, TYPES.A, { tcp, id: 0x1234 });
      expect(r.raw.readUInt16BE(0)).toBe(0x1234);
      expect(r.packet.questions[0].name).toBe(name);
    }
  });
});

describe('block answer modes', () => {
  const modes = {
    nxdomain: 'nxdomain',
    null: 'null',
    refused: 'refused',
    sinkhole: '{ ipv4: 10.0.0.80, ipv6: "fd00::80" }',
  } as const;
  const types = ['A', 'AAAA', 'HTTPS', 'MX', 'TXT'] as const;

  it.each(Object.keys(modes) as (keyof typeof modes)[])('%s answers every query type', async (mode) => {
    const d = await startDaemon(`blocking: { answer: ${modes[mode]}, ttl: 90s }\nlists:\n  local: { source: blocked.txt }\n`, [upstream.address], { files: { 'blocked.txt': LIST } });
    try {
      for (const type of types) {
        const r = await query(d.port, 'chat.blocked.test', TYPES[type], { edns: 1232 });
        const expectation = `${mode}/${type}`;
        if (mode === 'nxdomain') expect(r.rcode, expectation).toBe(3);
        else if (mode === 'refused') expect(r.rcode, expectation).toBe(5);
        else expect(r.rcode, expectation).toBe(0);
        const address = r.packet.answers[0]?.address;
        if (mode === 'null' && type === 'A') expect(address).toBe('0.0.0.0');
        else if (mode === 'null' && type === 'AAAA') expect(address).toBe('::');
        else if (mode === 'sinkhole' && type === 'A') expect(address).toBe('10.0.0.80');
        else if (mode === 'sinkhole' && type === 'AAAA') expect(address).toBe('fd00::80');
        else expect(r.packet.answers, expectation).toHaveLength(0);
        if (r.packet.answers[0]) expect(r.packet.answers[0].ttl).toBe(90);
        if (mode !== 'refused' && r.packet.answers.length === 0) expect(r.packet.authorities[0]).toMatchObject({ type: TYPES.SOA, minimum: 90 });
        // EDNS clients learn why: Extended DNS Error 15 (Blocked) naming the list.
        expect(r.raw.includes(Buffer.from('blocked by aifence: local')), expectation).toBe(true);
      }
      expect(upstream.count('chat.blocked.test')).toBe(0);
    } finally {
      await d.stop();
    }
  });
});

describe('access control', () => {
  it('answers REFUSED to clients outside access.clients, and serves those inside', async () => {
    const d = await startDaemon('access: { clients: [127.0.0.2/32] }\n', [upstream.address]);
    try {
      const outside = await query(d.port, 'open-resolver.example', TYPES.A, { from: '127.0.0.1' });
      expect(outside.rcode).toBe(5);
      expect(upstream.count('open-resolver.example')).toBe(0);
      const inside = await query(d.port, 'open-resolver.example', TYPES.A, { from: '127.0.0.2' });
      expect(inside.rcode).toBe(0);
      const tcpOutside = await query(d.port, 'open-resolver.example', TYPES.A, { from: '127.0.0.1', tcp: true });
      expect(tcpOutside.rcode).toBe(5);
    } finally {
      await d.stop();
    }
  });
});

describe('IPv6 and shutdown', () => {
  it('serves UDP and TCP on an IPv6 listen address', async () => {
    const d = await startDaemon('listen: ["[::1]:0"]\naccess: { clients: ["::1/128"] }\nlists:\n  local: { source: blocked.txt }\n', [upstream.address], { files: { 'blocked.txt': LIST } });
    try {
      const port = d.daemon.addresses[0].port;
      const sock = createSocket('udp6');
      const reply = await new Promise<Buffer>((resolve) => {
        sock.on('message', (m) => resolve(m));
        sock.bind(0, '::1', () => sock.send(encodeQuery('www.blocked.test', TYPES.AAAA), port, '::1'));
      });
      sock.close();
      expect(decode(reply).rcode).toBe(3);
    } finally {
      await d.stop();
    }
  });

  it('finishes a query in flight when stopped', async () => {
    const d = await startDaemon('', [upstream.address]);
    upstream.behave = () => ({ kind: 'delay', ms: 200 });
    try {
      const pending = query(d.port, 'in-flight.example');
      await new Promise((r) => setTimeout(r, 50));
      const stopped = d.stop();
      const answer = await pending;
      await stopped;
      expect(answer.packet.answers[0].address).toBe('192.0.2.1');
    } finally {
      upstream.behave = () => ({ kind: 'answer' });
    }
  });
});
