// Upstream UDP from a rotating pool of sockets on random ports.
//
// A fresh socket per query (what aifence did after issue #9) costs a bind,
// a connect and a close per miss: 15-20 µs of CPU, a third of a miss
// (bench/upstream-ports.mjs). Instead, as unbound's outgoing-range and
// dnsdist's randomised outgoing sockets do, each server gets SLOTS slots,
// filled lazily with UDP sockets on ports the kernel picks at random from
// its ephemeral range (Linux: 28,232 ports), each connected to the server so
// that the kernel drops datagrams from any other source. Every query goes out
// from a slot drawn at random (crypto-random), so that an off-path forger
// must still guess the port as well as the ID and the 0x20 case; queries
// sharing a socket at once have distinct IDs, and a reply is matched to its
// query by ID and then judged byte for byte (judge.ts) as before.
//
// Unbound (services/outside_network.c, select_ifport) draws a random port
// number from `outgoing-port-permit` minus `-avoid` for each query, reuses
// it if it is already open for other queries in flight, opens it if not,
// and closes it when its last query is done, with at most `outgoing-range`
// (4096) open. dnsdist (setRandomizedOutgoingSockets, PR #11163) opens a
// fixed set of `sockets=` per backend once, at start, and picks one at random
// per query. Here: kernel-chosen ports (no permit list to keep in step with
// the system's), opened lazily like unbound, kept open across queries like
// dnsdist (which is where the saving is), but never for long: a socket
// retires after MAX_USES queries or MAX_AGE_MS, and its slot gets a new one
// on a new port. A port that keeps moving leaves little to aim at for a
// forger who learns open ports through a side channel (SAD DNS,
// CVE-2020-25705, scans at the kernel's ICMP rate limit). At a light load most
// queries still get a socket of their own; under a miss storm a socket
// carries up to MAX_USES queries and its cost is shared out among them.

