// Queries from many distinct source addresses, as its own process: one UDP
// socket per source, bound to 127.A.B.C (Linux answers for all of
// 127.0.0.0/8), each sending one query and waiting for its answer (2 s at
// most), WINDOW sockets at a time. Prints one JSON line: sent, answered.
// Plain JavaScript: no loader.
//
//   node test/support/many-sources.mjs PORT COUNT NAME[,NAME...] [WINDOW=200]
//
// Source i is 127.(1 + i/65536).(i/256 % 256).(i % 256); it asks NAME[i % names].

import { createSocket } from 'node:dgram';
import { queryPacket } from './query-packet.mjs';

const [port, count, names, window = '200'] = process.argv.slice(2);
if (!port || !count || !names) {
  process.stderr.write('usage: many-sources.mjs PORT COUNT NAME[,NAME...] [WINDOW]\n');
  process.exit(2);
}

const list = names.split(',');
const total = Number(count);
let next = 0;
let answered = 0;

function one(i) {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const source = `127.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
    const done = (ok) => {
      clearTimeout(timer);
      if (ok) answered++;
      sock.close();
      resolve();
    };
    const timer = setTimeout(() => done(false), 2000);
    sock.on('error', () => done(false));
    sock.on('message', () => done(true));
    sock.bind(0, source, () => sock.send(queryPacket(list[i % list.length], i & 0xffff), Number(port), '127.0.0.1'));
  });
}

async function lane() {
  while (next < total) await one(next++);
}

await Promise.all(Array.from({ length: Number(window) }, lane));
process.stdout.write(JSON.stringify({ sent: total, answered }) + '\n');
