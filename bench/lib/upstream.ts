// The upstream that misses are forwarded to: Debian's nsd serving a wildcard
// zone (fast, C, answers from memory), or when nsd is unusable a small Node
// server in this process that answers the same way.

import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unboundConfig } from '../../test/support/unbound.js';
import { ZONE } from './data.js';
import { startServer } from './proc.js';

export interface Upstream {
  port: number;
  /** What answers, for the report. */
  description: string;
  stop(): Promise<void>;
}

/** A free UDP port on 127.0.0.1, for nsd, which cannot bind port 0 and tell us. */
export async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(r));
  return port;
}

/** One A query for `name`; resolves with the RCODE, or null after `ms` without an answer. */
export function probe(port: number, name: string, ms: number): Promise<number | null> {
  const labels = name.split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  const msg = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
  const s = createSocket('udp4');
  return new Promise((resolve) => {
    let settled = false;
    const done = (rcode: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.close();
      resolve(rcode);
    };
    const timer = setTimeout(() => done(null), ms);
    s.on('message', (reply) => done(reply[3] & 0x0f));
    s.on('error', () => done(null));
    s.send(msg, port, '127.0.0.1');
  });
}

export async function startNsd(nsd: string, dir: string, pin: string[]): Promise<Upstream> {
  const port = await freePort();
  writeFileSync(
    join(dir, 'zone'),
    [
      `$ORIGIN ${ZONE}.`,
      '$TTL 3600',
      `@ IN SOA ns.${ZONE}. admin.${ZONE}. 1 3600 600 86400 3600`,
      `@ IN NS ns.${ZONE}.`,
      'ns IN A 192.0.2.53',
      '* IN A 192.0.2.1',
      '',
    ].join('\n'),
  );
  // Everything nsd writes stays in our temp dir; no chroot, no user switch, no database: it runs as our child.
  writeFileSync(
    join(dir, 'nsd.conf'),
    [
      'server:',
      `  ip-address: 127.0.0.1@${port}`,
      `  zonesdir: "${dir}"`,
      `  pidfile: "${join(dir, 'nsd.pid')}"`,
      `  logfile: "${join(dir, 'nsd.log')}"`,
      '  username: ""',
      '  chroot: ""',
      '  database: ""',
      `  xfrdfile: "${join(dir, 'xfrd.state')}"`,
      `  zonelistfile: "${join(dir, 'zone.list')}"`,
      '  verbosity: 0',
      // Response rate limiting (on by default, 200 answers/s per client /24) would drop most of the benchmark.
      '  rrl-ratelimit: 0',
      '  rrl-whitelist-ratelimit: 0',
      '  server-count: 1',
      'remote-control:',
      '  control-enable: no',
      'zone:',
      `  name: ${ZONE}`,
      '  zonefile: zone',
      '',
    ].join('\n'),
  );
  // nsd -d prints nothing to stdout: it is ready when it answers.
  const nsdProcess = await startServer([nsd, '-c', join(dir, 'nsd.conf'), '-d'], pin, async () => (await probe(port, `probe.${ZONE}`, 200)) === 0, 10_000);
  return { port, description: `nsd (wildcard zone *.${ZONE}, 127.0.0.1:${port})`, stop: nsdProcess.stop };
}

/** The fallback: answers every A question under the zone with 192.0.2.1, TTL 3600, from this process. */
export async function startNodeUpstream(): Promise<Upstream> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    if (msg.length < 17 || (msg[2] & 0x80) !== 0) return;
    let at = 12;
    while (at < msg.length && msg[at] !== 0) at += msg[at] + 1;
    const end = at + 5;
    if (end > msg.length) return;
    const qtype = msg.readUInt16BE(at + 1);
    const answer = qtype === 1 ? Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 1]) : Buffer.alloc(0);
    const reply = Buffer.concat([msg.subarray(0, end), answer]);
    reply[2] = 0x84 | (msg[2] & 0x01); // QR, AA, keep RD
    reply[3] = 0;
    reply.writeUInt16BE(1, 4);
    reply.writeUInt16BE(answer.length > 0 ? 1 : 0, 6);
    reply.fill(0, 8, 12);
    socket.send(reply, rinfo.port, rinfo.address);
  });
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return {
    port: socket.address().port,
    description: 'Node fallback upstream in the benchmark process (nsd unusable) — misses are slower than with nsd',
    stop: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

export interface EncryptedUpstream extends Upstream {
  tlsPort: number;
  httpsPort: number;
  /** The CA for aifence's upstream.tls.ca: the upstream's self-signed certificate. */
  certFile: string;
}

/**
 * Debian's unbound answering the zone from a redirect local zone over plain
 * DNS, DoT (tls-port) and DoH (https-port) at once: the upstream for the
 * encrypted-upstream misses, so that UDP, DoT and DoH are compared against
 * the same server in the same run.
 */
export async function startUnboundUpstream(unbound: string, dir: string, pin: string[]): Promise<EncryptedUpstream> {
  const [port, tlsPort, httpsPort] = [await freePort(), await freePort(), await freePort()];
  const certFile = join(dir, 'unbound-cert.pem');
  const keyFile = join(dir, 'unbound-key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=upstream.bench.test', '-addext', 'subjectAltName=DNS:upstream.bench.test,IP:127.0.0.1'], { stdio: 'ignore' });
  const conf = join(dir, 'unbound.conf');
  writeFileSync(conf, unboundConfig({ dir, zone: ZONE, ttl: 3600, port, tls: { tlsPort, httpsPort, cert: certFile, key: keyFile }, incomingTcp: 1000 }));
  const server = await startServer([unbound, '-d', '-c', conf], pin, async () => (await probe(port, `probe.${ZONE}`, 200)) === 0, 10_000);
  return { port, tlsPort, httpsPort, certFile, description: `unbound (redirect zone ${ZONE}; UDP ${port}, DoT ${tlsPort}, DoH ${httpsPort})`, stop: server.stop };
}
