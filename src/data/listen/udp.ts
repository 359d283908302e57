// UDP listener: one socket per listen address, every datagram straight to
// the resolver: in batches through the native addon where it loaded
// (batched.ts), else one by one through node:dgram.

import { type Socket, createSocket } from 'node:dgram';
import type { LookupOneOptions } from 'node:dns';
import type { AddressInfo } from 'node:net';
import type { Resolver, Transport } from '../resolve/resolver.js';
import { BatchedUdp, socketFd, udpIo } from './batched.js';
import { type ListenAt, bindUdp, stopReceiving } from './passed.js';

// Room for a burst of an office's queries while the event loop is busy.
const RECEIVE_BUFFER = 4 * 1024 * 1024;

/**
 * Answers go to the address a query came from, always an IP literal (and the
 * listen address is one too): handed straight back, where dgram's default
 * dns.lookup would validate it, run isIP's regex and defer the send by a tick
 * with a closure, for every answer.
 */
const literal = (address: string, _: LookupOneOptions, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void =>
  callback(null, address, address.includes(':') ? 6 : 4);

/** One listening UDP socket, whichever way it reads. */
export interface UdpListener {
  /** `batched` (recvmmsg/sendmmsg through native/udp) or `dgram`. */
  readonly io: 'batched' | 'dgram';
  address(): AddressInfo;
  /** Stops reading without closing (a passed socket: what arrives waits in the kernel for the next process); answers still go out. */
  stopReceiving(): void;
  close(): void;
}

/**
 * `draining` says when shutdown has begun: new datagrams are then ignored while answers in flight still go out.
 * `reusePort`: every worker thread binds the same address and the kernel spreads clients over them (SO_REUSEPORT).
 * `at.fd`: a socket the service manager passed, adopted instead of bound.
 */
export async function listenUdp(at: ListenAt, resolver: Resolver, draining: () => boolean, reusePort = false): Promise<UdpListener> {
  const socket = createSocket({ type: at.family === 6 ? 'udp6' : 'udp4', ipv6Only: at.family === 6, reusePort, lookup: literal });
  const transport: Transport = {
    udp: true,
    kind: 'udp',
    device: '',
    send: (reply, address, port) => socket.send(reply, port, address),
  };
  socket.on('message', (msg, rinfo) => {
    if (!draining()) resolver.handle(msg, rinfo.address, rinfo.port, transport);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    bindUdp(socket, at, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  // Sending to a client that has gone away raises ICMP errors here; they concern that client only.
  socket.on('error', () => undefined);
  try {
    socket.setRecvBufferSize(RECEIVE_BUFFER);
  } catch {
    // The kernel caps it (net.core.rmem_max); the default still works.
  }
  const { addon } = udpIo();
  const fd = addon === null ? null : socketFd(socket);
  // dgram stops reading (nothing has been read yet: this is the bind's own turn) and the addon reads a duplicate of its descriptor.
  if (addon !== null && fd !== null && stopReceiving(socket)) return batchedListener(socket, new BatchedUdp(addon, socket, fd, resolver, draining));
  return {
    io: 'dgram',
    address: () => socket.address(),
    stopReceiving: () => void stopReceiving(socket),
    close: () => socket.close(),
  };
}

function batchedListener(socket: Socket, batched: BatchedUdp): UdpListener {
  return {
    io: 'batched',
    address: () => socket.address(),
    stopReceiving: () => batched.stopReceiving(),
    close: () => {
      batched.close();
      socket.close();
    },
  };
}
