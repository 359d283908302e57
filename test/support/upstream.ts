// A real DNS server on loopback (UDP and TCP) that tests start as aifence's
// upstream. It answers from a `behave` function the test sets, counts what
// it receives, and can misbehave: stay silent, truncate, refuse, fail, answer
// with bytes a test writes (fuzzing), refuse TCP, or race spoofed replies
// ahead of the real one (from another port, or from its own address and port
// as an off-path forger who spoofs the source would).

import { type Socket, createSocket } from 'node:dgram';
import { type Server, createServer } from 'node:net';
import dns2 from 'dns2';

const { Packet } = dns2;

// dns2's typings want encoder objects; its encoder takes plain records, which is what tests write.
type Resource = InstanceType<typeof Packet>['answers'][number];
const rr = (record: object): Resource => record as Resource;

export type Behaviour =
  | { kind: 'answer'; ttl?: number; address?: string; records?: object[] }
  | { kind: 'nxdomain'; soaTtl?: number; minimum?: number }
  | { kind: 'servfail' }
  | { kind: 'refused' }
  | { kind: 'notimp' }
  /** FORMERR echoing the question, or with no question at all (`empty`), as some servers answer what they cannot parse. */
  | { kind: 'formerr'; empty?: boolean }
  /** FORMERR to a query with OPT, an answer to one without (a server from before EDNS). */
  | { kind: 'no-edns' }
  /** Bytes the test writes from the query's bytes; null stays silent. */
  | { kind: 'raw'; reply: (query: Buffer, tcp: boolean) => Buffer | null }
  | { kind: 'silent' }
  /** Over UDP: header and question with TC set; over TCP: a big answer. */
  | { kind: 'truncate'; count?: number }
  | { kind: 'delay'; ms: number; ttl?: number; records?: object[] };

export interface Received {
  /** Lower-cased: aifence sends names in a random 0x20 case. */
  name: string;
  /** The name as it arrived, in aifence's random case. */
  asSent: string;
  /** The UDP source port it came from (0 over TCP). */
  port: number;
  type: number;
  tcp: boolean;
  id: number;
}

export class TestUpstream {
  readonly received: Received[] = [];
  behave: (name: string, type: number) => Behaviour = () => ({ kind: 'answer' });
  /** When set, a forged reply (wrong ID or from another port) is sent before each real one. */
  spoof: 'wrong-id' | 'wrong-port' | null = null;
  /** `refuse`: every TCP connection is closed as soon as it opens (a server without TCP). */
  tcpMode: 'serve' | 'refuse' = 'serve';
  /** TCP connections accepted so far. */
  tcpConnections = 0;
  private readonly tcpSockets = new Set<import('node:net').Socket>();

  private constructor(
    readonly host: string,
    private readonly udp: Socket,
    private readonly tcp: Server,
    private readonly spoofer: Socket,
  ) {}

