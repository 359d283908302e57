// Batched UDP (native/udp): the listener's datagrams read with recvmmsg and
// its answers sent with sendmmsg, up to BATCH at a time, instead of one
// recvmsg, one sendmsg and a JavaScript call per datagram through
// node:dgram. The addon polls a duplicate of the socket's descriptor in
// Node's event loop and calls onBatch once per batch; datagrams and their
// sources cross in memory allocated here, so a query costs no new Buffer, no
// rinfo object and, for a client seen before, no address string, and its
// answer (copied into the send slots at once) may be written into reused
// memory (Transport.copiesReply).
//
// The dgram socket stays open beside it, not reading: it owns the binding
// (or the passed socket), reports the address, and sends the rare answer
// bigger than a slot. AIFENCE_IO=dgram, or an addon that was not built or
// does not load, leaves UDP to node:dgram (udp.ts).

import type { Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import { readAddress } from '../../net/read-address.js';
import type { Resolver, Transport } from '../resolve/resolver.js';
import { AddressNames, SOURCE } from './address-names.js';

interface Addon {
  open(fd: number, rx: ArrayBuffer, rxMeta: ArrayBuffer, tx: ArrayBuffer, txMeta: ArrayBuffer, onBatch: (n: number) => number, receiver: object): unknown;
  start(handle: unknown): void;
  stop(handle: unknown): void;
  send(handle: unknown, n: number): number;
  dropped(handle: unknown): number;
  close(handle: unknown): void;
  BATCH: number;
  SLOT: number;
  META: number;
}

/** How this process serves UDP: the addon, or node:dgram and why. */
export type UdpIo = { addon: Addon; why: null } | { addon: null; why: string };

let io: UdpIo | undefined;

/** Loads the addon once per thread, unless AIFENCE_IO=dgram. */
export function udpIo(): UdpIo {
  if (io !== undefined) return io;
  if (process.env.AIFENCE_IO === 'dgram') return (io = { addon: null, why: 'AIFENCE_IO=dgram' });
  if (process.platform !== 'linux') return (io = { addon: null, why: `no recvmmsg on ${process.platform}` });
  try {
    const addon = createRequire(import.meta.url)('../../../native/udp/build/Release/udp.node') as Addon;
    return (io = { addon, why: null });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' ? 'not built' : (err as Error).message;
    return (io = { addon: null, why: `native/udp ${code}: npm install builds it where a C compiler, make and python3 are installed` });
  }
}

// Offsets into a slot's metadata (see native/udp/udp.c), in bytes.
const LENGTH = 0;
const PORT = 4;
const FAMILY = 6;
const FLAGS = 7;
const ADDRESS = 8;
const SCOPE = 24;
const CUT = 1;
/** Queries up to this length are handed over in a reused Buffer (see query()); a DNS query is rarely longer. */
const SHORT = 512;

/** The descriptor under a bound dgram socket (Node 20-24 keep its libuv handle in the state symbol). */
export function socketFd(socket: Socket): number | null {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const fd = key === undefined ? undefined : (socket as unknown as Record<symbol, { handle?: { fd?: number } }>)[key]?.handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

export class BatchedUdp {
  readonly transport: Transport;
  private readonly handle: unknown;
  private readonly slot: number;
  private readonly batch: number;
  private readonly rx: ArrayBuffer;
  private readonly rxData: Uint8Array;
  /** One Buffer per query length up to SHORT, refilled for each query of that length. */
  private readonly byLength: (Buffer | undefined)[] = [];
  private readonly rxBytes: Uint8Array;
  private readonly rxWords: Uint32Array;
  private readonly rxPorts: Uint16Array;
  private readonly tx: Uint8Array;
  private readonly txWords: Uint32Array;
  private readonly txPorts: Uint16Array;
  private readonly txBytes: Uint8Array;
  private readonly names = new AddressNames();
  /** Answers waiting in tx slots [0, pending). */
  private pending = 0;
  private inBatch = false;
  private flushQueued = false;
  /** The datagram being handled: its slot and source, so its answer copies the source's bytes. */
  private current = -1;
  private currentAddress = '';
  private currentPort = 0;
  private closed = false;
  private readonly flushLater = () => {
    this.flushQueued = false;
    this.flush();
  };

  constructor(
    private readonly addon: Addon,
    private readonly socket: Socket,
    fd: number,
    private readonly resolver: Resolver,
    private readonly draining: () => boolean,
  ) {
    const { BATCH, SLOT, META } = addon;
    this.slot = SLOT;
    this.batch = BATCH;
    this.rx = new ArrayBuffer(BATCH * SLOT);
    this.rxData = new Uint8Array(this.rx);
    const rxMeta = new ArrayBuffer(BATCH * META);
    const tx = new ArrayBuffer(BATCH * SLOT);
    const txMeta = new ArrayBuffer(BATCH * META);
    this.rxBytes = new Uint8Array(rxMeta);
    this.rxWords = new Uint32Array(rxMeta);
    this.rxPorts = new Uint16Array(rxMeta);
    this.tx = new Uint8Array(tx);
    this.txBytes = new Uint8Array(txMeta);
    this.txWords = new Uint32Array(txMeta);
    this.txPorts = new Uint16Array(txMeta);
    this.transport = { udp: true, kind: 'udp', device: '', transient: true, copiesReply: true, send: (reply, address, port) => this.send(reply, address, port) };
    this.handle = addon.open(fd, this.rx, rxMeta, tx, txMeta, this.onBatch, this);
    addon.start(this.handle);
  }

  /** Answers the kernel refused or had no room for (sendmmsg). */
  get dropped(): number {
    return this.closed ? 0 : this.addon.dropped(this.handle);
  }

  /** Stops reading: what arrives from now on waits in the kernel; answers still go out. */
  stopReceiving(): void {
    if (!this.closed) this.addon.stop(this.handle);
  }

  /** Sends what waits and closes the addon's duplicate descriptor (the dgram socket is the caller's). */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.addon.close(this.handle);
  }

  /** Called by the addon with n datagrams in rx; returns how many answers it is to send from tx. */
  private readonly onBatch = (n: number): number => {
    const { rxWords, rxPorts, rxBytes, names, resolver, transport, slot } = this;
    this.inBatch = true;
    try {
      for (let i = 0; i < n; i++) {
        const meta = i * 32;
        const address = names.of(rxBytes, meta + ADDRESS, rxBytes[meta + FAMILY] === 6 ? 16 : 4, rxWords[(meta + SCOPE) >> 2]);
        const port = rxPorts[(meta + PORT) >> 1];
        if (this.draining()) continue;
        if ((rxBytes[meta + FLAGS] & CUT) !== 0) {
          // Longer than a slot: no DNS client sends such a query; dropped as unreadable.
          resolver.stats.queries++;
          resolver.stats.dropped++;
          continue;
        }
        this.current = i;
        this.currentAddress = address;
        this.currentPort = port;
        resolver.handle(this.query(i * slot, rxWords[(meta + LENGTH) >> 2]), address, port, transport);
      }
    } finally {
      this.inBatch = false;
      this.current = -1;
    }
    const out = this.pending;
    this.pending = 0;
    return out;
  };

  /**
   * The datagram at `from` as a Buffer of its own length: up to SHORT bytes
   * copied into the one Buffer kept for that length (the resolver reads it
   * before handle() returns; a query that waits copies it), a longer one a
   * view of its slot.
   */
  private query(from: number, length: number): Buffer {
    if (length > SHORT) return Buffer.from(this.rx, from, length);
    const msg = (this.byLength[length] ??= Buffer.allocUnsafeSlow(length));
    const rx = this.rxData;
    for (let i = 0; i < length; i++) msg[i] = rx[from + i];
    return msg;
  }

  private send(reply: Buffer, address: string, port: number): void {
    if (this.closed || reply.length > this.slot) {
      // An answer bigger than a slot (maxUdpSize above it), or after close: through the dgram socket, which keeps it until sent.
      this.socket.send(Buffer.from(reply), port, address);
      return;
    }
    if (this.pending === this.batch) this.flush();
    const i = this.pending++;
    this.tx.set(reply, i * this.slot);
    const meta = i * 32;
    const { txWords, txBytes } = this;
    txWords[(meta + LENGTH) >> 2] = reply.length;
    this.txPorts[(meta + PORT) >> 1] = port;
    if (this.current >= 0 && address === this.currentAddress && port === this.currentPort) {
      // The datagram being handled: its source as the kernel gave it (address, family, scope).
      const from = (this.current * 32) >> 2;
      const rxWords = this.rxWords;
      txBytes[meta + FAMILY] = this.rxBytes[this.current * 32 + FAMILY];
      for (let w = 2; w < 7; w++) txWords[(meta >> 2) + w] = rxWords[from + w];
    } else if (!this.target(meta, address)) {
      this.pending--;
      this.socket.send(Buffer.from(reply), port, address);
      return;
    }
    if (!this.inBatch && !this.flushQueued) {
      // An answer from outside a batch (an upstream reply, a timer): sent with the others of this loop turn.
      this.flushQueued = true;
      setImmediate(this.flushLater);
    }
  }

  /** Writes `address` (text) into tx metadata at `meta`; false when it does not read as an address. */
  private target(meta: number, address: string): boolean {
    const bytes = SOURCE;
    if (!readAddress(address, bytes)) return false;
    const txBytes = this.txBytes;
    const v6 = address.includes(':');
    txBytes[meta + FAMILY] = v6 ? 6 : 4;
    if (v6) txBytes.set(bytes, meta + ADDRESS);
    else for (let b = 0; b < 4; b++) txBytes[meta + ADDRESS + b] = bytes[12 + b];
    const zone = address.indexOf('%');
    this.txWords[(meta + SCOPE) >> 2] = zone < 0 ? 0 : Number(address.slice(zone + 1)) >>> 0;
    return true;
  }

  private flush(): void {
    const n = this.pending;
    this.pending = 0;
    if (n > 0 && !this.closed) this.addon.send(this.handle, n);
  }
}
