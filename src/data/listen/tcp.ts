// TCP listener (RFC 7766): length-prefixed messages, pipelined, answered in
// whatever order they complete. Everything a client controls is bounded:
// connections in total and per client (over every listener and worker:
// client-counts.ts), queries in flight per connection,
// answers it leaves unread (per connection and in total), how long a query
// may take to arrive and how long a connection may sit idle or live. A
// malformed frame stops reading on that connection only; it closes once the
// good queries before it are answered. A client that half-closes (sends its
// queries, then FIN) still gets its answers.
//
// DNS over TLS (RFC 7858) is the same protocol inside TLS: a DoT listener
// wraps each accepted socket in TLS and hands it to the same connection
// code, so every bound above holds for it too (a stalled handshake is an
// idle connection).

import { type Server, type Socket, createServer } from 'node:net';
import { type SecureContext, TLSSocket } from 'node:tls';
import { type TcpStats, noTcpStats } from '../../shared/plane-stats.js';
import type { TcpConfig } from '../../shared/serving-config.js';
import type { Resolver, Transport, TransportKind } from '../resolve/resolver.js';
import { HEADER_SIZE } from '../../wire/message.js';
import { ClientCounts, Counted } from './client-counts.js';
import { type ListenAt, serverListenOptions } from './passed.js';

export interface TcpListener {
  server: Server;
  readonly stats: Readonly<TcpStats>;
  /** Open connections now. */
  readonly connections: number;
  /** Stop accepting connections; the open ones keep being served. */
  stopAccepting(): void;
  /** Hang up on every open connection. */
  closeConnections(): void;
}

const EMPTY = Buffer.alloc(0);

/** TLS for a DoT listener: the certificate to present now (it may change between connections). */
export interface DotOptions {
  secureContext: () => SecureContext;
  /** The device a client's SNI names (`ID.NAME`, device.ts), '' for none; absent: devices are not read. */
  deviceOf?: (serverName: string | false | null | undefined) => string;
}

/** ALPN for DNS over TLS (RFC 7858 §3.2); clients that offer no ALPN are served too. */
const DOT_ALPN = ['dot'];

/**
 * Plain TCP, or DNS over TLS when `tls` is given. `clients` counts each
 * client's connections over every listener and worker (tcp.maxPerClient);
 * without it, this listener counts its own. `at.fd`: a passed socket, adopted instead of bound.
 */
export async function listenTcp(at: ListenAt, resolver: Resolver, config: TcpConfig, tls?: DotOptions, reusePort = false, clients = new ClientCounts(undefined, 0, config.maxConnections)): Promise<TcpListener> {
  const listener = new Listener(resolver, config, clients, tls);
  const server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => listener.accept(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(serverListenOptions(at, reusePort), () => {
      server.off('error', reject);
      resolve();
    });
  });
  listener.startSweeping();
  return {
    server,
    stats: listener.stats,
    get connections() {
      return listener.open.size;
    },
    stopAccepting: () => server.close(),
    closeConnections: () => listener.closeAll(),
  };
}

/** What the connections share: limits, the per-client counts, the unsent-bytes total and one timer for every deadline. */
class Listener {
  readonly stats = noTcpStats();
  readonly open = new Set<Connection>();
  /** Connections we have killed whose 'close' has not come yet: their slots are free already. */
  private dying = 0;
  /** Bytes of answers written and not yet taken by the kernel, summed over connections (an upper bound between writes). */
  private unsent = 0;
  private sweeper: NodeJS.Timeout | undefined;
  readonly idleMs: number;
  readonly messageMs: number;
  readonly lifetimeMs: number;

  readonly kind: TransportKind;

  constructor(
    readonly resolver: Resolver,
    readonly config: TcpConfig,
    private readonly clients: ClientCounts,
    private readonly tls?: DotOptions,
  ) {
    this.kind = tls ? 'dot' : 'tcp';
    this.idleMs = config.idleTimeout * 1000;
    this.messageMs = config.messageTimeout * 1000;
    this.lifetimeMs = config.maxLifetime * 1000;
  }

