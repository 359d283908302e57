// The floor for a miss: the cheapest forwarder Node can run. Each query is
// sent on, ID rewritten, from one of 16 connected sockets to the upstream,
// and the reply goes back to the client with its ID restored: two receives
// and two sends per query, no check of the reply, no cache, no timeout, no
// random port or 0x20. Whatever a miss costs aifence above this is
// aifence's own work; this much is Node's UDP I/O.
//
//   node bench/floor-forward.mjs UPSTREAM_PORT [port] [sockets (16)]   prints {"listen":["127.0.0.1:PORT"]} when ready
//
// With more upstream sockets (aifence's pool has 1024), each datagram tends to
// come in on a socket of its own: that shows what the number of sockets costs.

import { createSocket } from 'node:dgram';

const upstreamPort = Number(process.argv[2]);
const port = Number(process.argv[3] ?? 0);
const sockets = Number(process.argv[4] ?? 16);
// The listener's answers go to IP literals: no dns.lookup per send (as aifence's listener).
const literal = (address, _family, callback) => callback(null, address, 4);
const socket = createSocket({ type: 'udp4', lookup: literal });

// Who asked, by the ID the query went upstream with.
const clientAddress = new Array(65536).fill('');
const clientPort = new Uint16Array(65536);
const clientId = new Uint16Array(65536);
let nextId = 0;

const upstream = [];
for (let i = 0; i < sockets; i++) {
  const s = createSocket('udp4');
  await new Promise((r) => s.connect(upstreamPort, '127.0.0.1', r));
  s.on('message', (reply) => {
    if (reply.length < 12) return;
    const id = (reply[0] << 8) | reply[1];
    const address = clientAddress[id];
    if (address === '') return;
    clientAddress[id] = '';
    reply[0] = clientId[id] >> 8;
    reply[1] = clientId[id] & 0xff;
    socket.send(reply, clientPort[id], address);
  });
  upstream.push(s);
}

socket.on('message', (msg, rinfo) => {
  if (msg.length < 12 || (msg[2] & 0x80) !== 0) return;
  const id = nextId;
  nextId = (nextId + 1) & 0xffff;
  clientAddress[id] = rinfo.address;
  clientPort[id] = rinfo.port;
  clientId[id] = (msg[0] << 8) | msg[1];
  msg[0] = id >> 8;
  msg[1] = id & 0xff;
  upstream[id % sockets].send(msg);
});

socket.on('error', () => undefined);
socket.bind(port, '127.0.0.1', () => {
  try {
    socket.setRecvBufferSize(4 * 1024 * 1024);
  } catch {
    // capped by net.core.rmem_max
  }
  const a = socket.address();
  console.log(JSON.stringify({ listen: [`${a.address}:${a.port}`] }));
});

// Exit cleanly when stopped, so that a --cpu-prof profile gets written.
process.on('SIGTERM', () => process.exit(0));
