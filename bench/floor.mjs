// The floor: the cheapest DNS server Node can run. It walks the question by
// hand and answers NXDOMAIN by echoing header and question with QR set and
// RCODE 3 — no parsing library, no lookup, no allocation beyond the reply.
// Whatever aifence costs above this is aifence's own work.
//
//   node bench/floor.mjs [port]   prints {"listen":["127.0.0.1:PORT"]} when ready

import { createSocket } from 'node:dgram';

const port = Number(process.argv[2] ?? 0);
const socket = createSocket('udp4');

socket.on('message', (msg, rinfo) => {
  if (msg.length < 12 || (msg[2] & 0x80) !== 0) return; // too short, or a response
  // Skip the question name (labels up to the root), then QTYPE and QCLASS.
  let at = 12;
  while (at < msg.length) {
    const len = msg[at];
    if (len === 0) break;
    if (len > 63) return; // no compression in a question
    at += len + 1;
  }
  const end = at + 5;
  if (end > msg.length) return;
  const reply = Buffer.allocUnsafe(end);
  msg.copy(reply, 0, 0, end);
  reply[2] = 0x80 | (msg[2] & 0x79); // QR, keep opcode and RD; clear AA, TC
  reply[3] = 0x80 | 3; // RA, NXDOMAIN
  reply.writeUInt16BE(1, 4); // QDCOUNT
  reply.fill(0, 6, 12); // no answer, authority or additional records
  socket.send(reply, rinfo.port, rinfo.address);
});

socket.on('error', () => undefined); // ICMP from a client that has gone away
socket.bind(port, '127.0.0.1', () => {
  try {
    socket.setRecvBufferSize(4 * 1024 * 1024); // the same as aifence's listener
  } catch {
    // capped by net.core.rmem_max
  }
  const a = socket.address();
  console.log(JSON.stringify({ listen: [`${a.address}:${a.port}`] }));
});
