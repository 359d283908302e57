// Throwaway Redis and PostgreSQL servers for the fleet tests: Debian's own
// binaries, on a free loopback port, in a temp dir, without persistence,
// stopped by the test. PostgreSQL refuses to run as root, so when the tests
// run as root it runs as the `postgres` user the package creates (or nobody).
// Also free loopback ports, above 1024 and below, for any test.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A port below 1024 free for both UDP and TCP on loopback (checked as root, then released). */
export async function lowPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 600 + Math.floor(Math.random() * 400);
    const udp = createSocket('udp4');
    const tcp = createServer();
    const free = await new Promise<boolean>((ok) => {
      udp.once('error', () => ok(false));
      udp.bind(port, '127.0.0.1', () => {
        tcp.once('error', () => ok(false));
        tcp.listen(port, '127.0.0.1', () => ok(true));
      });
    });
    udp.close();
    tcp.close();
    if (free) return port;
  }
  throw new Error('no free port below 1024');
}

async function waitFor(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not come up within ${ms} ms`);
}

export class RedisServer {
  private child: ChildProcess | null = null;
  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<RedisServer> {
    const r = new RedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'aifence-redis-')));
    await r.restart();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it (again) on the same port, empty: no persistence. */
  async restart(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--daemonize', 'no', '--logfile', ''];
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    this.child = child;
    await waitFor(() => spawnSync('redis-cli', ['-p', String(this.port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG', 10_000, 'redis-server');
  }

  /** SIGKILL, as a crash would. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.child = null;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Debian's postgresql is installed (its binaries live in /usr/lib/postgresql/N/bin, not on PATH); in CI its absence fails. */
export function postgresPresent(): boolean {
  if (existsSync(pgBin('initdb')) && existsSync(pgBin('postgres'))) return true;
  const message = 'PostgreSQL not installed: apt-get install postgresql (.ci/run does)';
  if (process.env.CI) throw new Error(message);
  console.warn(`skipped: ${message}`);
  return false;
}

/** The binaries of Debian's newest installed PostgreSQL, when the plain names are not on PATH. */
function pgBin(name: string): string {
  for (const v of ['18', '17', '16', '15', '14', '13']) {
    const p = `/usr/lib/postgresql/${v}/bin/${name}`;
    if (existsSync(p)) return p;
  }
  return name;
}

export class PostgresServer {
  private child: ChildProcess | null = null;
  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `postgres://aifence@127.0.0.1:${this.port}/postgres`;
  }

  static async start(): Promise<PostgresServer> {
    const dir = mkdtempSync(join(tmpdir(), 'aifence-pg-'));
    const pg = new PostgresServer(await freePort(), dir);
    const data = join(dir, 'data');
    const asUser = process.getuid?.() === 0 ? unprivileged() : [];
    if (asUser.length > 0) {
      const uid = Number(spawnSync('id', ['-u', asUser[0].replace('--reuid=', '')], { encoding: 'utf8' }).stdout.trim() || 65534);
      chownSync(dir, uid, -1);
      chmodSync(dir, 0o700);
    }
    const run = (cmd: string, args: string[]) => (asUser.length > 0 ? spawn('setpriv', [...asUser, '--clear-groups', '--', cmd, ...args], { stdio: 'pipe' }) : spawn(cmd, args, { stdio: 'pipe' }));
    const init = run(pgBin('initdb'), ['-D', data, '-U', 'aifence', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    let initErr = '';
    init.stderr!.on('data', (c: Buffer) => (initErr += c.toString()));
    const code = await new Promise((r) => init.on('exit', r));
    if (code !== 0) throw new Error(`initdb failed: ${initErr}`);
    const child = run(pgBin('postgres'), ['-D', data, '-p', String(pg.port), '-h', '127.0.0.1', '-k', dir, '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']);
    child.stdout!.resume();
    child.stderr!.resume();
    pg.child = child;
    await waitFor(() => spawnSync(pgBin('pg_isready'), ['-h', '127.0.0.1', '-p', String(pg.port)]).status === 0, 20_000, 'postgres');
    return pg;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT'); // fast shutdown
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** setpriv arguments for the `postgres` user Debian's package creates, or nobody. */
function unprivileged(): string[] {
  const hasPostgres = spawnSync('id', ['-u', 'postgres']).status === 0;
  return hasPostgres ? ['--reuid=postgres', '--regid=postgres'] : ['--reuid=nobody', '--regid=nogroup'];
}
