// Upstream TCP, reused and pipelined (RFC 7766 §6.2.1): up to
// MAX_CONNECTIONS per server, each carrying up to MAX_PENDING queries at once,
// replies matched by ID in any order. A connection with nothing to do closes
// after IDLE_MS; one the server closes or breaks hands its pending queries back.

import { type Socket, connect } from 'node:net';
import { readU16, writeU16 } from '../../../wire/message.js';
import type { RandomBytes } from './query.js';
import type { UpstreamServer } from './servers.js';

export const MAX_CONNECTIONS = 8;
export const MAX_PENDING = 100;
export const IDLE_MS = 10_000;
/** Tries at a free random ID on one connection before calling it full (at most 100 of 65,536 are taken). */
const ID_TRIES = 8;

/** One query waiting on a connection. */
export interface TcpWaiter {
  /** The query as sent (its ID is the connection's key for it). */
  sent: Buffer;
  /** Called once with the reply, or with null when the connection was lost before it came; `reused` when it had served others. */
  settle(reply: Buffer | null, reused: boolean): void;
}

export class Connection {
  readonly pending = new Map<number, TcpWaiter>();
  /** Replies received: a connection that has served some may have been closed by the server as idle. */
  served = 0;
  open = true;
  private buffer: Buffer | null = null;

  constructor(
    readonly socket: Socket,
    private readonly onUnknown: () => void,
  ) {}

  /** Splits the stream into length-prefixed messages and hands each to its waiter. */
  read(chunk: Buffer): void {
    let buf = this.buffer === null ? chunk : Buffer.concat([this.buffer, chunk]);
    while (buf.length >= 2 && buf.length >= 2 + readU16(buf, 0)) {
      const length = readU16(buf, 0);
      // A copy: the cache keeps replies, and must not keep the rest of a large read alive with them.
      const reply = Buffer.from(buf.subarray(2, 2 + length));
      buf = buf.subarray(2 + length);
      const waiter = length >= 2 ? this.pending.get(readU16(reply, 0)) : undefined;
      if (waiter === undefined) {
        this.onUnknown();
        continue;
      }
      this.pending.delete(readU16(reply, 0));
      this.served++;
      waiter.settle(reply, true);
    }
    this.buffer = buf.length === 0 ? null : buf;
  }

  /** Stops waiting for `waiter` (its exchange finished); a reply that comes later is dropped. */
  forget(waiter: TcpWaiter): void {
    const id = readU16(waiter.sent, 0);
    if (this.pending.get(id) === waiter) this.pending.delete(id);
  }

  /** Gives every pending query back: the connection is gone. */
  lose(): void {
    this.open = false;
    const reused = this.served > 0;
    const waiters = [...this.pending.values()];
    this.pending.clear();
    for (const w of waiters) w.settle(null, reused);
  }
}

export class TcpConnections {
  /** Connections per server index. */
  private readonly byServer: Connection[][] = [];
  opened = 0;

  constructor(
    private readonly random: RandomBytes,
    /** A reply came with an ID nothing waits for (late or forged). */
    private readonly onUnknown: () => void,
  ) {}

  /**
   * Sends `waiter.sent` to `server` on a connection with room, opening one
   * when all are busy and the cap allows; writes the ID it chose into the
   * query. `fresh` asks for a new connection (a reused one was just lost).
   * Returns the connection, or null when the server's connections are all full.
   */
  send(server: UpstreamServer, waiter: TcpWaiter, fresh: boolean): Connection | null {
    const conns = (this.byServer[server.index] ??= []);
    let conn: Connection | undefined;
    if (!fresh) for (const c of conns) if (c.open && c.pending.size < MAX_PENDING && (conn === undefined || c.pending.size < conn.pending.size)) conn = c;
    if (conn === undefined) {
      if (conns.length >= MAX_CONNECTIONS) {
        // At the cap: any open connection with room will do, fresh or not.
        conn = conns.find((c) => c.open && c.pending.size < MAX_PENDING);
        if (conn === undefined) return null;
      } else {
        conn = this.open(server, conns);
      }
    }
    let id = -1;
    for (let i = 0; i < ID_TRIES && id < 0; i++) {
      const candidate = this.random.u16();
      if (!conn.pending.has(candidate)) id = candidate;
    }
    if (id < 0) return null;
    writeU16(waiter.sent, 0, id);
    conn.pending.set(id, waiter);
    const frame = Buffer.allocUnsafe(waiter.sent.length + 2);
    writeU16(frame, 0, waiter.sent.length);
    frame.set(waiter.sent, 2);
    conn.socket.write(frame);
    return conn;
  }

  /** Connections open now, all servers together. */
  get openConnections(): number {
    let n = 0;
    for (const conns of this.byServer) if (conns) n += conns.length;
    return n;
  }

  close(): void {
    for (const conns of this.byServer) {
      if (conns === undefined) continue;
      for (const c of [...conns]) {
        c.socket.destroy();
        c.lose();
      }
      conns.length = 0;
    }
  }

  private open(server: UpstreamServer, conns: Connection[]): Connection {
    this.opened++;
    // DoT: the same framing inside TLS (RFC 7858), verified by the server's dialer.
    const socket = server.dialer ? server.dialer.connect(['dot']) : connect({ host: server.address.host, port: server.address.port, noDelay: true });
    const conn = new Connection(socket, this.onUnknown);
    conns.push(conn);
    socket.unref();
    // Inactivity closes a connection that has nothing pending, and one whose server went quiet.
    socket.setTimeout(IDLE_MS, () => socket.destroy());
    socket.on('data', (chunk) => conn.read(chunk));
    socket.on('error', () => undefined); // refused or reset: 'close' follows and hands pending queries back
    // The server's FIN: no new queries on it; what it still owes may yet arrive until it closes.
    socket.on('end', () => {
      conn.open = false;
    });
    socket.on('close', () => {
      const i = conns.indexOf(conn);
      if (i >= 0) conns.splice(i, 1);
      conn.lose();
    });
    return conn;
  }
}