  accept(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    const slot = this.clients.take(Counted.Connections, address, this.config.maxPerClient);
    // When full, the connection idle longest makes room: a client with a query gets in while others only hold slots.
    const full = this.open.size - this.dying >= this.config.maxConnections;
    if (slot === null || (full && !this.evictIdlest())) {
      this.clients.release(slot);
      this.stats.refused++;
      socket.on('error', () => undefined);
      socket.destroy();
      return;
    }
    // Counted by the TCP socket, which closes however the TLS layer above it ends.
    const stream = this.tls ? this.secure(socket) : socket;
    const connection = new Connection(stream, socket, this, address, socket.remotePort ?? 0);
    if (stream instanceof TLSSocket) this.nameDevice(connection, stream);
    this.open.add(connection);
    socket.on('close', () => {
      this.open.delete(connection);
      if (connection.killed) this.dying--;
      this.release(connection);
      this.clients.release(slot);
    });
  }

  /** TLS over an accepted socket; a failed handshake closes it (the TLS error concerns that client only). */
  private secure(socket: Socket): TLSSocket {
    const secure = new TLSSocket(socket, { isServer: true, secureContext: this.tls!.secureContext(), ALPNProtocols: DOT_ALPN });
    socket.on('error', () => undefined);
    secure.on('error', () => socket.destroy());
    secure.on('close', () => socket.destroy());
    return secure;
  }

  /** The device the connection's SNI names, once its handshake is done (no query can arrive before). */
  nameDevice(connection: Connection, secure: TLSSocket): void {
    const deviceOf = this.tls?.deviceOf;
    if (deviceOf) secure.once('secure', () => (connection.device = deviceOf(secure.servername)));
  }

  /** Kills the open connection with no query in flight that did something longest ago; false when there is none. */
  private evictIdlest(): boolean {
    let victim: Connection | null = null;
    for (const c of this.open) if (c.evictable && (victim === null || c.lastActive < victim.lastActive)) victim = c;
    if (victim === null) return false;
    victim.kill('evicted', true);
    return true;
  }

  /** Counts a connection we killed as gone before its 'close' arrives. */
  killed(): void {
    this.dying++;
  }

  /** Counts what a write left queued on `c`; resets it, or the connection holding most, when over the bounds. */
  account(c: Connection): void {
    const queued = c.socket.writableLength;
    this.unsent += queued - c.counted;
    c.counted = queued;
    if (queued > this.config.maxUnsent) {
      c.kill('unread', true);
      return;
    }
    while (this.unsent > this.config.maxUnsentTotal) {
      let largest: Connection | null = null;
      for (const other of this.open) {
        this.unsent += other.socket.writableLength - other.counted;
        other.counted = other.socket.writableLength;
        if (!other.killed && (largest === null || other.counted > largest.counted)) largest = other;
      }
      if (largest === null || largest.counted === 0) break;
      largest.kill('unread', true);
    }
  }

  /** `c` no longer holds unsent bytes (drained, or gone). */
  release(c: Connection): void {
    this.unsent -= c.counted;
    c.counted = 0;
  }

  /** One timer checks every connection's deadlines, often enough for the shortest of them. */
  startSweeping(): void {
    const period = Math.min(1000, Math.max(50, Math.min(this.idleMs, this.messageMs, this.lifetimeMs) / 4));
    this.sweeper = setInterval(() => this.sweep(), period);
    this.sweeper.unref();
  }

  private sweep(): void {
    const now = performance.now();
    // Under pressure (over half the slots taken) idle connections get a tenth of the time, as unbound does.
    const idleMs = (this.open.size - this.dying) * 2 > this.config.maxConnections ? this.idleMs / 10 : this.idleMs;
    for (const c of this.open) c.check(now, idleMs);
  }

  closeAll(): void {
    clearInterval(this.sweeper);
    for (const c of this.open) c.raw.destroy();
  }
}

