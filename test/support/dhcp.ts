// Real DHCP servers for the identity tests: dnsmasq, ISC Kea (kea-dhcp4) or
// ISC dhcpd, each started in a network namespace of its own joined by a
// veth pair to a client namespace, where dhcp-client.mjs asks for leases
// for hosts with the names a test gives. The servers write their lease
// files as they do in an office; the tests point aifence at those files.
// Needs root (network namespaces) and the servers' Debian packages: .ci/run
// installs them; elsewhere the tests skip, saying what to install.

import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { toolsPresent } from './tools.js';

export type DhcpServerKind = 'dnsmasq' | 'kea' | 'isc';

const CLIENT = resolve('test/support/dhcp-client.mjs');
const SERVER_ADDRESS = '10.77.0.1';
export const POOL = ['10.77.0.100', '10.77.0.109'] as const;

/** Root and the tools: false (with a note) where the DHCP tests cannot run; in CI a missing tool fails. */
export function dhcpLabPossible(kind: DhcpServerKind): boolean {
  if (process.getuid?.() !== 0) {
    if (process.env.CI) throw new Error('the DHCP lease tests need root (network namespaces)');
    console.warn('skipped: the DHCP lease tests need root (network namespaces)');
    return false;
  }
  const server = { dnsmasq: ['dnsmasq', 'dnsmasq-base'], kea: ['kea-dhcp4', 'kea-dhcp4-server'], isc: ['dhcpd', 'isc-dhcp-server'] }[kind];
  return toolsPresent(['ip', server[0]], `iproute2 ${server[1]}`);
}

export interface DhcpHost {
  mac: string;
  /** The host name option's bytes (option 12); absent: none sent. */
  host?: Buffer | string;
  /** The address to ask for (option 50). */
  want?: string;
}

export interface DhcpLab {
  kind: DhcpServerKind;
  /** The server's namespace (a resolver run there is on the clients' LAN) and its address there. */
  serverNs: string;
  serverAddress: string;
  /** Runs a program as a client on the LAN (dig, kdig), from `address` (given to the client's interface first). */
  fromClient(address: string, command: string, args: string[]): Promise<{ stdout: string; code: number }>;
  /** The lease file the server writes. */
  leaseFile: string;
  /** Leases for these hosts (one DHCP exchange each, in order); the address each was given. */
  lease(hosts: DhcpHost[]): Promise<string[]>;
  /** DHCPRELEASE of a host's address. */
  release(mac: string, address: string): Promise<void>;
  /** What the server said so far (when something fails). */
  output(): string;
  stop(): Promise<void>;
}

let labs = 0;

