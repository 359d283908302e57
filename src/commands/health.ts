import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_CONFIG_PATH, loadConfig } from '../control/config/load.js';
import { type HostPort, formatHostPort, parseHostPort } from '../net/address.js';
import { HEALTH_PROBE_NAME } from '../wire/answers.js';

// The name aifence answers itself (NOERROR, never forwarded), so the probe does not depend on the upstream.
const HEALTH_NAME = HEALTH_PROBE_NAME;

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

/** A query for HEALTH_NAME, type A, with recursion desired. */
function probe(id: number): Buffer {
  const name = Buffer.from(HEALTH_NAME.split('.').map((l) => String.fromCharCode(l.length) + l).join('') + '\0', 'latin1');
  const msg = Buffer.alloc(12 + name.length + 4);
  msg.writeUInt16BE(id, 0);
  msg[2] = 0x01;
  msg.writeUInt16BE(1, 4);
  name.copy(msg, 12);
  msg.writeUInt16BE(1, 12 + name.length);
  msg.writeUInt16BE(1, 14 + name.length);
  return msg;
}

/** Where the daemon of this config answers: its first listen address, a wildcard read as loopback. */
export function probeTarget(listen: HostPort): HostPort {
  if (listen.host === '0.0.0.0') return { ...listen, host: '127.0.0.1' };
  if (listen.host === '::') return { ...listen, host: '::1' };
  return listen;
}

type Outcome = { alive: true } | { alive: false; why: string };

/** Sends one probe and waits for the reply to it: same source, same ID, QR set; then only NOERROR counts. */
async function ask(at: HostPort, timeoutMs: number): Promise<Outcome> {
  const id = randomInt(65536);
  const socket = createSocket(at.family === 6 ? 'udp6' : 'udp4');
  try {
    return await new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => resolve({ alive: false, why: `no answer from ${formatHostPort(at)} within ${timeoutMs}ms` }), timeoutMs);
      const done = (o: Outcome) => {
        clearTimeout(timer);
        resolve(o);
      };
      socket.on('message', (reply, from) => {
        // Anything else (a stale reply, a stray packet, our own query echoed back) is not an answer.
        if (from.port !== at.port || reply.length < 12 || reply.readUInt16BE(0) !== id || (reply[2] & 0x80) === 0) return;
        const rcode = reply[3] & 0x0f;
        done(rcode === 0 ? { alive: true } : { alive: false, why: `${formatHostPort(at)} answered ${RCODES[rcode] ?? `rcode ${rcode}`}, not NOERROR` });
      });
      socket.on('error', (err) => done({ alive: false, why: `${formatHostPort(at)}: ${err.message}` }));
      socket.send(probe(id), at.port, at.host);
    });
  } finally {
    socket.close();
  }
}

function timeoutArg(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 1 || ms > 60_000) throw new InvalidArgumentError('write milliseconds from 1 to 60000, e.g. 2000');
  return ms;
}

export function healthCommand(): Command {
  return new Command('health')
    .description(`exit 0 when the daemon answers ${HEALTH_NAME} with NOERROR, 1 when it does not (for health checks)`)
    .option('-s, --server <addr:port>', 'where the daemon listens (wins over --config)')
    .option('-c, --config <file>', 'probe the first listen address of this config (default: config/aifence.yaml of the package)')
    .option('--timeout <ms>', 'how long to wait for the answer', timeoutArg, 2000)
    .action(async (opts: { server?: string; config?: string; timeout: number }) => {
      let at: HostPort;
      if (opts.server !== undefined) {
        const hp = parseHostPort(opts.server, 53);
        if (!hp) throw new Error(`--server: "${opts.server}" is not an IP address with a port, e.g. 127.0.0.1:53`);
        at = hp;
      } else {
        // Only the listen address matters here: a machine whose resolv.conf names no server can still probe.
        at = probeTarget(loadConfig(opts.config ?? DEFAULT_CONFIG_PATH, () => ['192.0.2.1']).listen[0]);
      }
      const where = formatHostPort(at);
      const outcome = await ask(at, opts.timeout);
      process.stdout.write(outcome.alive ? `aifence answers on ${where}\n` : `${outcome.why}\n`);
      process.exitCode = outcome.alive ? 0 : 1;
    });
}