/** One client connection; it is the resolver's transport for the queries read from it. */
class Connection implements Transport {
  readonly udp = false;
  readonly kind: TransportKind;
  /** DoT: the device its SNI named, set when the handshake completes; '' for none and for plain TCP. */
  device = '';
  /** Unsent bytes of this connection counted in the listener's total. */
  counted = 0;
  private readonly opened = performance.now();
  /** Last complete query read or answer sent: trickled bytes do not count. */
  lastActive = this.opened;
  /** We closed or reset it; its 'close' may still be on the way. */
  killed = false;
  /** When the message now arriving began to (0: between messages). */
  private messageStarted = 0;
  /** When we began closing (0: not closing). */
  private closingSince = 0;
  private outstanding = 0;
  /** The socket pushed back: wait for 'drain' before reading more queries. */
  private writeBlocked = false;
  /** Stop reading: lifetime over or a malformed frame. */
  private closing = false;
  /** The client sent FIN; it may still read our answers. */
  private peerEnded = false;
  /** We called end(). */
  private ended = false;
  private pumping = false;
  // Bytes read and not yet parsed (held back while at the pipelining cap or blocked on writes).
  private held: Buffer = EMPTY;
  private heldAt = 0;
  // The message being assembled: its first length byte when only that came, then its own buffer.
  private lengthHi = -1;
  private msg: Buffer | null = null;
  private filled = 0;

  constructor(
    /** Where DNS messages are read and written: the TCP socket, or the TLS socket over it. */
    readonly socket: Socket,
    /** The TCP socket itself: resets go to it (a TLS socket cannot send RST). */
    readonly raw: Socket,
    private readonly listener: Listener,
    private readonly address: string,
    private readonly port: number,
  ) {
    this.kind = listener.kind;
    socket.on('error', () => undefined); // a reset connection concerns that client only
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('drain', () => this.onDrain());
  }

