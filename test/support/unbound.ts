// Debian's unbound, started by a test on a loopback port: the reference
// resolver for conformance tests. Every name under `zone` answers A 192.0.2.1
// (a redirect local zone), so no network is needed. With `tls` it also
// serves DNS over TLS (tls-port) and DNS over HTTPS (https-port, /dns-query)
// with that certificate, as an encrypted upstream for aifence.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exchange, encodeQuery } from './client.js';
import { freePort } from './servers.js';

export interface Unbound {
  port: number;
  address: string;
  /** With `tls`: the DoT and DoH ports (0 without). */
  tlsPort: number;
  httpsPort: number;
  stop(): Promise<void>;
}

export interface UnboundOptions {
  tls?: { cert: string; key: string };
  /** The same ports again (a restart); fresh ones when absent. */
  ports?: { port: number; tlsPort: number; httpsPort: number };
  /** More `server:` lines, e.g. `local-data-ptr: "10.0.0.5 alice.corp.example"`. */
  extra?: string[];
}

export interface UnboundConfig {
  dir: string;
  zone: string;
  /** TTL of the zone's A record. */
  ttl: number;
  port: number;
  /** DoT and DoH ports with the certificate to serve them. */
  tls?: { tlsPort: number; httpsPort: number; cert: string; key: string };
  incomingTcp?: number;
  /** More `server:` lines. */
  extra?: string[];
}

/** unbound.conf for a foreground unbound on loopback answering every name under `zone` from a redirect local zone. */
export function unboundConfig(c: UnboundConfig): string {
  const encrypted = c.tls
    ? [
        `  interface: 127.0.0.1@${c.tls.tlsPort}`,
        `  interface: 127.0.0.1@${c.tls.httpsPort}`,
        `  tls-port: ${c.tls.tlsPort}`,
        `  https-port: ${c.tls.httpsPort}`,
        `  tls-service-key: "${c.tls.key}"`,
        `  tls-service-pem: "${c.tls.cert}"`,
        '  http-endpoint: "/dns-query"',
      ]
    : [];
  return [
    'server:',
    `  interface: 127.0.0.1@${c.port}`,
    ...encrypted,
    ...(c.incomingTcp ? [`  incoming-num-tcp: ${c.incomingTcp}`] : []),
    '  do-daemonize: no',
    '  username: ""',
    '  chroot: ""',
    `  directory: "${c.dir}"`,
    `  pidfile: "${join(c.dir, 'unbound.pid')}"`,
    '  use-syslog: no',
    '  logfile: ""',
    '  verbosity: 0',
    '  num-threads: 1',
    '  access-control: 127.0.0.0/8 allow',
    '  module-config: "iterator"',
    `  local-zone: "${c.zone}." redirect`,
    `  local-data: "${c.zone}. ${c.ttl} IN A 192.0.2.1"`,
    ...(c.extra ?? []).map((line) => `  ${line}`),
    'remote-control:',
    '  control-enable: no',
    '',
  ].join('\n');
}

export async function startUnbound(zone = 'example.test', options: UnboundOptions = {}): Promise<Unbound> {
  const dir = mkdtempSync(join(tmpdir(), 'aifence-unbound-'));
  const port = options.ports?.port ?? (await freePort());
  const tlsPort = options.tls ? (options.ports?.tlsPort ?? (await freePort())) : 0;
  const httpsPort = options.tls ? (options.ports?.httpsPort ?? (await freePort())) : 0;
  const conf = join(dir, 'unbound.conf');
  const tls = options.tls ? { tlsPort, httpsPort, ...options.tls } : undefined;
  writeFileSync(conf, unboundConfig({ dir, zone, ttl: 300, port, tls, incomingTcp: 100, extra: options.extra }));
  const child: ChildProcess = spawn('unbound', ['-d', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr += c));
  for (let i = 0; ; i++) {
    try {
      await exchange(port, encodeQuery(`probe.${zone}`, 1), { timeoutMs: 200 });
      break;
    } catch {
      if (i > 50 || child.exitCode !== null) throw new Error(`unbound did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    port,
    address: `127.0.0.1:${port}`,
    tlsPort,
    httpsPort,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
