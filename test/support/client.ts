// A DNS client for tests: builds queries byte by byte (so tests control
// case, IDs and EDNS) and decodes answers with dns2, an independent decoder.

import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import dns2 from 'dns2';

const { Packet } = dns2;

export interface QueryOptions {
  tcp?: boolean;
  /** Add an OPT record (EDNS) advertising this UDP size. */
  edns?: number;
  dnssecOk?: boolean;
  id?: number;
  /** Source address to send from (Linux answers for all of 127.0.0.0/8). */
  from?: string;
  timeoutMs?: number;
}

export const TYPES = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, TXT: 16, AAAA: 28, SVCB: 64, HTTPS: 65, ANY: 255 } as const;

export function encodeQuery(name: string, type: number, options: QueryOptions = {}): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  const parts: number[] = [];
  for (const l of labels) parts.push(l.length, ...Buffer.from(l, 'latin1'));
  parts.push(0);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(options.id ?? (Math.random() * 65536) | 0, 0);
  header[2] = 0x01; // RD
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(options.edns ? 1 : 0, 10);
  const question = Buffer.from([...parts, type >> 8, type & 0xff, 0, 1]);
  const opt = options.edns
    ? Buffer.from([0, 0, 41, options.edns >> 8, options.edns & 0xff, 0, 0, options.dnssecOk ? 0x80 : 0, 0, 0, 0])
    : Buffer.alloc(0);
  return Buffer.concat([header, question, opt]);
}

export interface Answer {
  raw: Buffer;
  // dns2's parsed packet: header, questions, answers, authorities, additionals
  packet: ReturnType<typeof Packet.parse>;
  rcode: number;
}

export function decode(raw: Buffer): Answer {
  const packet = Packet.parse(raw);
  return { raw, packet, rcode: raw[3] & 0x0f };
}

/** A DNS message framed for TCP: its length in two bytes first (RFC 1035 §4.2.2). */
export function tcpFrame(msg: Uint8Array): Buffer {
  const frame = Buffer.alloc(msg.length + 2);
  frame.writeUInt16BE(msg.length, 0);
  frame.set(msg, 2);
  return frame;
}

/** Sends raw bytes and waits for one reply (UDP or TCP); rejects on timeout. */
export function exchange(port: number, msg: Buffer, options: QueryOptions = {}): Promise<Buffer> {
  const timeoutMs = options.timeoutMs ?? 3000;
  if (options.tcp) {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: '127.0.0.1', port, localAddress: options.from });
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => (sock.destroy(), reject(new Error('tcp timeout'))), timeoutMs);
      sock.on('connect', () => sock.write(tcpFrame(msg)));
      sock.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          clearTimeout(timer);
          sock.destroy();
          resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        }
      });
      sock.on('error', (err) => (clearTimeout(timer), reject(err)));
    });
  }
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    const timer = setTimeout(() => (sock.close(), reject(new Error('udp timeout'))), timeoutMs);
    sock.on('message', (reply, rinfo) => {
      // Only the daemon's: spoof.test.ts's storm, running beside, sprays forged answers at random local ports.
      if (rinfo.port !== port || rinfo.address !== '127.0.0.1') return;
      clearTimeout(timer);
      sock.close();
      resolve(reply);
    });
    sock.bind(0, options.from ?? '127.0.0.1', () => sock.send(msg, port, '127.0.0.1'));
  });
}

export async function query(port: number, name: string, type: number = TYPES.A, options: QueryOptions = {}): Promise<Answer> {
  return decode(await exchange(port, encodeQuery(name, type, options), options));
}
