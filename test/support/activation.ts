// The built daemon started as systemd starts a socket-activated service:
// test/support/socket-manager.py holds the listening sockets, starts
// `node dist/cli.js serve` with them (LISTEN_FDS, LISTEN_PID) and restarts
// it on request, as `systemctl restart` does.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

const CLI = resolve('dist/cli.js');
const MANAGER = resolve('test/support/socket-manager.py');

export interface ManagerEvent {
  event?: 'started' | 'exited' | 'restarted';
  pid?: number;
  code?: number;
  stopMs?: number;
}

export class SocketManager {
  private readonly events: ManagerEvent[] = [];
  private waiters: (() => void)[] = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly log: string,
  ) {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        this.events.push(JSON.parse(buffered.slice(0, nl)) as ManagerEvent);
        buffered = buffered.slice(nl + 1);
        for (const w of this.waiters.splice(0)) w();
      }
    });
  }

  /**
   * `sockets`: `udp:HOST:PORT` or `tcp:HOST:PORT`; the daemon's output goes to `log`. `env`: the daemon's whole
   * environment (default: this process's); `cli`: another build's dist/cli.js.
   */
  static async start(sockets: string[], config: string, log: string, options: { env?: Record<string, string>; cli?: string } = {}): Promise<SocketManager> {
    const args = [MANAGER, ...sockets.flatMap((s) => [`--${s.slice(0, 3)}`, s.slice(4)]), '--log', log, '--', process.execPath, options.cli ?? CLI, 'serve', '--config', config];
    const child = spawn('python3', args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const manager = new SocketManager(child, log);
    // {"ports": ...}: bound. A manager that could not bind (a port taken meanwhile) exits: say why.
    await manager.until(() => manager.events.length > 0 || child.exitCode !== null, 60_000);
    if (manager.events.length === 0) throw new Error(`socket-manager.py exited (${child.exitCode}): ${stderr.trim()}`);
    return manager;
  }

  private send(command: string): void {
    this.child.stdin!.write(`${command}\n`);
  }

  /** Waits until `done()`, re-checked on each event and every 50 ms. */
  async until(done: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out; daemon output:\n${this.output().slice(-3000)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  output(): string {
    return existsSync(this.log) ? readFileSync(this.log, 'utf8') : '';
  }

  /** The start log lines ("aifence serving") written so far. */
  serving(): Record<string, unknown>[] {
    return this.output()
      .split('\n')
      .filter((l) => l.includes('"msg":"aifence serving"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  exits(): ManagerEvent[] {
    return this.events.filter((e) => e.event === 'exited');
  }

  /** Starts the daemon and waits until it serves (or exits). */
  async start(timeoutMs = 60_000): Promise<void> {
    const before = this.serving().length;
    const exits = this.exits().length;
    this.send('start');
    await this.until(() => this.serving().length > before || this.exits().length > exits, timeoutMs);
  }

  /** SIGTERM, wait for the exit, start again (the sockets stay open throughout); resolves once the new process serves. */
  async restart(timeoutMs = 60_000): Promise<void> {
    const before = this.serving().length;
    this.send('restart');
    await this.until(() => this.serving().length > before, timeoutMs);
  }

  async close(): Promise<void> {
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.send('quit');
    this.child.stdin!.end();
    await exited;
  }
}

/** Ports handed out already: the kernel may offer a released port again at once. */
const given = new Set<number>();

/** A port free for both UDP and TCP on 127.0.0.1 now (the manager binds it right after), never the same twice. */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    const udp = createSocket('udp4');
    const free = await new Promise<boolean>((r) => {
      udp.once('error', () => r(false));
      udp.bind(port, '127.0.0.1', () => r(true));
    });
    udp.close();
    await new Promise((r) => server.close(r));
    if (free && !given.has(port)) {
      given.add(port);
      return port;
    }
  }
}
