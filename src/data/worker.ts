// A worker thread's entry: one data plane, driven by the control plane's
// messages (src/shared/channel.ts). It answers queries; everything else
// (reloads, the admin API, the query log, metrics, timers) stays on the
// control thread, which reads each answered query from a shared ring
// (src/data/events.ts).

import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import type { FromWorker, ToWorker, WorkerStart } from '../shared/channel.js';
import type { FilterState } from '../shared/filter.js';
import { EventWriter } from './events.js';
import { stateOf, swapVerdicts } from './filter.js';
import { DataPlane } from './plane.js';

const start = workerData as WorkerStart;
const port = parentPort!;
const send = (message: FromWorker) => port.postMessage(message);

// Log lines go to the control thread's logger, which adds `worker` and writes them where it writes its own.
const log = pino({ level: start.logLevel, base: undefined }, { write: (line: string) => send({ kind: 'log', line }) });

let generation = start.filter.generation;
let state: FilterState = stateOf(start.filter, start.tables);
let plane: DataPlane | null = null;
const events = new EventWriter(start.events);
const sharesSockets = start.passed.some((s) => s.adopt && s.shared);

port.on('message', (m: ToWorker) => {
  if (m.kind === 'exit') return port.close();
  if (plane === null) return;
  switch (m.kind) {
    case 'filter':
      generation = m.filter.generation;
      state = stateOf(m.filter, m.tables);
      plane.setFilter(state);
      return;
    case 'verdicts':
      // Tables compiled for a filter this worker no longer serves are dropped: the next filter brings its own.
      if (m.generation === generation) swapVerdicts(state, m.tables);
      return;
    case 'configure':
      plane.configure(m.config, m.cache && { memory: m.cache, owner: start.index + 1 });
      return;
    case 'stats':
      // Every query these count is in the ring already: the control thread drains it when the counters arrive.
      send({ kind: 'stats', id: m.id, stats: plane.stats() });
      return;
    case 'stop':
      void plane.stop(m.drainMs).then(() => {
        send({ kind: 'stopped' });
        // A passed socket shared with other workers is still open here: if this thread ended now, its
        // teardown would close the descriptor under a worker still draining. The control thread says when.
        if (!sharesSockets) port.close();
      });
      return;
  }
});

try {
  plane = await DataPlane.start(
    start.config,
    state,
    {
      listen: start.listen,
      reusePort: true,
      watchTls: start.watchTls,
      share: start.share,
      cache: { memory: start.cache, owner: start.index + 1 },
      clients: { memory: start.clients, worker: start.index },
      passed: start.passed,
    },
    log,
  );
  plane.resolver.observers.add(events);
  send({ kind: 'started', addresses: plane.addresses });
} catch (err) {
  const e = err as Error & { code?: string };
  send({ kind: 'failed', error: e.message, code: e.code });
  port.close();
}
