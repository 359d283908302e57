// systemd socket activation: the sockets a service manager opened for us and
// passed as descriptors 3, 4, ... (sd_listen_fds(3): LISTEN_PID, LISTEN_FDS,
// LISTEN_FDNAMES). While no aifence holds them (a restart, an upgrade, a
// crash) the kernel queues datagrams and connections on them, so a restart
// delays answers instead of losing them.
//
// What each descriptor is (UDP or listening TCP, which address) is read from
// /proc, without touching the socket: adopting it here to ask would leave
// this thread polling a socket that a worker thread serves. Each passed
// socket must match a listen address; the control plane then tells every
// data plane which ones it adopts instead of binding (src/shared/sockets.ts).

import { readFileSync, readlinkSync } from 'node:fs';
import { endianness } from 'node:os';
import { canonicalAddress, formatHostPort, type HostPort } from '../net/address.js';
import { type PassedSocket, type SocketKind, describeSocket } from '../shared/sockets.js';

/** sd_listen_fds(3): passed descriptors start here. */
const LISTEN_FDS_START = 3;
/** More than any socket unit needs; a bigger count is a mistake, not a request. */
const MAX_LISTEN_FDS = 1024;
const TCP_LISTEN = '0A';

export interface ListenFd {
  fd: number;
  name: string;
}

/**
 * The descriptors passed to this process, as sd_listen_fds(unset_environment=1):
 * none unless LISTEN_PID names this process; the three variables are removed
 * from the environment either way, so that nothing started later (a worker
 * thread's copy of the environment, a child) takes the sockets for its own.
 * Node cannot set FD_CLOEXEC as sd_listen_fds does: serve starts no child
 * process, and the one exec it makes (its memory settings, the same PID)
 * comes before this and must keep them.
 */
export function takeListenFds(env: Record<string, string | undefined> = process.env, pid = process.pid): { fds: ListenFd[]; ignored?: string } {
  const { LISTEN_PID: forPid, LISTEN_FDS: count, LISTEN_FDNAMES: names } = env;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (count === undefined) return { fds: [] };
  if (forPid === undefined || Number(forPid) !== pid) {
    return { fds: [], ignored: `LISTEN_FDS=${count} is for process ${forPid ?? '(LISTEN_PID unset)'}, not this one (${pid}): no socket taken` };
  }
  const n = /^\d+$/.test(count) ? Number(count) : NaN;
  if (!(n >= 0 && n <= MAX_LISTEN_FDS)) throw new Error(`LISTEN_FDS=${count} is not a count of passed sockets (0 to ${MAX_LISTEN_FDS}); check the service's socket unit`);
  // Names are optional (systemd sets them; other managers may not); a list of the wrong length is ignored whole.
  const given = names?.split(':');
  const named = given !== undefined && given.length === n ? given : [];
  return { fds: Array.from({ length: n }, (_, i) => ({ fd: LISTEN_FDS_START + i, name: named[i] ?? '' })) };
}

/** A passed socket as found: its kind, address, descriptor and name. */
export type DescribedSocket = Omit<PassedSocket, 'adopt' | 'shared'>;

/** What each passed descriptor is: a UDP socket or a listening TCP socket, and its address. Anything else is an error naming it. */
export function describeListenFds(fds: readonly ListenFd[], proc = '/proc/self'): DescribedSocket[] {
  if (fds.length === 0) return [];
  const table = inetSockets(proc);
  return fds.map(({ fd, name }) => {
    const which = `passed socket fd ${fd}${name ? ` (${name})` : ''}`;
    let link: string;
    try {
      link = readlinkSync(`${proc}/fd/${fd}`);
    } catch {
      throw new Error(`${which} is not open: LISTEN_FDS counts more descriptors than were passed`);
    }
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
    if (inode === undefined) throw new Error(`${which} is not a socket (${link}); aifence takes ListenDatagram= and ListenStream= sockets on IP:port`);
    const found = table.get(inode);
    if (found === undefined) {
      throw new Error(`${which} is not a UDP or TCP socket of this network namespace (a unix socket?); aifence takes ListenDatagram= and ListenStream= sockets on IP:port`);
    }
    if (found.kind === 'tcp' && !found.listening) throw new Error(`${which} is a connected TCP socket, not a listening one: the socket unit needs Accept=no`);
    return { kind: found.kind, host: found.host, port: found.port, family: found.family, fd, name };
  });
}

