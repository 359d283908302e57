// A spoof storm racing a slow upstream: 100,000 forged answers, half of them
// to the port the query left from with a run of IDs that includes the real
// one, half to random ports and IDs. None may be accepted; the real answer,
// sent after the storm, is the one served and cached.

import { afterEach, beforeEach, expect, it } from 'vitest';
import { decode } from '../support/client.js';
import { type TestDaemon, startDaemon } from '../support/daemon.js';
import { answerTo, seeded } from '../support/fuzz.js';
import { aRecord, askDaemon, spoofStorm } from '../support/spoof.js';
import { TestUpstream } from '../support/upstream.js';

let upstream: TestUpstream;
let d: TestDaemon | undefined;

beforeEach(async () => {
  upstream = await TestUpstream.start();
});
afterEach(async () => {
  await d?.stop();
  d = undefined;
  await upstream.close();
});

it('accepts none of 100,000 forged replies and serves the real answer', { timeout: 60_000 }, async () => {
  d = await startDaemon(`upstream: { servers: ["${upstream.address}"], timeout: 20s }\n`, []);
  let held: Buffer | null = null;
  let from = 0;
  // Silent until the storm is over; only the first query counts (the storm's random ports include this server's own).
  upstream.behave = () => ({ kind: 'raw', reply: (q) => ((held ??= Buffer.from(q)), (from ||= upstream.lastPort), null) });
  const name = 'spoofing-target-for-the-storm.example';
  const answer = askDaemon(d.port, name, 25_000);
  while (held === null) await new Promise((r) => setTimeout(r, 10));
  const sent: Buffer = held;
  await spoofStorm(upstream, sent, from, 100_000, seeded(5));
  await new Promise((r) => setTimeout(r, 300)); // let the daemon read what reached it
  const spoofedSeen = d.daemon.upstream.stats.spoofed;
  // The real server answers at last.
  await upstream.forge(answerTo(sent, [aRecord([192, 0, 2, 1], 300)]), 1, () => from, () => sent.readUInt16BE(0));
  const r = decode(await answer);
  expect(r.packet.answers.map((a: { address?: string }) => a.address)).toEqual(['192.0.2.1']);
  const cached = decode(await askDaemon(d.port, name, 5000));
  expect(cached.packet.answers.map((a: { address?: string }) => a.address)).toEqual(['192.0.2.1']);
  expect(spoofedSeen).toBeGreaterThan(1000); // the storm did reach the query's socket
});
