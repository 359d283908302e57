import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { Command } from 'commander';
import { parseHostPort } from '../net/address.js';

/** A query for a name under .invalid (RFC 6761): any answer at all proves the listener is alive. */
function probe(id: number): Buffer {
  const name = Buffer.from('\x06health\x07aifence\x07invalid\x00', 'latin1');
  const msg = Buffer.alloc(12 + name.length + 4);
  msg.writeUInt16BE(id, 0);
  msg[2] = 0x01;
  msg.writeUInt16BE(1, 4);
  name.copy(msg, 12);
  msg.writeUInt16BE(1, 12 + name.length);
  msg.writeUInt16BE(1, 14 + name.length);
  return msg;
}

export function healthCommand(): Command {
  return new Command('health')
    .description('exit 0 when the daemon answers DNS, 1 when it does not (for container health checks)')
    .option('-s, --server <addr:port>', 'where the daemon listens', '127.0.0.1:53')
    .option('--timeout <ms>', 'how long to wait for the answer', '2000')
    .action(async (opts: { server: string; timeout: string }) => {
      const at = parseHostPort(opts.server, 53);
      if (!at) throw new Error(`--server: "${opts.server}" is not an IP address with a port, e.g. 127.0.0.1:53`);
      const id = randomInt(65536);
      const socket = createSocket(at.family === 6 ? 'udp6' : 'udp4');
      const alive = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), Number(opts.timeout));
        socket.on('message', (reply) => {
          if (reply.length >= 12 && reply.readUInt16BE(0) === id) {
            clearTimeout(timer);
            resolve(true);
          }
        });
        socket.on('error', () => resolve(false));
        socket.send(probe(id), at.port, at.host);
      });
      socket.close();
      process.stdout.write(alive ? `aifence answers on ${opts.server}\n` : `no answer from ${opts.server}\n`);
      process.exitCode = alive ? 0 : 1;
    });
}
