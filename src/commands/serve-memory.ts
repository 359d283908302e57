// The daemon's memory settings, applied by `aifence serve` itself so that the
// bin alone gets them (a systemd unit, `npx aifence serve`, a container),
// with no environment of its own:
//
// - a 4 MB V8 semi-space: a query storm's garbage dies young in a small young
//   generation instead of growing it (and RSS) to 16-32 MB semi-spaces;
// - glibc's MALLOC_TRIM_THRESHOLD_: memory freed after a list (re)load goes
//   back to the system instead of staying in malloc's heap;
// - glibc's MALLOC_ARENA_MAX, 2 plus one a core: V8's helper threads (GC,
//   compilers) each kept an arena of freed memory, ~15 MB in all after a
//   miss storm with glibc's default (8 a core); but query threads
//   (`workers: auto` starts one a core) malloc 64 KB for every datagram they
//   receive, and must not queue for two arenas' locks;
// - once serving, V8's --heap-growing-percent=50: the old generation may grow
//   to 1.5x what was live at the last full GC before the next one, where V8
//   allows up to 4x when garbage comes fast (a miss storm: +40 MB RSS). Set
//   at run time, after the lists are compiled: during the start-up compile
//   it would cost ~100 ms of ready time.
//
// Neither can be set from inside a running process (V8 sizes the young
// generation when the isolate is created, v8.setFlagsFromString comes too
// late; glibc reads the variable at its first malloc), so serve re-executes
// itself once with them, by execve: the same PID (systemd's MAINPID, docker's
// PID 1) that gets the signals, the same stdio, the exit code its own. This
// module loads nothing but node (and the tiny startup clock): it runs before
// the program is imported.

import { accessSync, constants } from 'node:fs';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { STARTED_AT, startup } from '../shared/startup.js';

export const SEMI_SPACE_MB = 4;
export const MALLOC_TRIM_THRESHOLD = 131072;
export const MALLOC_ARENA_MAX = 2 + availableParallelism();
/** The glibc variables serve sets, each unless the environment has it already. */
const MALLOC_ENV = { MALLOC_TRIM_THRESHOLD_: MALLOC_TRIM_THRESHOLD, MALLOC_ARENA_MAX } as const;
export const HEAP_GROWING_PERCENT = 50;
/** Set to `applied` by the re-exec (so it never loops); an admin sets `off` to run as started. */
export const MARKER = 'AIFENCE_MEMORY_SETTINGS';

// V8 takes dashes or underscores; `=N` or the value as the next word.
const SEMI_SPACE = /(?:^|\s)--max[-_]semi[-_]space[-_]size(?:=|\s+)(\d+)/g;
const HEAP_GROWING = /(?:^|\s)--heap[-_]growing[-_]percent(?:=|\s+)(\d+)/g;

interface ProcessView {
  execPath: string;
  execArgv: readonly string[];
  argv: readonly string[];
  env: Record<string, string | undefined>;
}

export interface ExecPlan {
  file: string;
  args: string[];
  env: Record<string, string>;
}

/** A V8 flag's value in force: the last one given, command line after NODE_OPTIONS (as node applies them). */
function v8Flag(p: ProcessView, flag: RegExp): number | null {
  const all = [...`${p.env.NODE_OPTIONS ?? ''} ${p.execArgv.join(' ')}`.matchAll(flag)];
  return all.length > 0 ? Number(all[all.length - 1][1]) : null;
}
const semiSpaceMB = (p: ProcessView) => v8Flag(p, SEMI_SPACE);

function envNumber(p: ProcessView, name: keyof typeof MALLOC_ENV): number | null {
  const v = p.env[name];
  return v === undefined || v === '' ? null : Number(v);
}

