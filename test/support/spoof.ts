// An off-path forger's storm, for the spoof test and `npm run fuzz -- spoof`.
// The forger spoofs the upstream's address and port (the test upstream sends
// from its own socket), knows the name it made the resolver ask for (in the
// client's lower case), but sees neither the query's ID, its source port nor
// its 0x20 case. Half of the storm goes to the port the query really left
// from (as if the forger had learnt it) with a run of IDs that includes the
// real one, so that only the exact question compare can stop it; the other
// half to random ephemeral ports with random IDs, the blind guess.

import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { encodeQuery } from './client.js';
import { answerTo, questionEnd } from './fuzz.js';
import type { TestUpstream } from './upstream.js';

export const FORGED_ADDRESS = [10, 10, 10, 10];

/** An A record for the question name (a pointer to it), TTL one day. */
export const aRecord = (address: number[], ttl = 86400): number[] => [0xc0, 12, 0, 1, 0, 1, ttl >>> 24, (ttl >> 16) & 0xff, (ttl >> 8) & 0xff, ttl & 0xff, 0, 4, ...address];

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return [low, high];
  } catch {
    return [32768, 60999];
  }
}

/**
 * Sends `count` forged answers (A 10.10.10.10, one day) for the query that
 * `upstream` holds (`sent`, as it arrived from `port`).
 */
export async function spoofStorm(upstream: TestUpstream, sent: Buffer, port: number, count: number, random: () => number): Promise<void> {
  // The question as the forger writes it: the name in lower case, as the client asked.
  const lower = Buffer.from(sent);
  for (let i = 12; i < questionEnd(sent) - 4; i++) if (lower[i] >= 0x41 && lower[i] <= 0x5a) lower[i] |= 0x20;
  const forged = answerTo(lower, [aRecord(FORGED_ADDRESS)]);
  const realId = sent.readUInt16BE(0);
  const known = Math.floor(count / 2);
  const [low, high] = ephemeralRange();
  await upstream.forge(
    forged,
    count,
    (i) => (i < known ? port : low + Math.floor(random() * (high - low + 1))),
    // The real ID early in the run, in the first batch, which the kernel buffers whole however busy the reader.
    (i) => (i < known ? realId - 128 + i : Math.floor(random() * 65536)),
  );
}

/**
 * One A query over UDP that takes only the daemon's reply (its address, port
 * and the query's ID): the storm's random ports hit client sockets too, and a
 * client that took any datagram would count the forger's hits on itself.
 */
export function askDaemon(port: number, name: string, timeoutMs: number): Promise<Buffer> {
  const id = (Math.random() * 65536) | 0;
  const msg = encodeQuery(name, 1, { id });
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    const timer = setTimeout(() => (sock.close(), reject(new Error(`no answer for ${name}`))), timeoutMs);
    sock.on('message', (reply, rinfo) => {
      if (rinfo.port !== port || rinfo.address !== '127.0.0.1' || reply.length < 12 || reply.readUInt16BE(0) !== id) return;
      clearTimeout(timer);
      sock.close();
      resolve(reply);
    });
    sock.bind(0, '127.0.0.1', () => sock.send(msg, port, '127.0.0.1'));
  });
}
