// Who, not which IP, with the DHCP servers offices run: dnsmasq, ISC Kea and
// ISC dhcpd hand out leases in a network namespace (test/support/dhcp.ts),
// the built daemon serves that LAN from the server's namespace with
// identity.leases pointing at the server's own lease file, and clients with
// the leased addresses ask it (dig). Blocked queries are logged with the
// lease's host name and `aifence report --by client` shows it; a lease
// granted, released and handed to another host while serving is picked up
// without a reload, each query named by the lease in force when it was asked.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type DhcpLab, type DhcpServerKind, dhcpLabPossible, startDhcpLab } from '../support/dhcp.js';
import { type DaemonProcess, spawnDaemon } from '../support/process.js';
import { toolsPresent } from '../support/tools.js';

const CLI = resolve('dist/cli.js');
const BLOCKED = 'chat.deepseek.com';

interface Line {
  client: string;
  clientName?: string;
  name?: string;
  verdict: string;
  event?: string;
}

const lines = (file: string): Line[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) : []);

async function until<T>(what: string, get: () => T | undefined, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const config = (kind: DhcpServerKind, leaseFile: string, log: string) => `
upstream: { servers: ["10.77.0.1:9"], timeout: 500ms }
identity:
  leases: [{ path: ${leaseFile}, format: ${kind} }]
groups:
  default: { block: [service:deepseek] }
queryLog: { mode: blocked, path: ${log} }
`;

const digPresent = toolsPresent(['dig'], 'bind9-dnsutils');

describe.each(['dnsmasq', 'kea', 'isc'] as const)('identity.leases from a real %s', (kind) => {
  const possible = digPresent && dhcpLabPossible(kind);
  let lab: DhcpLab;
  let d: DaemonProcess;

  beforeAll(async () => {
    if (possible) lab = await startDhcpLab(kind);
  }, 60_000);
  afterAll(async () => {
    d?.stop();
    await lab?.stop();
  });

  it.skipIf(!possible)('logs and reports blocked queries with the lease\'s host name; a lease changed while serving is picked up without a reload', async () => {
    const [alice, bob] = await lab.lease([
      { mac: '52:54:00:00:01:01', host: 'alice-laptop' },
      { mac: '52:54:00:00:01:02', host: 'bob-desk' },
    ]);
    const log = join(lab.leaseFile, '..', 'queries.jsonl');
    d = await spawnDaemon(config(kind, lab.leaseFile, log), {}, { netns: lab.serverNs, listen: lab.serverAddress });
    const ask = (from: string) => lab.fromClient(from, 'dig', ['-b', from, `@${lab.serverAddress}`, '-p', String(d.port), '+tries=1', '+time=3', BLOCKED, 'A']);
    /** Asks from `from` until its line carries `name` (the file read again after a change); returns that line. */
    const askUntilNamed = async (from: string, name: string): Promise<Line> => {
      for (let i = 0; i < 50; i++) {
        const before = lines(log).length;
        expect((await ask(from)).stdout).toContain('status: NXDOMAIN');
        const line = await until(`the line of ${from}`, () => lines(log).slice(before).find((l) => l.client === from));
        if (line.clientName === name) return line;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${from} never logged as ${name}; the lease file holds:\n${readFileSync(lab.leaseFile, 'utf8')}`);
    };

    await ask(alice);
    await ask(bob);
    const first = await until('two lines', () => {
      const got = lines(log).filter((l) => l.verdict === 'blocked');
      return got.length >= 2 ? got : undefined;
    });
    expect(first.map((l) => [l.client, l.clientName])).toEqual([
      [alice, 'alice-laptop'],
      [bob, 'bob-desk'],
    ]);

    // While serving: a new host leases an address; alice releases hers and dave asks for it.
    const [carol] = await lab.lease([{ mac: '52:54:00:00:01:03', host: 'carol-phone' }]);
    await askUntilNamed(carol, 'carol-phone');
    await lab.release('52:54:00:00:01:01', alice);
    const [dave] = await lab.lease([{ mac: '52:54:00:00:01:04', host: 'dave-tablet', want: alice }]);
    await askUntilNamed(dave, 'dave-tablet');
    // No reload happened: the lease file was read again by itself.
    expect(d.output()).toMatch(/"msg":"lease file read"/);
    expect(d.output()).not.toMatch(/"msg":"reloaded"/);
    // Lines written before keep the name leased when they were asked, whoever has the address now.
    expect(first[0].clientName).toBe('alice-laptop');
    expect(lines(log).filter((l) => l.client === alice && l.clientName === 'alice-laptop')).toHaveLength(1);

    const report = execFileSync(process.execPath, [CLI, 'report', '--log', log, '--by', 'client'], { encoding: 'utf8' });
    const row = (name: string, address: string) => new RegExp(`^${name}\\s+${address.replace(/\./g, '\\.')}\\s+deepseek\\s+\\d+`, 'm');
    expect(report.split('\n')[0]).toMatch(/^client\s+address\s+service\s+queries\s+first\s+last$/);
    for (const [name, address] of [['alice-laptop', alice], ['bob-desk', bob], ['carol-phone', carol], ['dave-tablet', dave]]) expect(report).toMatch(row(name, address));
    if (process.env.AIFENCE_SHOW_REPORT) process.stdout.write(`\n$ aifence report --by client   (${kind}; dave ${dave === alice ? 'was given alice\'s address' : `got ${dave}`})\n${report}`);
  }, 90_000);
});
