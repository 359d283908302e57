// The daemon's memory settings, applied by `aifence serve` itself so that the
// bin alone gets them (a systemd unit, `npx aifence serve`, a container),
// with no environment of its own:
//
// - a 4 MB V8 semi-space: a query storm's garbage dies young in a small young
//   generation instead of growing it (and RSS) to 16-32 MB semi-spaces;
// - glibc's MALLOC_TRIM_THRESHOLD_: memory freed after a list (re)load goes
//   back to the system instead of staying in malloc's heap.
//
// Neither can be set from inside a running process (V8 sizes the young
// generation when the isolate is created, v8.setFlagsFromString comes too
// late; glibc reads the variable at its first malloc), so serve re-executes
// itself once with them, by execve: the same PID (systemd's MAINPID, docker's
// PID 1) that gets the signals, the same stdio, the exit code its own. This
// module loads nothing but node: it runs before the program is imported.

import { accessSync, constants } from 'node:fs';

export const SEMI_SPACE_MB = 4;
export const MALLOC_TRIM_THRESHOLD = 131072;
/** Set to `applied` by the re-exec (so it never loops); an admin sets `off` to run as started. */
export const MARKER = 'AIFENCE_MEMORY_SETTINGS';

// V8 takes dashes or underscores; `=N` or the value as the next word.
const SEMI_SPACE = /(?:^|\s)--max[-_]semi[-_]space[-_]size(?:=|\s+)(\d+)/g;

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

/** The semi-space size in force: the last one given, command line after NODE_OPTIONS (as node applies them). */
function semiSpaceMB(p: ProcessView): number | null {
  const all = [...`${p.env.NODE_OPTIONS ?? ''} ${p.execArgv.join(' ')}`.matchAll(SEMI_SPACE)];
  return all.length > 0 ? Number(all[all.length - 1][1]) : null;
}

function trimThreshold(p: ProcessView): number | null {
  const v = p.env.MALLOC_TRIM_THRESHOLD_;
  return v === undefined || v === '' ? null : Number(v);
}

/** What to exec so that serve runs with both settings, or null when it already does, or must not. */
export function memoryExecPlan(p: ProcessView): ExecPlan | null {
  const marker = p.env[MARKER];
  if (marker === 'applied' || marker === 'off') return null;
  const addFlag = semiSpaceMB(p) === null;
  const addTrim = trimThreshold(p) === null;
  if (!addFlag && !addTrim) return null;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.env)) if (v !== undefined) env[k] = v;
  if (addTrim) env.MALLOC_TRIM_THRESHOLD_ = String(MALLOC_TRIM_THRESHOLD);
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
  if (process.argv[2] !== 'serve' || typeof process.execve !== 'function') return;
  const plan = memoryExecPlan(process);
  if (!plan) return;
  // A failed execve aborts node (no exception to catch): make sure the binary is still there to run.
  try {
    accessSync(plan.file, constants.X_OK);
  } catch {
    return;
  }
  process.execve(plan.file, plan.args, plan.env);
}

export interface MemorySettings {
  semiSpaceMB: number | null;
  mallocTrimThreshold: number | null;
  /** serve: by the re-exec; environment: the admin's or the service's own; off: AIFENCE_MEMORY_SETTINGS=off; unavailable: could not re-exec (no process.execve, Node < 22.15). */
  appliedBy: 'serve' | 'environment' | 'off' | 'unavailable';
}

/** The settings this process runs with, for the start log. */
export function memorySettings(p: ProcessView = process): MemorySettings {
  const semi = semiSpaceMB(p);
  const trim = trimThreshold(p);
  const marker = p.env[MARKER];
  const appliedBy = marker === 'applied' ? 'serve' : marker === 'off' ? 'off' : semi !== null && trim !== null ? 'environment' : 'unavailable';
  return { semiSpaceMB: semi, mallocTrimThreshold: trim, appliedBy };
}
