// UDP listener: one socket per listen address, every datagram straight to the resolver.

import { type Socket, createSocket } from 'node:dgram';
import type { LookupOneOptions } from 'node:dns';
import type { Resolver, Transport } from '../resolve/resolver.js';
import { type ListenAt, bindUdp } from './passed.js';

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

/**
 * `draining` says when shutdown has begun: new datagrams are then ignored while answers in flight still go out.
 * `reusePort`: every worker thread binds the same address and the kernel spreads clients over them (SO_REUSEPORT).
 * `at.fd`: a socket the service manager passed, adopted instead of bound.
 */
export async function listenUdp(at: ListenAt, resolver: Resolver, draining: () => boolean, reusePort = false): Promise<Socket> {
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
  return socket;
}
