// Watching the config and list files: editors and list updaters replace
// files by rename as often as they write in place, so the directories are
// watched and events filtered by file name, debounced into one call.
//
// A file may be a symlink whose target moves while its own name never
// changes: Kubernetes mounts a ConfigMap as `aifence.yaml -> ..data/aifence.yaml`
// with `..data -> ..2026_12_01_10_00_00.123`, and an update swaps the
// `..data` link by rename. So an event for any other name in a watched
// directory counts when it changed where a watched path resolves to; and the
// directory the link points into is watched too, for edits in place there.

import { type FSWatcher, realpathSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

const resolved = (path: string): string => {
  try {
    return realpathSync(path);
  } catch {
    return ''; // missing for now: a later event may bring it
  }
};

/** `onEvent`, if given, hears each change at once, before the debounce: a reader can know its copy is stale meanwhile. */
export function watchFiles(paths: readonly string[], onChange: () => void, debounceMs = 300, onEvent?: () => void): () => void {
  const byDir = new Map<string, Set<string>>();
  // Directories holding a watched path that is a link: only there can another name's event move a target.
  const linked = new Set<string>();
  const add = (p: string) => {
    const dir = dirname(p);
    if (!byDir.has(dir)) byDir.set(dir, new Set());
    byDir.get(dir)!.add(basename(p));
  };
  // Where each path resolves to now; a change is a reason to reload.
  const targets = new Map<string, string>();
  for (const p of paths) {
    add(p);
    const target = resolved(p);
    targets.set(p, target);
    if (target && target !== p) {
      add(target);
      linked.add(dirname(p));
    }
  }
  const retargeted = (): boolean => {
    let changed = false;
    for (const [p, before] of targets) {
      const now = resolved(p);
      if (now !== before) {
        targets.set(p, now);
        changed = true;
      }
    }
    return changed;
  };
  let timer: NodeJS.Timeout | undefined;
  const watchers: FSWatcher[] = [];
  for (const [dir, names] of byDir) {
    try {
      // Elsewhere a busy neighbour (a log, a benchmark's output) costs one name lookup per event, not a realpath per watched file.
      const links = linked.has(dir);
      const w = watch(dir, (_event, file) => {
        if (file !== null && !names.has(file.toString()) && !(links && retargeted())) return;
        onEvent?.();
        clearTimeout(timer);
        timer = setTimeout(onChange, debounceMs);
      });
      w.on('error', () => undefined); // a directory that goes away: the next reload re-arms
      watchers.push(w);
    } catch {
      // Missing directory: nothing to watch until a reload brings it back.
    }
  }
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