export async function startDhcpLab(kind: DhcpServerKind, leaseSeconds = 3600): Promise<DhcpLab> {
  const dir = mkdtempSync(join(tmpdir(), `aifence-dhcp-${kind}-`));
  const id = `${process.pid % 100000}${labs++}`;
  const [serverNs, clientNs, serverIf, clientIf] = [`aifS${id}`, `aifC${id}`, `aS${id}`, `aC${id}`];
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  ip('netns', 'add', serverNs);
  ip('netns', 'add', clientNs);
  const teardown = () => {
    for (const ns of [serverNs, clientNs]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
  };
  let child: ChildProcess | null = null;
  let out = '';
  try {
    ip('link', 'add', serverIf, 'type', 'veth', 'peer', 'name', clientIf);
    ip('link', 'set', serverIf, 'netns', serverNs);
    ip('link', 'set', clientIf, 'netns', clientNs);
    ip('-n', serverNs, 'addr', 'add', `${SERVER_ADDRESS}/24`, 'dev', serverIf);
    ip('-n', clientNs, 'addr', 'add', '10.77.0.250/24', 'dev', clientIf);
    for (const [ns, dev] of [[serverNs, serverIf], [clientNs, clientIf], [serverNs, 'lo'], [clientNs, 'lo']]) ip('-n', ns, 'link', 'set', dev, 'up');
    // The limited broadcast (255.255.255.255) leaves by the default route.
    ip('-n', clientNs, 'route', 'add', 'default', 'dev', clientIf);
    const { command, leaseFile } = serverCommand(kind, dir, serverIf, leaseSeconds);
    child = spawn('ip', ['netns', 'exec', serverNs, ...command], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir, KEA_LOGGER_DESTINATION: join(dir, 'kea.log') } });
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (out += c));
    const server = child;
    const client = (hosts: unknown[]): Promise<Record<string, string>[]> =>
      new Promise((ok, fail) => {
        const c = spawn('ip', ['netns', 'exec', clientNs, process.execPath, CLIENT, JSON.stringify(hosts)], { stdio: ['ignore', 'pipe', 'pipe'] });
        let text = '';
        let err = '';
        c.stdout.on('data', (d) => (text += d));
        c.stderr.on('data', (d) => (err += d));
        c.on('exit', (code) => (code === 0 ? ok(text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>)) : fail(new Error(`dhcp client failed: ${err}`))));
      });
    const given = new Set<string>();
    const clientMac = (JSON.parse(execFileSync('ip', ['-j', '-n', clientNs, 'link', 'show', 'dev', clientIf], { encoding: 'utf8' })) as { address: string }[])[0].address;
    const lab: DhcpLab = {
      kind,
      serverNs,
      serverAddress: SERVER_ADDRESS,
      leaseFile,
      fromClient(address, command, args) {
        if (!given.has(address)) {
          ip('-n', clientNs, 'addr', 'add', `${address}/32`, 'dev', clientIf);
          // The server answered the lease to the hardware address the client claimed (dhcp-client.mjs makes one up
          // per host), and may have left that in its neighbour table: answers must reach the client's real interface.
          ip('-n', serverNs, 'neigh', 'replace', address, 'lladdr', clientMac, 'dev', serverIf, 'nud', 'permanent');
          given.add(address);
        }
        return new Promise((ok) => {
          execFile('ip', ['netns', 'exec', clientNs, command, ...args], { timeout: 15_000 }, (err, stdout) => ok({ stdout, code: err ? ((err as { code?: number }).code ?? 1) : 0 }));
        });
      },
      async lease(hosts) {
        const asked = hosts.map((h) => ({ mac: h.mac, want: h.want, host: h.host === undefined ? undefined : Buffer.from(h.host).toString('hex') }));
        // The server may still be opening its sockets: the first exchange is tried a few times.
        for (let attempt = 0; ; attempt++) {
          const got = await client(asked);
          const failed = got.find((g) => g.error);
          if (!failed) return got.map((g) => g.address);
          if (attempt >= 10 || server.exitCode !== null) throw new Error(`${kind}: ${failed.error}\n${out}${kind === 'kea' && existsSync(join(dir, 'kea.log')) ? readFileSync(join(dir, 'kea.log'), 'utf8') : ''}`);
          await new Promise((r) => setTimeout(r, 300));
          asked.splice(0, asked.findIndex((a) => a.mac === failed.mac));
        }
      },
      async release(mac, address) {
        await client([{ mac, release: address, server: SERVER_ADDRESS }]);
      },
      output: () => out,
      stop: async () => {
        if (server.exitCode === null) {
          const exited = new Promise((r) => server.once('exit', r));
          server.kill('SIGTERM');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        }
        teardown();
      },
    };
    return lab;
  } catch (err) {
    child?.kill('SIGKILL');
    teardown();
    throw err;
  }
}

/** How each server is started in the foreground on `iface`, with its lease file in `dir`. */
function serverCommand(kind: DhcpServerKind, dir: string, iface: string, leaseSeconds: number): { command: string[]; leaseFile: string } {
  switch (kind) {
    case 'dnsmasq': {
      const leaseFile = join(dir, 'dnsmasq.leases');
      return {
        leaseFile,
        command: [
          'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--user=root', '--group=root', `--interface=${iface}`, '--bind-interfaces',
          `--dhcp-range=${POOL[0]},${POOL[1]},${leaseSeconds}s`, `--dhcp-leasefile=${leaseFile}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`, '--log-dhcp', '--log-facility=-',
        ],
      };
    }
    case 'kea': {
      const leaseFile = join(dir, 'kea-leases4.csv');
      const config = {
        Dhcp4: {
          'interfaces-config': { interfaces: [iface], 'dhcp-socket-type': 'raw' },
          'lease-database': { type: 'memfile', persist: true, name: leaseFile, 'lfc-interval': 0 },
          'valid-lifetime': leaseSeconds,
          subnet4: [{ id: 1, subnet: '10.77.0.0/24', pools: [{ pool: `${POOL[0]} - ${POOL[1]}` }] }],
          loggers: [{ name: 'kea-dhcp4', output_options: [{ output: join(dir, 'kea.log') }], severity: 'INFO' }],
        },
      };
      writeFileSync(join(dir, 'kea-dhcp4.conf'), JSON.stringify(config));
      return { leaseFile, command: ['kea-dhcp4', '-c', join(dir, 'kea-dhcp4.conf')] };
    }
    case 'isc': {
      const leaseFile = join(dir, 'dhcpd.leases');
      writeFileSync(leaseFile, '');
      writeFileSync(
        join(dir, 'dhcpd.conf'),
        [
          'authoritative;',
          `default-lease-time ${leaseSeconds};`,
          `max-lease-time ${leaseSeconds};`,
          `subnet 10.77.0.0 netmask 255.255.255.0 { range ${POOL[0]} ${POOL[1]}; }`,
          '',
        ].join('\n'),
      );
      return { leaseFile, command: ['dhcpd', '-f', '-d', '-4', '-cf', join(dir, 'dhcpd.conf'), '-lf', leaseFile, '-pf', join(dir, 'dhcpd.pid'), '--no-pid', iface] };
    }
  }
}