/** What to exec so that serve runs with all the settings, or null when it already does, or must not. */
export function memoryExecPlan(p: ProcessView): ExecPlan | null {
  const marker = p.env[MARKER];
  if (marker === 'applied' || marker === 'off') return null;
  const addFlag = semiSpaceMB(p) === null;
  const addEnv = (Object.keys(MALLOC_ENV) as (keyof typeof MALLOC_ENV)[]).filter((name) => envNumber(p, name) === null);
  if (!addFlag && addEnv.length === 0) return null;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.env)) if (v !== undefined) env[k] = v;
  for (const name of addEnv) env[name] = String(MALLOC_ENV[name]);
  env[MARKER] = 'applied';
  // On the command line rather than in NODE_OPTIONS: the admin's NODE_OPTIONS stay as they were,
  // and `ps` shows the flag. Node's own options (--inspect, a loader) stay in front of it.
  const [, script, ...rest] = p.argv;
  const args = [p.execPath, ...p.execArgv, ...(addFlag ? [`--max-semi-space-size=${SEMI_SPACE_MB}`] : []), script, ...rest];
  return { file: p.execPath, args, env };
}

/**
 * For `aifence serve` only: re-executes this process with the settings when
 * they are missing. Returns when nothing is to be done or it cannot be done
 * (a Node without process.execve: serve's log then says what is missing).
 */
export function applyMemorySettings(): void {
  if (process.argv[2] !== 'serve' || typeof process.execve !== 'function' || passedSockets()) return;
  const plan = memoryExecPlan(process);
  if (!plan) return;
  // A failed execve aborts node (no exception to catch): make sure the binary is still there to run.
  try {
    accessSync(plan.file, constants.X_OK);
  } catch {
    return;
  }
  try {
    // The start log's phases count from this Node's start, not the next one's.
    process.execve(plan.file, plan.args, { ...plan.env, [STARTED_AT]: String(startup.origin) });
  } catch {
    // Refused before the call (node's permission model without --allow-child-process): run as started.
  }
}

/**
 * A service manager passed this process its listening sockets (systemd
 * socket activation, LISTEN_PID naming this PID): they would not survive the
 * exec, because Node marks every inherited descriptor close-on-exec as it
 * starts. Such a start takes the settings from the unit's Environment=.
 */
export const passedSockets = (env: Record<string, string | undefined> = process.env, pid = process.pid): boolean =>
  env.LISTEN_FDS !== undefined && env.LISTEN_PID === String(pid);

/**
 * For serve, once the daemon is serving: caps the old generation's growth
 * between full GCs, unless the admin chose a growth of their own (or turned
 * the settings off). Returns the percentage in force, null for V8's own.
 */
export function limitHeapGrowth(p: ProcessView = process): number | null {
  const own = v8Flag(p, HEAP_GROWING);
  if (own !== null || p.env[MARKER] === 'off') return own;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return HEAP_GROWING_PERCENT;
}

export interface MemorySettings {
  semiSpaceMB: number | null;
  mallocTrimThreshold: number | null;
  mallocArenaMax: number | null;
  /** Set by limitHeapGrowth once serving; null here until then. */
  heapGrowingPercent: number | null;
  /** serve: by the re-exec; environment: the admin's or the service's own; off: AIFENCE_MEMORY_SETTINGS=off; unavailable: could not re-exec (no process.execve, Node < 22.15). */
  appliedBy: 'serve' | 'environment' | 'off' | 'unavailable';
}

/** The settings this process runs with, for the start log. */
export function memorySettings(p: ProcessView = process): MemorySettings {
  const semi = semiSpaceMB(p);
  const trim = envNumber(p, 'MALLOC_TRIM_THRESHOLD_');
  const arenas = envNumber(p, 'MALLOC_ARENA_MAX');
  const marker = p.env[MARKER];
  const complete = semi !== null && trim !== null && arenas !== null;
  const appliedBy = marker === 'applied' ? 'serve' : marker === 'off' ? 'off' : complete ? 'environment' : 'unavailable';
  return { semiSpaceMB: semi, mallocTrimThreshold: trim, mallocArenaMax: arenas, heapGrowingPercent: v8Flag(p, HEAP_GROWING), appliedBy };
}
