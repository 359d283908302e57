// How many query-log rows per second the PostgreSQL sink sustains: a
// throwaway PostgreSQL (Debian's, as the tests start it), one sink fed
// blocked-query events as fast as it takes them, timed until every row has
// landed. Run: npx tsx bench/pg-sink.ts [rows]
// Needs Debian's postgresql (initdb, postgres); as root it runs as `postgres`.

import pg from 'pg';
import { QueryEvent } from '../src/shared/events.js';
import { createLogger } from '../src/shared/logger.js';
import { PostgresQueryLog } from '../src/control/observe/sinks/postgres.js';
import { encodeQuery } from '../test/support/client.js';
import { PostgresServer } from '../test/support/servers.js';

const ROWS = Number(process.argv[2] ?? 200_000);
const db = await PostgresServer.start();
const log = createLogger({ level: 'silent', destination: { write: () => undefined } });
try {
  const sink = new PostgresQueryLog(
    { mode: 'all', path: '', maxSize: 0, keep: 0, anonymize: false, retention: 86400 },
    db.url,
    'bench',
    log,
    { capacity: 50_000, flushMs: 20 },
  );
  const names = Array.from({ length: 1000 }, (_, i) => encodeQuery(`host${i}.chat.example-ai${i % 37}.test`, 1));
  const e = new QueryEvent();
  e.group = 'default';
  e.verdict = 'blocked';
  e.list = 'service:deepseek';
  e.rcode = 3;
  // Wait for the connection and schema so that start-up is not timed.
  while (sink.failing || (sink as unknown as { client: unknown }).client === null) await new Promise((r) => setTimeout(r, 20));
  const start = performance.now();
  let fed = 0;
  while (fed < ROWS) {
    // Feed what fits in the ring, as a burst of queries would, then let the sink work.
    const room = Math.min(ROWS - fed, 50_000 - sink.pending);
    for (let k = 0; k < room; k++, fed++) {
      const msg = names[fed % names.length];
      e.time = Date.now();
      e.client = `10.0.${(fed >> 8) & 255}.${fed & 255}`;
      e.msg = msg;
      e.questionEnd = msg.length;
      e.qtype = 1;
      e.latencyMs = 0.02;
      sink.observe(e);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  while (sink.written + sink.dropped < ROWS) await new Promise((r) => setTimeout(r, 5));
  const seconds = (performance.now() - start) / 1000;
  await sink.close();
  const check = new pg.Client({ connectionString: db.url });
  await check.connect();
  const n = Number((await check.query('SELECT count(*) AS n FROM aifence_queries')).rows[0].n);
  await check.end();
  console.log(JSON.stringify({ rows: ROWS, inTable: n, dropped: sink.dropped, seconds: Math.round(seconds * 100) / 100, rowsPerSecond: Math.round(n / seconds) }));
} finally {
  await db.stop();
}