  /** Transport: one answer for a query read from this connection. A closed connection drops it quietly. */
  send(reply: Buffer): void {
    this.outstanding--;
    this.lastActive = performance.now();
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) return;
    const frame = Buffer.allocUnsafe(reply.length + 2);
    frame.writeUInt16BE(reply.length, 0);
    reply.copy(frame, 2);
    if (!socket.write(frame)) this.writeBlocked = true;
    this.listener.account(this);
    // Answered synchronously inside pump(): it carries on by itself.
    if (!this.pumping) this.pump();
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    if (this.heldAt >= this.held.length) {
      this.held = chunk;
      this.heldAt = 0;
    } else {
      this.held = Buffer.concat([this.held.subarray(this.heldAt), chunk]);
      this.heldAt = 0;
    }
    this.pump();
  }

  private onEnd(): void {
    this.peerEnded = true;
    this.pump();
  }

  private onDrain(): void {
    this.writeBlocked = false;
    this.listener.release(this);
    this.pump();
  }

  /** Parses and hands to the resolver as many queries as the limits allow, then reads on or pauses. */
  private pump(): void {
    if (this.pumping || this.socket.destroyed) return;
    this.pumping = true;
    const max = this.listener.config.maxPipelined;
    while (!this.closing && this.outstanding < max && !this.writeBlocked) {
      const have = this.held.length - this.heldAt;
      if (this.msg !== null) {
        const want = this.msg.length - this.filled;
        const n = want < have ? want : have;
        this.held.copy(this.msg, this.filled, this.heldAt, this.heldAt + n);
        this.filled += n;
        this.heldAt += n;
        if (this.filled < this.msg.length) break;
        const msg = this.msg;
        this.msg = null;
        this.messageStarted = 0;
        this.dispatch(msg);
        continue;
      }
      if (have === 0) break;
      let length: number;
      if (this.lengthHi >= 0) {
        length = (this.lengthHi << 8) | this.held[this.heldAt++];
        this.lengthHi = -1;
      } else if (have === 1) {
        this.lengthHi = this.held[this.heldAt++];
        break;
      } else {
        length = this.held.readUInt16BE(this.heldAt);
        this.heldAt += 2;
      }
      if (length < HEADER_SIZE) {
        // Not a DNS message: answer what came before, then hang up.
        this.listener.stats.malformed++;
        this.beginClose();
        break;
      }
      // Each query gets its own bytes (from the 8 KiB pool): a query waiting on upstream must not pin a 64 KiB read.
      this.msg = Buffer.allocUnsafe(length);
      this.filled = 0;
    }
    if (this.heldAt >= this.held.length) {
      this.held = EMPTY;
      this.heldAt = 0;
    }
    // A message cut across reads starts its clock; trickled bytes cannot stop it.
    if ((this.msg !== null || this.lengthHi >= 0) && this.messageStarted === 0) this.messageStarted = performance.now();
    this.pumping = false;
    this.adjustReading();
    this.finishIfDone();
  }

  private dispatch(msg: Buffer): void {
    this.lastActive = performance.now();
    this.outstanding++;
    if (!this.listener.resolver.handle(msg, this.address, this.port, this)) this.outstanding--;
  }

  private adjustReading(): void {
    const socket = this.socket;
    const read = !this.closing && !this.peerEnded && !this.writeBlocked && this.outstanding < this.listener.config.maxPipelined;
    if (read) {
      if (socket.isPaused()) socket.resume();
    } else if (!socket.isPaused()) socket.pause();
  }

  /** Ends our side once every query read has its answer: after FIN from the client, or when closing. */
  private finishIfDone(): void {
    if (this.ended || this.outstanding > 0 || this.socket.destroyed) return;
    const clientDone = this.peerEnded && this.heldAt >= this.held.length;
    if (!this.closing && !clientDone) return;
    this.ended = true;
    if (this.closingSince === 0) this.closingSince = performance.now();
    this.socket.end();
  }

  /** Stops reading, keeps answering what was read, then ends. */
  private beginClose(): void {
    this.closing = true;
    this.closingSince = performance.now();
    this.held = EMPTY;
    this.heldAt = 0;
    this.msg = null;
    this.lengthHi = -1;
    this.messageStarted = 0;
    if (!this.pumping) {
      this.adjustReading();
      this.finishIfDone();
    }
  }

  /** Nothing in flight: closing it costs the client no answer. */
  get evictable(): boolean {
    return !this.killed && this.outstanding === 0;
  }

  /**
   * Ends the connection now. A reset (RST) makes the kernel drop what it
   * still holds for this client at once; a plain close is for a client
   * that owes us nothing.
   */
  kill(reason: Exclude<keyof TcpStats, 'refused' | 'lifetime' | 'malformed'>, reset: boolean): void {
    if (this.killed || this.socket.destroyed) return;
    this.killed = true;
    this.listener.killed();
    this.listener.stats[reason]++;
    this.listener.release(this);
    if (reset && !this.raw.destroyed) this.raw.resetAndDestroy();
    this.socket.destroy();
  }

  /** The listener's sweep: enforce the deadlines. */
  check(now: number, idleMs: number): void {
    if (this.killed) return;
    const listener = this.listener;
    if (this.closingSince > 0 || this.ended) {
      // Answers still owed go out, then the client has idleTimeout to take them and close.
      if (now - Math.max(this.closingSince, this.lastActive) > listener.idleMs) this.kill(this.unread ? 'stalled' : 'idle', true);
      return;
    }
    if (this.messageStarted > 0 && now - this.messageStarted > listener.messageMs) return this.kill('slow', true);
    if (now - this.opened > listener.lifetimeMs) {
      listener.stats.lifetime++;
      return this.beginClose();
    }
    if (this.outstanding === 0 && now - this.lastActive > idleMs) {
      // Nothing owed either way: a plain close. Answers it leaves unread: a reset frees them.
      const unread = this.unread;
      this.kill(unread ? 'stalled' : 'idle', unread);
    }
  }

  /** Answers written that the client has not taken: queued here, or the socket pushed back. */
  private get unread(): boolean {
    return this.writeBlocked || this.socket.writableLength > 0;
  }
}
