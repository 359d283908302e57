// TCP listener (RFC 7766): length-prefixed messages, pipelined, answered in
// whatever order they complete. A malformed frame stops reading on that
// connection only; it closes once the good queries before it are answered.

import { type Server, type Socket, createServer } from 'node:net';
import type { HostPort } from '../net/address.js';
import type { Resolver, Transport } from '../resolve/resolver.js';
import { HEADER_SIZE } from '../wire/message.js';

const IDLE_MS = 10_000;
const MAX_CONNECTIONS = 1024;

export interface TcpListener {
  server: Server;
  /** Stop accepting connections; the open ones keep being served. */
  stopAccepting(): void;
  /** Hang up on every open connection. */
  closeConnections(): void;
}

export async function listenTcp(at: HostPort, resolver: Resolver, drainMs: number): Promise<TcpListener> {
  const open = new Set<Socket>();
  const server = createServer({ noDelay: true }, (socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    serveConnection(socket, resolver, drainMs);
  });
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: at.host, port: at.port, ipv6Only: at.family === 6 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    stopAccepting: () => server.close(),
    closeConnections: () => open.forEach((s) => s.destroy()),
  };
}

function serveConnection(socket: Socket, resolver: Resolver, drainMs: number): void {
  let buffered: Buffer = Buffer.alloc(0);
  let outstanding = 0;
  let closing = false;
  const address = socket.remoteAddress ?? '';
  const port = socket.remotePort ?? 0;

  const closeWhenAnswered = () => {
    if (closing && outstanding === 0) socket.end();
  };
  const transport: Transport = {
    udp: false,
    send: (reply) => {
      outstanding--;
      if (socket.writable) {
        const frame = Buffer.allocUnsafe(reply.length + 2);
        frame.writeUInt16BE(reply.length, 0);
        reply.copy(frame, 2);
        socket.write(frame);
      }
      closeWhenAnswered();
    },
  };

  socket.setTimeout(IDLE_MS, () => socket.destroy());
  socket.on('error', () => undefined); // a reset connection concerns that client only
  socket.on('data', (chunk) => {
    if (closing) return;
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    while (buffered.length >= 2) {
      const length = buffered.readUInt16BE(0);
      if (length < HEADER_SIZE) {
        // Not a DNS message: answer what came before, then hang up.
        closing = true;
        socket.pause();
        setTimeout(() => socket.destroy(), drainMs).unref();
        closeWhenAnswered();
        return;
      }
      if (buffered.length < length + 2) break;
      const msg = buffered.subarray(2, length + 2);
      buffered = buffered.subarray(length + 2);
      outstanding++;
      if (!resolver.handle(msg, address, port, transport)) outstanding--;
    }
  });
}