interface InetSocket {
  kind: SocketKind;
  host: string;
  port: number;
  family: 4 | 6;
  listening: boolean;
}

/** The process's IPv4/IPv6 UDP and TCP sockets by inode, from /proc/net (what `ss` reads). */
function inetSockets(proc: string): Map<string, InetSocket> {
  const found = new Map<string, InetSocket>();
  for (const [file, kind, family] of [['udp', 'udp', 4], ['udp6', 'udp', 6], ['tcp', 'tcp', 4], ['tcp6', 'tcp', 6]] as const) {
    let text: string;
    try {
      text = readFileSync(`${proc}/net/${file}`, 'utf8');
    } catch {
      continue; // no IPv6 on this machine
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const [hex, port] = f[1].split(':');
      found.set(f[9], { kind, host: procAddress(hex, family), port: parseInt(port, 16), family, listening: f[3] === TCP_LISTEN });
    }
  }
  return found;
}

/** /proc/net writes an address as 32-bit words in the machine's byte order, each as hex. */
export function procAddress(hex: string, family: 4 | 6, order = endianness()): string {
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word = [0, 2, 4, 6].map((i) => parseInt(hex.slice(w + i, w + i + 2), 16));
    bytes.push(...(order === 'LE' ? word.reverse() : word));
  }
  if (family === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return canonicalAddress(groups.join(':'));
}

/** The addresses a data plane listens on: `listen` is UDP and TCP, the encrypted ones TCP. */
export interface ListenAddresses {
  listen: readonly HostPort[];
  listenTls: readonly HostPort[];
  listenHttps: readonly HostPort[];
  listenHttp: readonly HostPort[];
}

/**
 * Which passed sockets each of `planes` data planes adopts. A socket that
 * matches no listen address is an error naming it. When the socket unit
 * passes several sockets for one address (the same Listen line repeated,
 * ReusePort=yes), the planes take turns, each its own. With fewer UDP
 * sockets than planes, planes share one: every worker serves it. A TCP
 * socket is never shared: a listening socket polled by several threads
 * cannot stop accepting in one without being closed for all, so each is
 * served by one plane, and the others leave that address alone.
 */
export function assignSockets(passed: readonly DescribedSocket[], addresses: ListenAddresses, planes: number): PassedSocket[][] {
  for (const s of passed) {
    const roles = s.kind === 'udp' ? [addresses.listen] : [addresses.listen, addresses.listenTls, addresses.listenHttps, addresses.listenHttp];
    if (!roles.some((list) => list.some((at) => at.host === s.host && at.port === s.port && at.family === s.family))) {
      throw new Error(`the service manager passed a socket that matches no listen address: ${describeSocket(s)}; aifence listens on ${listeningOn(addresses)}. Add it to listen (UDP and TCP) or listenTls/listenHttps/listenHttp (TCP), or remove it from the socket unit`);
    }
  }
  const groups = new Map<string, DescribedSocket[]>();
  for (const s of passed) {
    const key = `${s.kind} ${s.host} ${s.port}`;
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  return Array.from({ length: planes }, (_, plane) =>
    [...groups.values()].flatMap((group): PassedSocket[] => {
      const k = group.length;
      if (group[0].kind === 'tcp' || k >= planes) return group.map((s, j) => ({ ...s, adopt: j % planes === plane, shared: false }));
      // Fewer UDP sockets than planes: plane i serves socket i mod k, with the other planes that land on it.
      return group.map((s, j) => ({ ...s, adopt: plane % k === j, shared: true }));
    }),
  );
}

function listeningOn(a: ListenAddresses): string {
  const show = (key: string, list: readonly HostPort[]) => (list.length > 0 ? [`${key} ${list.map(formatHostPort).join(', ')}`] : []);
  const parts = [...show('listen', a.listen), ...show('listenTls', a.listenTls), ...show('listenHttps', a.listenHttps), ...show('listenHttp', a.listenHttp)];
  return parts.length > 0 ? parts.join('; ') : 'nothing';
}

/** The passed sockets as the start log names them. */
export const adoptedSummary = (passed: readonly DescribedSocket[]): string[] => passed.map(describeSocket);