import { type RemoteInfo, type Socket, createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { writeU16 } from '../../../wire/message.js';
import type { RandomBytes } from './query.js';
import type { UpstreamServer } from './servers.js';

/** Sockets open at once, all servers together (retiring ones included): a bound on descriptors. */
export const MAX_UDP_SOCKETS = 4096;
/** Slots per server: the ports a query may leave from (a power of two: a random u16 masks into it). */
export const SLOTS = 1024;
/** Queries in flight on one socket at once: bounds the IDs a forger hits per port and the lookup per reply. */
export const MAX_IN_FLIGHT = 32;
/** A socket carries at most this many queries, then retires. */
export const MAX_USES = 100;
/** And lives at most this long (give or take a sweep), then retires. */
export const MAX_AGE_MS = 10_000;
/** Tries at a slot with room before the pool counts as full. */
const SLOT_TRIES = 8;

export interface UdpPoolOptions {
  slots?: number;
  maxUses?: number;
  maxAgeMs?: number;
}

/** A query the pool carries: its bytes as sent (the ID is its key on the socket), and the socket it went out on. */
export interface UdpWaiter {
  sent: Buffer;
  /** Set by the pool while the query waits on one of its sockets. */
  udp: PooledSocket | null;
}

/** One socket of the pool and the queries waiting on it. */
export class PooledSocket {
  /** Queries waiting on it: the first `count` entries (IDs alongside). */
  count = 0;
  readonly ids = new Uint16Array(MAX_IN_FLIGHT);
  readonly waiters: (UdpWaiter | null)[] = new Array<UdpWaiter | null>(MAX_IN_FLIGHT).fill(null);
  uses = 0;
  connected = false;
  /** Out of its slot: takes no more queries, closes when the last one is done. */
  retired = false;
  readonly born = performance.now();

  constructor(
    readonly socket: Socket,
    readonly server: UpstreamServer,
    readonly slot: number,
  ) {}

  indexOf(id: number): number {
    const ids = this.ids;
    for (let i = 0; i < this.count; i++) if (ids[i] === id) return i;
    return -1;
  }
}

export class UdpPorts {
  /** Sockets open now (retiring ones included). */
  open = 0;
  /** Queries waiting on a socket now. */
  waiting = 0;
  /** Sockets opened so far (tests and benchmarks read it to see the reuse). */
  opened = 0;
  private readonly slots: (PooledSocket | null)[][] = [];
  private readonly retiring = new Set<PooledSocket>();
  private readonly slotCount: number;
  private readonly maxUses: number;
  private readonly maxAgeMs: number;
  private sweeper: NodeJS.Timeout | null = null;

  /**
   * `onReply` gets each datagram whose ID matches a query waiting on the
   * socket (the caller judges the rest); `onStray` counts the others.
   */
  constructor(
    private readonly random: RandomBytes,
    private readonly onReply: (waiter: UdpWaiter, reply: Buffer) => void,
    private readonly onStray: () => void,
    options: UdpPoolOptions = {},
  ) {
    this.slotCount = options.slots ?? SLOTS;
    if (this.slotCount & (this.slotCount - 1) || this.slotCount < 1 || this.slotCount > 65536) throw new RangeError('slots must be a power of two up to 65536');
    this.maxUses = options.maxUses ?? MAX_USES;
    this.maxAgeMs = options.maxAgeMs ?? MAX_AGE_MS;
  }

  /**
   * Sends `waiter.sent` to `server` from a random slot's socket. The ID in
   * `sent` is redrawn (at random) when another query on that socket holds it.
   * False when no socket can take it (MAX_UDP_SOCKETS open and the slots
   * tried full): the caller gives up on the query.
   */
  send(server: UpstreamServer, waiter: UdpWaiter): boolean {
    const slots = (this.slots[server.index] ??= new Array<PooledSocket | null>(this.slotCount).fill(null));
    const mask = this.slotCount - 1;
    for (let tries = 0; tries < SLOT_TRIES; tries++) {
      const slot = this.random.u16() & mask;
      let s = slots[slot];
      if (s !== null && s.uses >= this.maxUses) {
        this.retire(s);
        s = null;
      }
      if (s === null) {
        if (this.open >= MAX_UDP_SOCKETS) continue;
        s = this.openSocket(server, slot);
        slots[slot] = s;
      } else if (s.count >= MAX_IN_FLIGHT) {
        continue;
      }
      this.add(s, waiter);
      return true;
    }
    return false;
  }

  /** Stops waiting for `waiter`'s reply (its attempt is over); a late reply counts as a stray. */
  forget(waiter: UdpWaiter): void {
    const s = waiter.udp;
    if (s === null) return;
    waiter.udp = null;
    const i = s.waiters.indexOf(waiter);
    if (i < 0 || i >= s.count) return;
    const last = --s.count;
    s.ids[i] = s.ids[last];
    s.waiters[i] = s.waiters[last];
    s.waiters[last] = null;
    this.waiting--;
    if (s.retired && s.count === 0) this.closeSocket(s);
  }

  /** Closes every socket; queries still waiting get no reply (their exchanges end on their own). */
  close(): void {
    for (const slots of this.slots) {
      if (slots === undefined) continue;
      for (let i = 0; i < slots.length; i++) {
        const s = slots[i];
        if (s !== null) this.retire(s, true);
      }
    }
    for (const s of [...this.retiring]) this.closeSocket(s);
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /** The local ports of the sockets in `server`'s slots now (tests watch them move). */
  ports(server: UpstreamServer): number[] {
    const ports: number[] = [];
    for (const s of this.slots[server.index] ?? []) {
      if (s === null || !s.connected) continue;
      try {
        ports.push(s.socket.address().port);
      } catch {
        // closed under us
      }
    }
    return ports;
  }

  private add(s: PooledSocket, waiter: UdpWaiter): void {
    let id = (waiter.sent[0] << 8) | waiter.sent[1];
    // At most MAX_IN_FLIGHT of 65,536 IDs are taken: a redraw or two at worst.
    while (s.indexOf(id) >= 0) {
      id = this.random.u16();
      writeU16(waiter.sent, 0, id);
    }
    s.ids[s.count] = id;
    s.waiters[s.count] = waiter;
    s.count++;
    s.uses++;
    this.waiting++;
    waiter.udp = s;
    if (s.connected) this.transmit(s, waiter.sent);
    // Else it goes out when the socket is connected (see openSocket).
  }

  private transmit(s: PooledSocket, query: Buffer): void {
    try {
      s.socket.send(query);
    } catch {
      // The socket broke (closed under us): the attempt's timeout moves the query on.
    }
  }

  private openSocket(server: UpstreamServer, slot: number): PooledSocket {
    const { address } = server;
    const socket = createSocket(address.family === 6 ? 'udp6' : 'udp4');
    const s = new PooledSocket(socket, server, slot);
    this.open++;
    this.opened++;
    // One closure per socket, none per query.
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.onMessage(s, msg, rinfo));
    socket.on('error', () => undefined); // ICMP errors (port unreachable) surface here; the attempts' timeouts handle them
    socket.connect(address.port, address.host, (err?: Error) => {
      if (err !== undefined && err !== null) return this.retire(s); // e.g. no route: its queries time out and move on
      s.connected = true;
      for (let i = 0; i < s.count; i++) this.transmit(s, s.waiters[i]!.sent);
    });
    socket.unref();
    if (this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweep(), Math.max(10, this.maxAgeMs / 4));
      this.sweeper.unref();
    }
    return s;
  }

  private onMessage(s: PooledSocket, msg: Buffer, rinfo: RemoteInfo): void {
    const { address } = s.server;
    // The socket is connected, so the kernel has checked the source already; a second look costs nothing.
    const i = msg.length >= 2 && rinfo.port === address.port && rinfo.address === address.host ? s.indexOf((msg[0] << 8) | msg[1]) : -1;
    if (i < 0) return this.onStray();
    this.onReply(s.waiters[i]!, msg);
  }

  /** Takes `s` out of its slot; it closes once no query waits on it (at once when `now`). */
  private retire(s: PooledSocket, now = false): void {
    if (!s.retired) {
      s.retired = true;
      const slots = this.slots[s.server.index];
      if (slots[s.slot] === s) slots[s.slot] = null;
      this.retiring.add(s);
    }
    if (now) {
      for (let i = 0; i < s.count; i++) s.waiters[i]!.udp = null;
      this.waiting -= s.count;
      s.waiters.fill(null);
      s.count = 0;
    }
    if (s.count === 0) this.closeSocket(s);
  }

  private closeSocket(s: PooledSocket): void {
    if (!this.retiring.delete(s)) return;
    this.open--;
    try {
      s.socket.close();
    } catch {
      // already closed
    }
  }

  /** Retires sockets past their age, so that ports move even when few queries come; stops when none is open. */
  private sweep(): void {
    const oldest = performance.now() - this.maxAgeMs;
    for (const slots of this.slots) {
      if (slots === undefined) continue;
      for (let i = 0; i < slots.length; i++) {
        const s = slots[i];
        if (s !== null && s.born <= oldest) this.retire(s);
      }
    }
    if (this.open === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }
}
