// A DHCPv4 client for the lease tests (RFC 2131), run inside the client's
// network namespace: for each host given (MAC, host name bytes) it does
// DISCOVER, OFFER, REQUEST, ACK with the broadcast flag (the namespace's
// interface has an address of its own, so no raw socket is needed), or
// RELEASE. Prints one JSON line per host: { mac, address } or { mac, error }.
//
// node dhcp-client.mjs '[{"mac":"52:54:00:00:00:01","host":"616c696365","want":"10.77.0.100"}]'
// node dhcp-client.mjs '[{"mac":"…","release":"10.77.0.100","server":"10.77.0.1"}]'

import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';

const hosts = JSON.parse(process.argv[2]);
const socket = createSocket({ type: 'udp4', reuseAddr: true });
await new Promise((ok) => socket.bind(68, '0.0.0.0', ok));
socket.setBroadcast(true);

const ip = (s) => Buffer.from(s.split('.').map(Number));
const ipText = (b, at) => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

function packet(type, xid, mac, options, ciaddr = '0.0.0.0') {
  const p = Buffer.alloc(240);
  p[0] = 1; // BOOTREQUEST
  p[1] = 1; // Ethernet
  p[2] = 6;
  xid.copy(p, 4);
  p.writeUInt16BE(type === 7 ? 0 : 0x8000, 10); // broadcast the answers to us
  ip(ciaddr).copy(p, 12);
  Buffer.from(mac.split(':').map((h) => parseInt(h, 16))).copy(p, 28);
  Buffer.from([99, 130, 83, 99]).copy(p, 236);
  const opts = [Buffer.from([53, 1, type])];
  for (const [code, value] of options) opts.push(Buffer.concat([Buffer.from([code, value.length]), value]));
  opts.push(Buffer.from([255]));
  return Buffer.concat([p, ...opts]);
}

function optionsOf(msg) {
  const out = new Map();
  for (let at = 240; at < msg.length; ) {
    const code = msg[at];
    if (code === 255) break;
    if (code === 0) {
      at++;
      continue;
    }
    out.set(code, msg.subarray(at + 2, at + 2 + msg[at + 1]));
    at += 2 + msg[at + 1];
  }
  return out;
}

function awaitReply(xid, type, ms = 4000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off('message', on);
      reject(new Error(`no DHCP message type ${type} within ${ms} ms`));
    }, ms);
    const on = (msg) => {
      if (msg.length < 240 || msg[0] !== 2 || !msg.subarray(4, 8).equals(xid)) return;
      const opts = optionsOf(msg);
      const got = opts.get(53)?.[0];
      if (got === 6) {
        clearTimeout(timer);
        socket.off('message', on);
        reject(new Error('NAK'));
      }
      if (got !== type) return;
      clearTimeout(timer);
      socket.off('message', on);
      resolve({ yiaddr: ipText(msg, 16), server: opts.get(54) });
    };
    socket.on('message', on);
  });
}

const send = (p) => new Promise((ok) => socket.send(p, 67, '255.255.255.255', ok));

for (const h of hosts) {
  try {
    const clientId = Buffer.concat([Buffer.from([1]), Buffer.from(h.mac.split(':').map((x) => parseInt(x, 16)))]);
    if (h.release) {
      const xid = randomBytes(4);
      await new Promise((ok) => socket.send(packet(7, xid, h.mac, [[54, ip(h.server)], [61, clientId]], h.release), 67, h.server, ok));
      process.stdout.write(JSON.stringify({ mac: h.mac, released: h.release }) + '\n');
      continue;
    }
    const name = h.host === undefined ? [] : [[12, Buffer.from(h.host, 'hex')]];
    const want = h.want ? [[50, ip(h.want)]] : [];
    const xid = randomBytes(4);
    const offered = awaitReply(xid, 2);
    await send(packet(1, xid, h.mac, [[61, clientId], ...want, ...name, [55, Buffer.from([1, 3, 6])]]));
    const offer = await offered;
    const acked = awaitReply(xid, 5);
    await send(packet(3, xid, h.mac, [[61, clientId], [50, ip(offer.yiaddr)], [54, offer.server], ...name, [55, Buffer.from([1, 3, 6])]]));
    const ack = await acked;
    process.stdout.write(JSON.stringify({ mac: h.mac, address: ack.yiaddr }) + '\n');
  } catch (err) {
    process.stdout.write(JSON.stringify({ mac: h.mac, error: err.message }) + '\n');
  }
}
socket.close();
