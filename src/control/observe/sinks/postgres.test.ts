// The sink's bounds without a database: entries wait in the ring while the
// database is unreachable, the rest are dropped and counted, nothing throws.

import { describe, expect, it } from 'vitest';
import { QueryEvent } from '../../../shared/events.js';
import { createLogger } from '../../../shared/logger.js';
import { PostgresQueryLog } from './postgres.js';

describe('PostgreSQL query log without a database', () => {
  it('holds at most its capacity, counts the drops, and closes without waiting for the database', async () => {
    const log = createLogger({ level: 'silent', destination: { write: () => undefined } });
    const sink = new PostgresQueryLog({ mode: 'all', path: '', maxSize: 0, keep: 0, anonymize: false }, 'postgres://aifence@127.0.0.1:9/none', 'x', log, { capacity: 10, retryMs: 50 });
    const e = new QueryEvent();
    e.client = '10.0.0.1';
    for (let i = 0; i < 25; i++) sink.observe(e);
    expect(sink.pending).toBe(10);
    expect(sink.dropped).toBe(15);
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.failing).toBe(true);
    const started = performance.now();
    await sink.close(200);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(sink.dropped).toBe(25);
  });
});
