// `aifence check --client` takes who a client is, not only its address: a
// device id a group lists, a host name from a lease in force or a static
// name. Asked of the running daemon (admin API) and from the config alone.

import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestDaemon, startDaemon } from '../support/daemon.js';

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, [resolve('dist/cli.js'), 'check', ...args], { encoding: 'utf8' }).catch((err: { stdout: string; stderr: string; code: number }) => err);

const CONFIG = `
lists:
  ai: { source: ai.txt }
  games: { source: games.txt }
identity:
  leases: [{ path: dnsmasq.leases, format: dnsmasq }]
  hosts: { 10.9.0.7: printer-2f }
groups:
  default: {}
  lab:
    clients: [10.9.0.0/16]
    block: [list:games]
  phones:
    devices: [alice-phone]
    block: [list:ai]
`;

describe('check --client NAME', () => {
  let d: TestDaemon;
  let config: string;
  beforeAll(async () => {
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    d = await startDaemon(CONFIG, ['127.0.0.1:9'], {
      files: {
        'ai.txt': 'chat.ai.example\n',
        'games.txt': 'games.example\n',
        'dnsmasq.leases': `${expiry} 52:54:00:00:00:01 10.9.0.5 alice-laptop 01:52:54:00:00:00:01\n${expiry} 52:54:00:00:00:02 10.9.0.6 alice-phone *\n${expiry - 7200} 52:54:00:00:00:03 10.9.0.8 gone *\n`,
      },
    });
    config = join(d.dir, 'aifence.yaml');
  });
  afterAll(() => d?.stop());

  const get = async (client: string, name = 'games.example') => {
    const res = await fetch(`http://127.0.0.1:${d.daemon.adminAddress!.port}/check?name=${name}&client=${encodeURIComponent(client)}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('the admin API decides for a host name (its lease\'s address), a static name, a device id; says how it read the client', async () => {
    expect((await get('alice-laptop')).body).toMatchObject({ verdict: 'blocked', group: 'lab', client: 'alice-laptop: lease of 10.9.0.5' });
    expect((await get('ALICE-LAPTOP')).body).toMatchObject({ group: 'lab' });
    expect((await get('printer-2f')).body).toMatchObject({ verdict: 'blocked', group: 'lab', client: 'printer-2f: static name of 10.9.0.7' });
    // alice-phone is a device id (phones decides) and a host name (its address decides access).
    expect((await get('alice-phone', 'chat.ai.example')).body).toMatchObject({ verdict: 'blocked', group: 'phones', client: 'alice-phone: device id, lease of 10.9.0.6' });
    expect((await get('alice-phone', 'games.example')).body).toMatchObject({ verdict: 'allowed', group: 'phones' });
    expect((await get('10.9.0.5')).body).not.toHaveProperty('client');
    // An expired lease names nobody; neither does an unknown id.
    for (const unknown of ['gone', 'nobody-phone']) {
      const r = await get(unknown);
      expect(r.status).toBe(400);
      expect(r.body.error).toContain(`client "${unknown}" is not an IP address (e.g. 10.0.0.5 or 2001:db8::5), a device id a group lists`);
    }
  });

  it('the CLI asks the daemon, or reads the config and lease files itself', async () => {
    const asked = await cli('--config', config, '--admin', `127.0.0.1:${d.daemon.adminAddress!.port}`, '--client', 'alice-laptop', 'games.example');
    expect(asked.stdout).toContain('# client alice-laptop: lease of 10.9.0.5\n');
    expect(asked.stdout).toMatch(/^games\.example\tblocked\tlab/m);
    expect(asked.stdout).toContain('# asked the running daemon');
    const offline = await cli('--config', config, '--offline', '--client', 'alice-phone', '--json', 'chat.ai.example');
    expect(JSON.parse(offline.stdout)).toMatchObject({ verdict: 'blocked', group: 'phones', client: 'alice-phone: device id, lease of 10.9.0.6', source: 'config' });
    const bad = await cli('--config', config, '--offline', '--client', 'nobody-phone', 'games.example');
    expect((bad as { code: number }).code).toBe(2);
    expect(bad.stderr).toContain('client "nobody-phone" is not an IP address');
  });

  it('aifence groups and the console show each group\'s devices beside its prefixes', async () => {
    const { stdout } = await run(process.execPath, [resolve('dist/cli.js'), 'groups', '--config', config], { encoding: 'utf8' });
    expect(stdout).toMatch(/^phones\tdevices: alice-phone$/m);
    expect(stdout).toMatch(/^lab\tclients: 10\.9\.0\.0\/16$/m);
    expect(d.daemon.consoleData().groups.find((g) => g.name === 'phones')?.clients).toEqual(['device alice-phone']);
  });

  it('a config without identity still takes a device id', async () => {
    const plain = join(d.dir, 'plain.yaml');
    writeFileSync(plain, 'upstream: { servers: ["127.0.0.1:9"] }\nadmin: { listen: off }\ngroups:\n  phones: { devices: [bob-phone], block: [list:ai] }\nlists:\n  ai: { source: ai.txt }\n');
    const r = await cli('--config', plain, '--client', 'bob-phone', 'chat.ai.example');
    expect(r.stdout).toContain('# client bob-phone: device id\n');
    expect(r.stdout).toMatch(/^chat\.ai\.example\tblocked\tphones/m);
  });
});
