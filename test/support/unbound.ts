// Debian's unbound, started by a test on a loopback port: the reference
// resolver for conformance tests. Every name under `zone` answers A 192.0.2.1
// (a redirect local zone), so no network is needed. With `tls` it also
// serves DNS over TLS (tls-port) and DNS over HTTPS (https-port, /dns-query)
// with that certificate, as an encrypted upstream for aifence.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exchange, encodeQuery } from './client.js';

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
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function startUnbound(zone = 'example.test', options: UnboundOptions = {}): Promise<Unbound> {
  const dir = mkdtempSync(join(tmpdir(), 'aifence-unbound-'));
  const port = options.ports?.port ?? (await freePort());
  const tlsPort = options.tls ? (options.ports?.tlsPort ?? (await freePort())) : 0;
  const httpsPort = options.tls ? (options.ports?.httpsPort ?? (await freePort())) : 0;
  const encrypted = options.tls
    ? [
        `  interface: 127.0.0.1@${tlsPort}`,
        `  interface: 127.0.0.1@${httpsPort}`,
        `  tls-port: ${tlsPort}`,
        `  https-port: ${httpsPort}`,
        `  tls-service-key: "${options.tls.key}"`,
        `  tls-service-pem: "${options.tls.cert}"`,
        '  http-endpoint: "/dns-query"',
        '  incoming-num-tcp: 100',
      ]
    : [];
  const conf = join(dir, 'unbound.conf');
  writeFileSync(
    conf,
    [
      'server:',
      `  interface: 127.0.0.1@${port}`,
      ...encrypted,
      '  do-daemonize: no',
      '  username: ""',
      '  chroot: ""',
      `  directory: "${dir}"`,
      `  pidfile: "${join(dir, 'unbound.pid')}"`,
      '  use-syslog: no',
      '  logfile: ""',
      '  verbosity: 0',
      '  num-threads: 1',
      '  access-control: 127.0.0.0/8 allow',
      '  module-config: "iterator"',
      `  local-zone: "${zone}." redirect`,
      `  local-data: "${zone}. 300 IN A 192.0.2.1"`,
      'remote-control:',
      '  control-enable: no',
      '',
    ].join('\n'),
  );
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
