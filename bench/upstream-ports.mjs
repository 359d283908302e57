// node bench/upstream-ports.mjs: what a fresh UDP socket per upstream query
// costs against a few shared ones, on loopback against an echo server in this
// process (so the CPU figure includes the echo). 20,000 queries, 50 at a time.
import { createSocket } from 'node:dgram';
const server = createSocket('udp4');
await new Promise(r => server.bind(0, '127.0.0.1', r));
server.on('message', (m, ri) => server.send(m, ri.port, ri.address));
const port = server.address().port;
const N = 20000, CONC = 50;
const msg = Buffer.alloc(40);
/** A socket per query, as the upstream pool sends: bind to a kernel-chosen port, connect, send, close on the reply. */
async function fresh() {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.on('message', () => { s.close(); resolve(); });
    s.connect(port, '127.0.0.1', () => s.send(msg));
  });
}
const pooled = [];
for (let i = 0; i < 4; i++) { const s = createSocket('udp4'); await new Promise(r => s.connect(port, '127.0.0.1', r)); pooled.push(s); }
const waiting = new Map(); let id = 0;
for (const s of pooled) s.on('message', (m) => { const k = m.readUInt16BE(0); const w = waiting.get(k); waiting.delete(k); w(); });
function pool() { return new Promise((resolve) => { const k = (id++) & 0xffff; const b = Buffer.from(msg); b.writeUInt16BE(k, 0); waiting.set(k, resolve); pooled[k & 3].send(b); }); }
async function run(fn, label) {
  const t0 = performance.now(); const c0 = process.cpuUsage();
  let done = 0;
  await Promise.all(Array.from({ length: CONC }, async () => { while (done < N) { done++; await fn(); } }));
  const c = process.cpuUsage(c0); const t = performance.now() - t0;
  console.log(label, (t / N * 1000).toFixed(1), 'µs wall/q', ((c.user + c.system) / N).toFixed(1), 'µs cpu/q (incl. echo server)');
}
for (let r = 0; r < 2; r++) { await run(pool, 'pooled 4 sockets'); await run(fresh, 'fresh socket/query'); }
process.exit(0);
