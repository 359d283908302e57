// A stall probe, run as its own process so that the daemon's event loop
// cannot slow it down: sends one A query every INTERVAL ms to 127.0.0.1:PORT
// and records when answers arrive. On SIGTERM (or "stop" on stdin) it waits
// a second for stragglers, then prints one JSON line: how many were sent and
// answered, the longest gap between two answers (and the five longest), and
// how many gaps exceeded 50 and 100 ms. Plain JavaScript: no loader, starts in ~50 ms.
//
//   node test/support/gap-probe.mjs PORT NAME [INTERVAL_MS=10]
//
// The first line it prints is "ready" once its socket is bound.

import { createSocket } from 'node:dgram';
import { queryPacket } from './query-packet.mjs';

const [port, name, interval = '10'] = process.argv.slice(2);
if (!port || !name) {
  process.stderr.write('usage: gap-probe.mjs PORT NAME [INTERVAL_MS]\n');
  process.exit(2);
}

/** An A query for `name`, ID patched per send. */
const packet = queryPacket(name);
const sentAt = new Map(); // id -> time sent (ids wrap at 65,536: ~11 minutes at 10 ms)
let sent = 0;
let answered = 0;
let lastAnswer = 0;
let maxGap = 0;
let over50 = 0;
let over100 = 0;
let maxLatency = 0;
/** The five longest gaps, longest first. */
const topGaps = [];
let id = 0;

const socket = createSocket('udp4');
socket.on('message', (msg) => {
  const now = performance.now();
  const got = msg.readUInt16BE(0);
  const t = sentAt.get(got);
  if (t === undefined) return;
  sentAt.delete(got);
  answered++;
  maxLatency = Math.max(maxLatency, now - t);
  if (lastAnswer > 0) {
    const gap = now - lastAnswer;
    if (gap > maxGap) maxGap = gap;
    if (topGaps.length < 5 || gap > topGaps[topGaps.length - 1]) {
      topGaps.push(gap);
      topGaps.sort((a, b) => b - a);
      topGaps.length = Math.min(topGaps.length, 5);
    }
    if (gap > 50) over50++;
    if (gap > 100) over100++;
  }
  lastAnswer = now;
});

socket.bind(0, '127.0.0.1', () => {
  process.stdout.write('ready\n');
  const timer = setInterval(() => {
    id = (id + 1) & 0xffff;
    packet.writeUInt16BE(id, 0);
    sentAt.set(id, performance.now());
    sent++;
    socket.send(packet, Number(port), '127.0.0.1');
  }, Number(interval));
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    setTimeout(() => {
      const round = (x) => Math.round(x * 10) / 10;
      const summary = { sent, answered, lost: sent - answered, maxGapMs: round(maxGap), gapsOver50: over50, gapsOver100: over100, topGapsMs: topGaps.map(round), maxLatencyMs: round(maxLatency) };
      process.stdout.write(JSON.stringify(summary) + '\n', () => process.exit(0));
    }, 1000);
  };
  process.on('SIGTERM', stop);
  process.stdin.on('data', (d) => {
    if (d.toString().includes('stop')) stop();
  });
  process.stdin.on('end', stop);
});
