// Child processes of the benchmark: started pinned to a core, watched for
// their "ready" line, measured through /proc, and all killed when the
// benchmark ends however it ends.

import { type ChildProcess, type StdioOptions, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

const children = new Set<ChildProcess>();

/**
 * Spawns a child in its own process group, remembered until it exits, so
 * that killing the group also takes what it forked (nsd runs three processes).
 */
export function spawnTracked(argv: string[], stdio: StdioOptions): ChildProcess {
  const child = spawn(argv[0], argv.slice(1), { stdio, detached: true });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Kills every child still running, with all it forked; synchronous, so it works in an exit handler. */
export function killAll(): void {
  for (const child of children) killGroup(child, 'SIGKILL');
  children.clear();
}

/** Children die with us: on normal exit, on an uncaught error and on Ctrl-C / SIGTERM. */
export function cleanUpOnExit(onSignal: () => void): void {
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      killAll();
      onSignal();
      process.exit(130);
    });
  }
}

export function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (dir && existsSync(`${dir}/${cmd}`)) return `${dir}/${cmd}`;
  }
  return null;
}

/** Core assignment: servers on core 0, load generator (and upstream) on core 1 — when there are two cores and taskset. */
export const pinning: { server: string[]; client: string[]; note: string } = (() => {
  const taskset = which('taskset');
  if (taskset && availableParallelism() >= 2) {
    return { server: [taskset, '-c', '0'], client: [taskset, '-c', '1'], note: 'server pinned to core 0, dnsperf and upstream to core 1 (taskset)' };
  }
  return { server: [], client: [], note: taskset ? 'not pinned: fewer than 2 cores' : 'not pinned: taskset not found' };
})();

export interface Started {
  child: ChildProcess;
  pid: number;
  /** The stdout text that matched a RegExp `ready` (null when readiness was probed). */
  ready: RegExpExecArray | null;
  /** Milliseconds from spawn to ready. */
  readyMs: number;
  stop(): Promise<void>;
}

/**
 * Spawns `argv` (prefixed by `pin`) and waits until it is ready: a stdout
 * line matching `ready`, or `ready()` resolving true for servers that print
 * nothing. taskset execs its command, so the pid is the server's own.
 * Stdout keeps being read afterwards: a full pipe would stall the server.
 */
export function startServer(argv: string[], pin: string[], ready: RegExp | (() => Promise<boolean>), timeoutMs: number): Promise<Started> {
  const full = [...pin, ...argv];
  const t0 = performance.now();
  const child = spawnTracked(full, ['ignore', 'pipe', 'pipe']);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 8192) stderr += d.toString();
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
  };
  return new Promise<Started>((resolve, reject) => {
    let buffered = '';
    let done = false;
    const succeed = (m: RegExpExecArray | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ child, pid: child.pid as number, ready: m, readyMs: performance.now() - t0, stop });
    };
    const fail = (why: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void stop();
      reject(new Error(`${full.join(' ')}: ${why}${stderr ? `\n${stderr.trim()}` : ''}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${timeoutMs} ms`), timeoutMs);
    child.on('error', (err) => fail(err.message));
    child.on('exit', (code, signal) => fail(`exited (${signal ?? code}) before it was ready`));
    child.stdout?.on('data', (d: Buffer) => {
      if (done || !(ready instanceof RegExp)) return;
      buffered += d.toString();
      const m = ready.exec(buffered);
      if (m) succeed(m);
      else if (buffered.length > 1 << 20) buffered = buffered.slice(-4096);
    });
    if (!(ready instanceof RegExp)) {
      const poll = async () => {
        while (!done) {
          if (await ready()) return succeed(null);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      void poll();
    }
  });
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system, all threads) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuSplit(pid);
  return user + system;
}

/** The same, as time in the process itself (user) and in the kernel for it (system: its system calls, the network stack). */
export function cpuSplit(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)" — comm may contain spaces; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(rest[11]) / CLK_TCK, system: Number(rest[12]) / CLK_TCK };
}

export function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
