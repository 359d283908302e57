// A fresh UDP socket per upstream attempt, on a port the kernel picks at
// random from its ephemeral range (Linux: 28,232 ports), connected to the
// server so that the kernel drops datagrams from any other source. An
// off-path forger must guess the port as well as the ID and the 0x20 case.
// Costs about 15-20 µs of CPU per miss against a shared socket (bench/upstream-ports.mjs).

import { type RemoteInfo, type Socket, createSocket } from 'node:dgram';
import type { UpstreamServer } from './servers.js';

/** Sockets open at once, all servers together: a bound on descriptors under a flood of misses. */
export const MAX_UDP_SOCKETS = 4096;

export class UdpPorts {
  open = 0;

  /**
   * Sends `query` to `server` from a new socket; `onReply` sees every datagram
   * that socket receives. Null when MAX_UDP_SOCKETS are already open.
   */
  send(server: UpstreamServer, query: Buffer, onReply: (msg: Buffer, rinfo: RemoteInfo) => void): Socket | null {
    if (this.open >= MAX_UDP_SOCKETS) return null;
    this.open++;
    const socket = createSocket(server.address.family === 6 ? 'udp6' : 'udp4');
    socket.on('message', onReply);
    socket.on('error', () => undefined); // ICMP errors (port unreachable) surface here; the attempt's timeout handles them
    socket.connect(server.address.port, server.address.host, () => {
      try {
        socket.send(query);
      } catch {
        // closed before it connected: the exchange ended first
      }
    });
    socket.unref();
    return socket;
  }

  close(socket: Socket): void {
    this.open--;
    try {
      socket.close();
    } catch {
      // already closed by the error path
    }
  }
}
