// The built daemon (`node dist/cli.js serve`) in its own process, for tests
// that must see it from outside: its memory from /proc, its stalls from
// another process. The config is written as YAML like an admin's.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const CLI = resolve('dist/cli.js');

export interface DaemonProcess {
  child: ChildProcess;
  /** The UDP/TCP port it listens on (127.0.0.1). */
  port: number;
  /** The admin API's port (127.0.0.1). */
  adminPort: number;
  dir: string;
  /** Everything it wrote to stdout and stderr so far (its JSON log lines). */
  output(): string;
  /** Resident memory now, in KiB, from /proc/PID/status. */
  rssKb(): number;
  stop(): void;
}

/** Resident memory of a process in KiB. */
export const rssKb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

export interface SpawnOptions {
  admin?: string;
  /** The address to listen on (port 0: the kernel picks); default 127.0.0.1. */
  listen?: string;
  /** A network namespace to run it in (`ip netns exec`), as a resolver on that LAN. */
  netns?: string;
}

/** Starts the daemon with `yaml` (files written beside it) and resolves once it says where it listens. */
export async function spawnDaemon(yaml: string, files: Record<string, string> = {}, options: SpawnOptions = {}): Promise<DaemonProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'aifence-process-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const file = join(dir, 'aifence.yaml');
  writeFileSync(file, yaml);
  const listen = options.listen ?? '127.0.0.1';
  const args = [CLI, 'serve', '--config', file, '--listen', `${listen}:0`, '--admin', options.admin ?? '127.0.0.1:0'];
  const child = options.netns ? spawn('ip', ['netns', 'exec', options.netns, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const bound = new RegExp(`"listen":\\["${listen.replace(/\./g, '\\.')}:(\\d+)"\\],"admin":"127\\.0\\.0\\.1:(\\d+)"`);
  const [port, adminPort] = await new Promise<[number, number]>((ok, fail) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = bound.exec(out);
      if (m) ok([Number(m[1]), Number(m[2])]);
    });
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', () => fail(new Error(`serve exited early: ${out}`)));
  });
  return { child, port, adminPort, dir, output: () => out, rssKb: () => rssKb(child.pid!), stop: () => void child.kill('SIGTERM') };
}