  static async start(host = '127.0.0.1'): Promise<TestUpstream> {
    const family = host.includes(':') ? 'udp6' : 'udp4';
    const spoofer = createSocket(family);
    await new Promise<void>((r) => spoofer.bind(0, host, r));
    // UDP on a random port, TCP on the same number: retry when another process holds that TCP port.
    let udp: Socket;
    let tcp: Server;
    for (;;) {
      udp = createSocket(family);
      await new Promise<void>((r) => udp.bind(0, host, r));
      tcp = createServer();
      const listening = await new Promise<boolean>((r) => {
        tcp.once('error', () => r(false));
        tcp.listen(udp.address().port, host, () => r(true));
      });
      if (listening) break;
      udp.close();
    }
    const up = new TestUpstream(host, udp, tcp, spoofer);
    // Room for a burst of misses: an in-process daemon reading queries in batches forwards them all before this socket is read.
    udp.setRecvBufferSize(4 * 1024 * 1024);
    udp.on('message', (msg, rinfo) => {
      try {
        up.onUdp(msg, rinfo.address, rinfo.port);
      } catch {
        // Garbage forwarded during fuzzing: a real server would ignore it too.
      }
    });
    tcp.on('connection', (sock) => {
      up.tcpConnections++;
      up.tcpSockets.add(sock);
      sock.on('close', () => up.tcpSockets.delete(sock));
      if (up.tcpMode === 'refuse') return void sock.destroy();
      let buf = Buffer.alloc(0);
      sock.on('error', () => undefined);
      sock.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          let reply: Buffer | null = null;
          try {
            reply = up.reply(msg, true);
          } catch {
            // garbage: a real server would ignore it too
          }
          if (reply) {
            const frame = Buffer.alloc(2 + reply.length);
            frame.writeUInt16BE(reply.length, 0);
            reply.copy(frame, 2);
            // 'delay' holds this reply back while later ones on the connection go out: out of order, as RFC 7766 allows.
            const delay = up.delayOf(msg);
            if (delay > 0) setTimeout(() => sock.destroyed || sock.write(frame), delay);
            else sock.write(frame);
          }
        }
      });
    });
    return up;
  }

  get port(): number {
    return this.udp.address().port;
  }

  get address(): string {
    return this.host.includes(':') ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  /** Sends `count` forged copies of `reply` from this server's own address and port (what a source-spoofing forger achieves) to `port` on 127.0.0.1, each with ID `idOf(i)`; resolves once all are out. */
  async forge(reply: Buffer, count: number, portOf: (i: number) => number, idOf: (i: number) => number): Promise<void> {
    const forged = Buffer.from(reply);
    for (let i = 0; i < count; ) {
      const batch = Math.min(count, i + 256);
      const sends: Promise<void>[] = [];
      for (; i < batch; i++) {
        const copy = Buffer.from(forged);
        copy.writeUInt16BE(idOf(i) & 0xffff, 0);
        sends.push(new Promise((r) => this.udp.send(copy, portOf(i), '127.0.0.1', () => r())));
      }
      await Promise.all(sends);
      // Let the poll phase run: a receiver in this same process (the in-process daemon) reads only then.
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Closes every open TCP connection from this side, as a server's idle timeout would; resolves once they are closed. */
  async dropTcpConnections(): Promise<void> {
    const closing = [...this.tcpSockets].map((s) => new Promise<void>((r) => (s.once('close', () => r()), s.end())));
    await Promise.all(closing);
  }

  count(name: string): number {
    return this.received.filter((r) => r.name.toLowerCase() === name.toLowerCase()).length;
  }

  async close(): Promise<void> {
    this.udp.close();
    this.spoofer.close();
    await new Promise<void>((r) => this.tcp.close(() => r()));
  }

  /** Milliseconds a `delay` behaviour holds the reply to `msg` back (0 otherwise). */
  delayOf(msg: Buffer): number {
    const question = Packet.parse(msg).questions[0];
    const behaviour = question && this.behave(question.name.toLowerCase(), question.type);
    return behaviour && behaviour.kind === 'delay' ? behaviour.ms : 0;
  }

  private onUdp(msg: Buffer, address: string, port: number): void {
    this.lastPort = port;
    const request = Packet.parse(msg);
    const question = request.questions[0];
    if (question && this.behave(question.name.toLowerCase(), question.type).kind === 'delay') {
      const b = this.behave(question.name.toLowerCase(), question.type) as { ms: number };
      const reply = this.reply(msg, false);
      setTimeout(() => reply && this.udp.send(reply, port, address), b.ms);
      return;
    }
    const reply = this.reply(msg, false, port);
    if (!reply) return;
    if (this.spoof === 'wrong-id') {
      const forged = Buffer.from(reply);
      forged.writeUInt16BE((reply.readUInt16BE(0) + 1) & 0xffff, 0);
      forged.writeUInt32BE(0x0a0a0a0a, forged.length - 4); // a different address, to tell them apart
      this.udp.send(forged, port, address);
    } else if (this.spoof === 'wrong-port') {
      const forged = Buffer.from(reply);
      forged.writeUInt32BE(0x0a0a0a0a, forged.length - 4);
      this.spoofer.send(forged, port, address);
    }
    // The real reply arrives a little later than the forgery, as an off-path attacker would hope.
    setTimeout(() => this.udp.send(reply, port, address), this.spoof ? 20 : 0);
  }

  /** The UDP source port of the latest query. */
  lastPort = 0;

  /** The reply to one request, or null to stay silent. */
  reply(msg: Buffer, tcp: boolean, port = 0): Buffer | null {
    const request = Packet.parse(msg);
    const question = request.questions[0];
    if (!question) return null;
    this.received.push({ name: question.name.toLowerCase(), asSent: question.name, port, type: question.type, tcp, id: request.header.id });
    const behaviour = this.behave(question.name.toLowerCase(), question.type);
    if (behaviour.kind === 'raw') return behaviour.reply(msg, tcp);
    if (behaviour.kind === 'formerr' && behaviour.empty) {
      const header = Buffer.from(msg.subarray(0, 12));
      header[2] = 0x80 | (msg[2] & 0x01); // QR, RD copied
      header[3] = 1; // FORMERR
      header.fill(0, 4, 12);
      return header;
    }
    const response = new Packet();
    response.header = { ...request.header, qr: 1, ra: 1, rcode: 0 };
    response.questions = request.questions;
    response.additionals = request.additionals.filter((r: { type: number }) => r.type === Packet.TYPE.EDNS);
    const a = (ttl: number, address = '192.0.2.1') => ({ name: question.name, type: Packet.TYPE.A, class: 1, ttl, address });
    switch (behaviour.kind) {
      case 'silent':
        return null;
      case 'servfail':
        response.header.rcode = 2;
        break;
      case 'refused':
        response.header.rcode = 5;
        break;
      case 'notimp':
        response.header.rcode = 4;
        break;
      case 'formerr':
        response.header.rcode = 1;
        break;
      case 'no-edns':
        if (msg.readUInt16BE(10) > 0) response.header.rcode = 1;
        else response.answers.push(rr(a(300)));
        break;
      case 'nxdomain':
        response.header.rcode = 3;
        response.authorities.push(rr({
          name: question.name.split('.').slice(-2).join('.'),
          type: Packet.TYPE.SOA,
          class: 1,
          ttl: behaviour.soaTtl ?? 300,
          primary: 'ns.example.net',
          admin: 'hostmaster.example.net',
          serial: 1,
          refresh: 3600,
          retry: 600,
          expiration: 86400,
          minimum: behaviour.minimum ?? 30,
        }));
        break;
      case 'truncate':
        if (!tcp) {
          response.header.tc = 1;
          break;
        }
        for (let i = 0; i < (behaviour.count ?? 60); i++) response.answers.push(rr(a(300, `198.51.100.${i % 250}`)));
        break;
      case 'delay':
        response.answers.push(...(behaviour.records ?? [a(behaviour.ttl ?? 300)]).map(rr));
        break;
      case 'answer':
        if (behaviour.records) response.answers.push(...behaviour.records.map(rr));
        else if (question.type === Packet.TYPE.A || question.type === Packet.TYPE.ANY) response.answers.push(rr(a(behaviour.ttl ?? 300, behaviour.address)));
        break;
    }
    return response.toBuffer();
  }
}
