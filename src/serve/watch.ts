// Watching the config and list files: editors and list updaters replace
// files by rename as often as they write in place, so the directories are
// watched and events filtered by file name, debounced into one call.

import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

export function watchFiles(paths: readonly string[], onChange: () => void, debounceMs = 300): () => void {
  const byDir = new Map<string, Set<string>>();
  for (const p of paths) {
    const dir = dirname(p);
    if (!byDir.has(dir)) byDir.set(dir, new Set());
    byDir.get(dir)!.add(basename(p));
  }
  let timer: NodeJS.Timeout | undefined;
  const watchers: FSWatcher[] = [];
  for (const [dir, names] of byDir) {
    try {
      const w = watch(dir, (_event, file) => {
        if (file !== null && !names.has(file.toString())) return;
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
