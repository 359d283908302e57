// node bench/upstream-ports.mjs [--dist DIR] [--queries N]: what the client
// side of an upstream UDP query costs, on loopback, against an echo server
// in a child process (so that the CPU figure is this process's alone):
// a raw fresh socket per query (bind, connect, send, close), a raw few shared
// sockets (the floor: one send and one receive per query), and aifence's own
// UpstreamPool from DIR (default: this checkout's dist/; build first) asking
// unique names, 50 at a time, with the echo server answering them.
// `--dist /path/to/other/dist` measures another build's pool, e.g. before a change;
// `--slots N` gives the pool N sockets (default 1024).
import { fork } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

if (process.argv[2] === '--echo-server') {
  // The child: answers every datagram with itself, QR set (a reply to aifence's query, with no records).
  const server = createSocket('udp4');
  server.on('message', (m, ri) => {
    m[2] |= 0x80;
    server.send(m, ri.port, ri.address);
  });
  server.bind(0, '127.0.0.1', () => process.send(server.address().port));
} else {
  const { values } = parseArgs({ options: { dist: { type: 'string' }, queries: { type: 'string', default: '20000' }, slots: { type: 'string' } } });
  const dist = resolve(values.dist ?? new URL('../dist', import.meta.url).pathname);
  const child = fork(new URL(import.meta.url).pathname, ['--echo-server']);
  const port = await new Promise((r) => child.once('message', r));
  const N = Number(values.queries);
  const CONC = 50;
  const msg = Buffer.alloc(40);

  /** A socket per query: bind to a kernel-chosen port, connect, send, close on the reply. */
  const fresh = () =>
    new Promise((done) => {
      const s = createSocket('udp4');
      s.on('message', () => {
        s.close();
        done();
      });
      s.connect(port, '127.0.0.1', () => s.send(msg));
    });

  const shared = [];
  for (let i = 0; i < 4; i++) {
    const s = createSocket('udp4');
    await new Promise((r) => s.connect(port, '127.0.0.1', r));
    shared.push(s);
  }
  const waiting = new Map();
  let id = 0;
  for (const s of shared)
    s.on('message', (m) => {
      const k = m.readUInt16BE(0);
      const w = waiting.get(k);
      waiting.delete(k);
      w();
    });
  /** Four shared sockets, replies matched by ID: the floor any pool can reach. */
  const floor = () =>
    new Promise((done) => {
      const k = id++ & 0xffff;
      const b = Buffer.from(msg);
      b.writeUInt16BE(k, 0);
      waiting.set(k, done);
      shared[k & 3].send(b);
    });

  const { UpstreamPool } = await import(`${dist}/data/resolve/upstream.js`);
  // --slots N: a pool of N sockets instead of the default (a power of two), to see what the number of sockets costs.
  const pool = new UpstreamPool([{ host: '127.0.0.1', port, family: 4 }], 2, undefined, undefined, values.slots ? { slots: Number(values.slots) } : {});
  await pool.start();
  let n = 0;
  const question = (name) => {
    const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
    return Buffer.from([...labels, 0, 0, 1, 0, 1]);
  };
  /** aifence's pool: a unique name per query, as a miss storm asks. */
  const aifence = () =>
    new Promise((done) => pool.exchange({ question: question(`m${n++}.bench.test`), rd: true, cd: false, dnssecOk: false }, false, () => done()));

  async function run(fn, label) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let started = 0;
    await Promise.all(
      Array.from({ length: CONC }, async () => {
        while (started < N) {
          started++;
          await fn();
        }
      }),
    );
    const c = process.cpuUsage(c0);
    const t = performance.now() - t0;
    console.log(`${label.padEnd(28)} ${((t / N) * 1000).toFixed(1).padStart(6)} µs wall/q ${((c.user + c.system) / N).toFixed(1).padStart(6)} µs cpu/q`);
  }
  console.log(`${N} queries, ${CONC} at a time, echo server in a child process; pool from ${dist}`);
  for (let r = 0; r < 2; r++) {
    await run(floor, 'raw: 4 shared sockets');
    await run(fresh, 'raw: fresh socket per query');
    await run(aifence, 'aifence UpstreamPool');
  }
  const sockets = pool.openSockets;
  if (sockets.udpOpened !== undefined) console.log(`aifence pool: ${sockets.udpOpened} sockets opened for ${2 * N} queries, ${sockets.udp} open now`);
  pool.close();
  child.kill();
  process.exit(0);
}
