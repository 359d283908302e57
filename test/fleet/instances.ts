// aifence instances as an office runs them: the built CLI in its own
// process each, sharing state and log servers, queried over real sockets.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TYPES, query } from '../support/client.js';
import { RedisServer } from '../support/servers.js';
import { TestUpstream } from '../support/upstream.js';

const CLI = resolve('dist/cli.js');
export const TOKEN = 'fleet-test-token-0123456789';

export interface Instance {
  name: string;
  child: ChildProcess;
  port: number;
  admin: string;
  output: () => string;
  stop(): Promise<void>;
}

/** Starts `aifence serve` in `dir/name` with `config` (YAML body; listen, admin, dataDir added; `adminKeys`: more admin keys, e.g. `, tokens: {...}`). */
export async function startInstance(dir: string, name: string, config: string, files: Record<string, string> = {}, adminKeys = ''): Promise<Instance> {
  const home = join(dir, name);
  mkdirSync(home, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(home, file), text);
  const file = join(home, 'aifence.yaml');
  writeFileSync(file, `admin: { listen: "127.0.0.1:0", token: "${TOKEN}"${adminKeys} }\ndataDir: ${join(home, 'data')}\n${config}`);
  const child = spawn(process.execPath, [CLI, 'serve', '--config', file, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const [port, admin] = await new Promise<[number, string]>((ok, fail) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"listen":\["127\.0\.0\.1:(\d+)"\],"admin":"(127\.0\.0\.1:\d+)"/.exec(out);
      if (m) ok([Number(m[1]), `http://${m[2]}`]);
    });
    child.on('exit', () => fail(new Error(`${name} exited early: ${out}`)));
  });
  return {
    name,
    child,
    port,
    admin,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function api(i: Instance, method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(i.admin + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // text
  }
  return { status: res.status, body: parsed };
}

export const rcodeOf = async (i: Instance, name: string): Promise<number> => (await query(i.port, name, TYPES.A, { timeoutMs: 2000 })).rcode;

/** Polls every 10 ms until `check` holds; the milliseconds it took. Throws after `ms`. */
export async function within(ms: number, check: () => Promise<boolean>, what: string): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Pair {
  upstream: TestUpstream;
  redis: RedisServer;
  /** Where the instances live (each in its own folder, its dataDir inside). */
  dir: string;
  a: Instance;
  b: Instance;
  stop(): Promise<void>;
}

/**
 * Two instances, site1-a and site1-b, sharing a real Redis and one upstream,
 * each with `body(upstream, redis)` as its config (after `state`), once both
 * are connected to Redis.
 */
export async function startPair(body: string, files: Record<string, string>, admin = ''): Promise<Pair> {
  const upstream = await TestUpstream.start();
  const redis = await RedisServer.start();
  const dir = mkdtempSync(join(tmpdir(), 'aifence-fleet-'));
  const config = (name: string) => `upstream: { servers: ["${upstream.address}"], timeout: 1s }\nstate: { redis: "${redis.url}", instance: ${name} }\n${body}`;
  const [a, b] = await Promise.all([startInstance(dir, 'a', config('site1-a'), files, admin), startInstance(dir, 'b', config('site1-b'), files, admin)]);
  for (const i of [a, b]) await within(10_000, async () => (await api(i, 'GET', '/readyz')).body.sharedState?.connected === true, `${i.name} connects to Redis`);
  return {
    upstream,
    redis,
    dir,
    a,
    b,
    stop: async () => {
      await Promise.all([a.stop(), b.stop()]);
      await redis.stop();
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
