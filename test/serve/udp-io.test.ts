// How the UDP listeners read and write: in batches through native/udp
// (recvmmsg/sendmmsg) where the addon is built, else node:dgram, which
// AIFENCE_IO=dgram forces (CI runs the UDP serving tests both ways). Either
// way every answer goes back to the source it answers, bursts from many
// sources included, and the start log says which way it is.

import { type Socket, createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TYPES, encodeQuery } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { spawnDaemon } from '../support/process.js';
import { TestUpstream } from '../support/upstream.js';

const ADDON = new URL('../../native/udp/build/Release/udp.node', import.meta.url);
const forcedDgram = process.env.AIFENCE_IO === 'dgram';
const built = existsSync(ADDON);

let upstream: TestUpstream;
let d: TestDaemon;

beforeAll(async () => {
  upstream = await TestUpstream.start();
  d = await startDaemon(`upstream: { servers: [${JSON.stringify(upstream.address)}], timeout: 1s }\nlists:\n  local: { source: blocked.txt }\ngroups: { default: { block: [list:local] } }\n`, [], {
    files: { 'blocked.txt': 'blocked.test\n' },
  });
});
afterAll(async () => {
  await d.stop();
  await upstream.close();
});

const questionName = (msg: Buffer): string => {
  const labels: string[] = [];
  for (let at = 12; msg[at] !== 0; at += msg[at] + 1) labels.push(msg.subarray(at + 1, at + 1 + msg[at]).toString('latin1'));
  return labels.join('.').toLowerCase();
};

describe('UDP I/O', () => {
  it('says in the start log how UDP is served, and why when not in batches', async () => {
    const p = await spawnDaemon('upstream: { servers: ["127.0.0.1:9"] }\ngroups: { default: {} }\n');
    try {
      const line = p
        .output()
        .split('\n')
        .find((l) => l.includes('"io":'));
      expect(line, p.output()).toBeDefined();
      const entry = JSON.parse(line!) as { io: string; reason?: string };
      if (forcedDgram) expect(entry).toMatchObject({ io: 'dgram', reason: 'AIFENCE_IO=dgram' });
      else if (built || process.env.CI) expect(entry.io).toBe('batched');
      else expect(entry).toMatchObject({ io: 'dgram', reason: expect.stringMatching(/not built.*C compiler/) });
    } finally {
      p.stop();
    }
  });

  it('answers a burst from many sources, each answer at its own source with its ID and question', async () => {
    const SOURCES = 16;
    const PER_SOURCE = 60;
    const sockets: Socket[] = [];
    const got = new Map<Socket, Map<number, Buffer>>();
    for (let s = 0; s < SOURCES; s++) {
      const sock = createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
      const replies = new Map<number, Buffer>();
      sock.on('message', (msg) => replies.set(msg.readUInt16BE(0), msg));
      sockets.push(sock);
      got.set(sock, replies);
    }
    // Blocked names, misses (answered later, outside the batch that read them) and, once cached, hits: interleaved, sent without waiting.
    const sent = new Map<Socket, Map<number, string>>();
    const run = Date.now().toString(36);
    for (let i = 0; i < PER_SOURCE; i++) {
      for (const [s, sock] of sockets.entries()) {
        const name = i % 3 === 0 ? `b${s}-${i}.blocked.test` : i % 3 === 1 ? `m${s}-${i}-${run}.example` : `hot${i % 5}.example`;
        const msg = encodeQuery(name, TYPES.A);
        const id = (s * PER_SOURCE + i + 1) & 0xffff;
        msg.writeUInt16BE(id, 0);
        const mine = sent.get(sock) ?? new Map<number, string>();
        mine.set(id, name);
        sent.set(sock, mine);
        sock.send(msg, d.port, '127.0.0.1');
      }
    }
    const deadline = Date.now() + 10_000;
    const complete = () => sockets.every((s) => got.get(s)!.size === PER_SOURCE);
    while (!complete() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    try {
      for (const sock of sockets) {
        const replies = got.get(sock)!;
        const mine = sent.get(sock)!;
        expect([...replies.keys()].sort((a, b) => a - b)).toEqual([...mine.keys()].sort((a, b) => a - b));
        for (const [id, reply] of replies) {
          const name = mine.get(id)!;
          expect(questionName(reply)).toBe(name);
          expect(reply[3] & 0x0f, name).toBe(name.endsWith('.blocked.test') ? 3 : 0);
        }
      }
    } finally {
      for (const s of sockets) s.close();
    }
  });

  it('drops a datagram longer than a batch slot (batched) or answers it FORMERR (dgram), and serves on', async () => {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const replies: Buffer[] = [];
    sock.on('message', (m) => replies.push(m));
    try {
      const big = Buffer.concat([encodeQuery('big.example', TYPES.A), Buffer.alloc(5000, 0xc0)]);
      big.writeUInt16BE(0xbeef, 0);
      sock.send(big, d.port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 300));
      const small = encodeQuery('after.blocked.test', TYPES.A);
      small.writeUInt16BE(0x1234, 0);
      sock.send(small, d.port, '127.0.0.1');
      const deadline = Date.now() + 3000;
      while (!replies.some((r) => r.readUInt16BE(0) === 0x1234) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(replies.find((r) => r.readUInt16BE(0) === 0x1234)?.[3]).toBe(0x83);
      const toBig = replies.find((r) => r.readUInt16BE(0) === 0xbeef);
      // This process loaded the listener the same way the daemon did (in-process daemon).
      const batched = !forcedDgram && built;
      if (batched) expect(toBig).toBeUndefined();
      else expect(toBig?.[3]! & 0x0f).toBe(1);
    } finally {
      sock.close();
    }
  });
});
