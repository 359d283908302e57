// A minimal upstream on loopback (UDP and TCP on one port) that answers from
// raw bytes the test writes, and keeps every query it got as bytes: for
// tests that need to see exactly what aifence sends upstream (flags, OPT,
// EDNS options) or an upstream that sends no OPT at all.

import { type Socket, createSocket } from 'node:dgram';
import { type Server, createServer } from 'node:net';

export type Respond = (query: Buffer, tcp: boolean) => Buffer | null;

export class RawUpstream {
  readonly queries: Buffer[] = [];
  respond: Respond = (query) => reply(query, { answers: [aRecord('192.0.2.1')] });

  private constructor(
    private readonly udp: Socket,
    private readonly tcp: Server,
  ) {}

  static async start(): Promise<RawUpstream> {
    for (;;) {
      const udp = createSocket('udp4');
      await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
      const tcp = createServer();
      const ok = await new Promise<boolean>((r) => {
        tcp.once('error', () => r(false));
        tcp.listen(udp.address().port, '127.0.0.1', () => r(true));
      });
      if (!ok) {
        udp.close();
        continue;
      }
      const up = new RawUpstream(udp, tcp);
      udp.on('message', (msg, rinfo) => {
        up.queries.push(Buffer.from(msg));
        const out = up.respond(msg, false);
        if (out) udp.send(out, rinfo.port, rinfo.address);
      });
      tcp.on('connection', (sock) => {
        let buf = Buffer.alloc(0);
        sock.on('error', () => undefined);
        sock.on('data', (chunk) => {
          buf = Buffer.concat([buf, chunk]);
          while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
            const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
            buf = buf.subarray(2 + msg.length);
            up.queries.push(Buffer.from(msg));
            const out = up.respond(msg, true);
            if (out) sock.write(Buffer.concat([Buffer.from([out.length >> 8, out.length & 0xff]), out]));
          }
        });
      });
      return up;
    }
  }

  get address(): string {
    return `127.0.0.1:${this.udp.address().port}`;
  }

  async close(): Promise<void> {
    this.udp.close();
    await new Promise<void>((r) => this.tcp.close(() => r()));
  }
}

/** Length of the question section of `query` (name, type, class). */
export function questionLength(query: Uint8Array): number {
  let at = 12;
  while (query[at] !== 0) at += query[at] + 1;
  return at + 5 - 12;
}

/** An A record owned by the query name (a pointer to offset 12). */
export function aRecord(address: string, ttl = 300): Buffer {
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0);
  rr.writeUInt16BE(1, 2);
  rr.writeUInt16BE(1, 4);
  rr.writeUInt32BE(ttl, 6);
  rr.writeUInt16BE(4, 10);
  address.split('.').forEach((o, i) => (rr[12 + i] = Number(o)));
  return rr;
}

/** A TXT record of `size` bytes of text owned by the query name: for big answers. */
export function txtRecord(size: number, ttl = 300): Buffer {
  const strings: number[] = [];
  for (let left = size; left > 0; left -= 255) {
    const n = Math.min(255, left);
    strings.push(n, ...Buffer.alloc(n, 0x61));
  }
  const rr = Buffer.alloc(12 + strings.length);
  rr.writeUInt16BE(0xc00c, 0);
  rr.writeUInt16BE(16, 2);
  rr.writeUInt16BE(1, 4);
  rr.writeUInt32BE(ttl, 6);
  rr.writeUInt16BE(strings.length, 10);
  Buffer.from(strings).copy(rr, 12);
  return rr;
}

/** An OPT record as an upstream might send it: `options` are (code, data) pairs. */
export function optRecord(options: [number, Buffer][] = [], udpSize = 1232, flags = 0): Buffer {
  const data = Buffer.concat(options.map(([code, d]) => Buffer.concat([Buffer.from([code >> 8, code & 0xff, d.length >> 8, d.length & 0xff]), d])));
  const rr = Buffer.alloc(11 + data.length);
  rr.writeUInt16BE(41, 1);
  rr.writeUInt16BE(udpSize, 3);
  rr.writeUInt16BE(flags, 7);
  rr.writeUInt16BE(data.length, 9);
  data.copy(rr, 11);
  return rr;
}

/** A reply to `query`: its ID and question, QR and RA set, RD and CD copied, the given sections. */
export function reply(query: Buffer, parts: { rcode?: number; answers?: Buffer[]; additional?: Buffer[] } = {}): Buffer {
  const q = query.subarray(12, 12 + questionLength(query));
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 4);
  header[2] = 0x80 | (query[2] & 0x01);
  header[3] = 0x80 | (query[3] & 0x10) | (parts.rcode ?? 0);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(parts.answers?.length ?? 0, 6);
  header.writeUInt16BE(parts.additional?.length ?? 0, 10);
  return Buffer.concat([header, q, ...(parts.answers ?? []), ...(parts.additional ?? [])]);
}

/** The OPT record of a message, as the offset of its owner byte, or -1. */
export function findOpt(msg: Buffer): number {
  let at = 12 + questionLength(msg);
  const total = msg.readUInt16BE(6) + msg.readUInt16BE(8) + msg.readUInt16BE(10);
  for (let i = 0; i < total; i++) {
    while (msg[at] !== 0 && (msg[at] & 0xc0) !== 0xc0) at += msg[at] + 1;
    at += (msg[at] & 0xc0) === 0xc0 ? 2 : 1;
    const type = msg.readUInt16BE(at);
    if (type === 41) return at - 1;
    at += 10 + msg.readUInt16BE(at + 8);
  }
  return -1;
}
