// systemd socket activation, seen from outside: a parent process
// (test/support/socket-manager.py) holds the listening sockets and starts and
// restarts `node dist/cli.js serve` with them, as systemd does with
// deploy/systemd/aifence.socket; a probe in another process asks every 10 ms
// throughout. While no aifence runs the kernel queues the probe's queries on
// the held socket, so a restart loses none of them: it only delays them by
// the start-up time, which the longest gap reports (printed, not asserted:
// timing is for bench/start.ts). Without adoption the daemon could not even
// start here: the parent holds the ports.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SocketManager, SocketManager as Manager, freePort } from '../support/activation.js';
import { startProbe } from '../support/probe.js';
import { TYPES, decode, encodeQuery, query } from '../support/client.js';
import { toolsPresent } from '../support/tools.js';
import { TestUpstream } from '../support/upstream.js';

const NXDOMAIN = 3;
/** Enough names that a start takes a noticeable time (the gap a restart leaves). */
const NAMES = 50_000;
const LISTED = 'host7.zone7.test';
const havePython = toolsPresent(['python3'], 'python3');

let upstream: TestUpstream;
let dir: string;

beforeAll(async () => {
  upstream = await TestUpstream.start();
  dir = mkdtempSync(join(tmpdir(), 'aifence-activation-'));
  const lines: string[] = [];
  for (let i = 0; i < NAMES; i++) lines.push(`host${i}.zone${i % 1000}.test`);
  writeFileSync(join(dir, 'big.txt'), lines.join('\n') + '\n');
});

afterAll(async () => {
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A config for the ports the manager holds; returns its path. */
function config(name: string, port: number, extra = ''): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `listen: ["127.0.0.1:${port}"]
admin: { listen: "127.0.0.1:0" }
upstream: { servers: ["${upstream.address}"] }
dataDir: ${join(dir, `${name}-data`)}
lists: { big: { source: big.txt, format: domains } }
groups: { default: { block: [list:big] } }
${extra}`,
  );
  return file;
}

/** DNS over HTTP (plain, for a reverse proxy): GET /dns-query?dns=. */
async function dohQuery(port: number, name: string): Promise<number> {
  const dns = encodeQuery(name, TYPES.A, { id: 0 }).toString('base64url');
  const res = await fetch(`http://127.0.0.1:${port}/dns-query?dns=${dns}`);
  return decode(Buffer.from(await res.arrayBuffer())).rcode;
}

/** Restarts `times` times under the probe; every query the probe sent must be answered. */
async function restartUnderProbe(manager: SocketManager, port: number, times: number): Promise<void> {
  const probe = await startProbe(port, LISTED);
  await new Promise((r) => setTimeout(r, 300));
  // A TCP query that arrives while no process serves: it waits in the backlog of the held socket.
  let tcpDuringRestart: Promise<number> | undefined;
  for (let i = 0; i < times; i++) {
    const restarted = manager.restart();
    if (i === 0) {
      await manager.until(() => manager.exits().length > 0, 20_000);
      tcpDuringRestart = query(port, LISTED, TYPES.A, { tcp: true, timeoutMs: 30_000 }).then((a) => a.rcode);
    }
    await restarted;
    await new Promise((r) => setTimeout(r, 300));
  }
  const summary = await probe.stop();
  console.log(`probe over ${times} restarts: ${JSON.stringify(summary)}; start-up times (ms): ${manager.serving().map((s) => s.startMs).join(', ')}`);
  expect(summary.sent).toBeGreaterThan(100);
  expect(summary.lost).toBe(0);
  expect(summary.answered).toBe(summary.sent);
  expect(await tcpDuringRestart).toBe(NXDOMAIN);
  expect(manager.exits().every((e) => e.code === 0)).toBe(true);
}

describe.runIf(havePython)('socket activation, workers: 1', () => {
  let manager: SocketManager;
  let port: number;
  let http: number;

  beforeAll(async () => {
    port = await freePort();
    http = await freePort();
    const file = config('one', port, `listenHttp: ["127.0.0.1:${http}"]\n`);
    manager = await Manager.start([`udp:127.0.0.1:${port}`, `tcp:127.0.0.1:${port}`, `tcp:127.0.0.1:${http}`], file, join(dir, 'one.log'));
    await manager.start();
  }, 90_000);

  afterAll(async () => {
    await manager?.close();
  });

  it('adopts the passed UDP, TCP and DoH sockets, says so at start, and answers on each', async () => {
    expect(manager.serving()[0]).toMatchObject({
      listen: [`127.0.0.1:${port}`],
      listenHttp: [`127.0.0.1:${http}`],
      adopted: [`udp 127.0.0.1:${port} (fd 3, aifence.socket)`, `tcp 127.0.0.1:${port} (fd 4, aifence.socket)`, `tcp 127.0.0.1:${http} (fd 5, aifence.socket)`],
    });
    expect((await query(port, LISTED)).rcode).toBe(NXDOMAIN);
    expect((await query(port, LISTED, TYPES.A, { tcp: true })).rcode).toBe(NXDOMAIN);
    expect(await dohQuery(http, LISTED)).toBe(NXDOMAIN);
    expect((await query(port, 'allowed.example')).rcode).toBe(0);
  });

  it('restarts twice under a probe asking every 10 ms: not one query lost, a TCP query made meanwhile answered', async () => {
    await restartUnderProbe(manager, port, 2);
    expect(await dohQuery(http, LISTED)).toBe(NXDOMAIN);
  }, 120_000);
});

describe.runIf(havePython)('socket activation, workers: 2', () => {
  let manager: SocketManager;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    manager = await Manager.start([`udp:127.0.0.1:${port}`, `tcp:127.0.0.1:${port}`], config('two', port, 'workers: 2\n'), join(dir, 'two.log'));
    await manager.start();
  }, 90_000);

  afterAll(async () => {
    await manager?.close();
  });

  it('both worker threads answer from the one passed UDP socket', async () => {
    const admin = (manager.serving()[0].admin as string).split(':')[1];
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 32 }, (_, i) => query(port, `host${round * 32 + i}.zone${i}.test`)));
      const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
      const workers = new Set([...metrics.matchAll(/^aifence_queries_total\{[^}]*verdict="blocked"[^}]*worker="(\d)"\} \d+$/gm)].map((m) => m[1]));
      if (workers.size === 2) return;
    }
    throw new Error('only one worker thread answered 640 queries');
  });

  it('restarts under a probe asking every 10 ms: not one query lost', async () => {
    await restartUnderProbe(manager, port, 1);
  }, 120_000);
});

describe.runIf(havePython)('socket activation errors', () => {
  it('a passed socket that matches no listen address stops the start with an error naming it', async () => {
    const port = await freePort();
    const stray = await freePort();
    const manager = await Manager.start([`udp:127.0.0.1:${port}`, `udp:127.0.0.1:${stray}`], config('stray', port), join(dir, 'stray.log'));
    try {
      await manager.start();
      expect(manager.exits()).toMatchObject([{ code: 2 }]);
      expect(manager.output()).toContain(`the service manager passed a socket that matches no listen address: udp 127.0.0.1:${stray} (fd 4, aifence.socket)`);
    } finally {
      await manager.close();
    }
  }, 60_000);
});
