// Binding an address, or adopting a socket the service manager passed
// (src/control/activation.ts): the listeners take a HostPort that may carry
// the passed descriptor, and open it one way or the other.

import type { Socket as UdpSocket } from 'node:dgram';
import type { ListenOptions } from 'node:net';
import type { HostPort } from '../../net/address.js';

/** Where a listener opens: bind `host:port`, or adopt the passed socket `fd` (already bound there). */
export type ListenAt = HostPort & { fd?: number };

/** `server.listen()` options for a TCP, TLS or HTTP server: the passed descriptor, or the address. */
export function serverListenOptions(at: ListenAt, reusePort: boolean): ListenOptions | { fd: number } {
  return at.fd !== undefined ? { fd: at.fd } : { host: at.host, port: at.port, ipv6Only: at.family === 6, reusePort };
}

/** Binds the UDP socket, or wraps the passed descriptor. */
export function bindUdp(socket: UdpSocket, at: ListenAt, done: () => void): void {
  if (at.fd !== undefined) socket.bind({ fd: at.fd }, done);
  else socket.bind(at.port, at.host, done);
}

/**
 * Stops reading a UDP socket without closing it: datagrams that arrive from
 * now on wait in the kernel for the next process the service manager starts
 * on the same socket, while answers still go out. dgram has no public call
 * for this; its state holds the libuv handle (Node 20-24). Returns false
 * where that is not found (then the caller keeps reading until it closes).
 */
export function stopReceiving(socket: UdpSocket): boolean {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const state = key === undefined ? undefined : (socket as unknown as Record<symbol, { handle?: { recvStop?: () => number }; receiving?: boolean }>)[key];
  if (typeof state?.handle?.recvStop !== 'function') return false;
  state.handle.recvStop();
  state.receiving = false;
  return true;
}
