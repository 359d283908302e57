// A listener that cannot open says which one (udp or tcp, which address, or
// the admin API), why, and what to do: `bind EADDRINUSE 127.0.0.1:53` alone
// leaves a new admin guessing which program to look for.

import { type HostPort, formatHostPort } from '../net/address.js';

export class ListenError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ListenError';
  }
}

/**
 * `listener` names it when known ('admin API (http)'); for DNS it is read from
 * the failed call: dgram's bind is UDP, a server's listen is TCP.
 */
export function explainListenError(err: unknown, at: HostPort, listener?: string): unknown {
  const e = err as NodeJS.ErrnoException;
  const what = `${listener ?? (e.syscall === 'bind' ? 'udp' : 'tcp')} ${formatHostPort(at)}`;
  const ss = `ss -lntup 'sport = :${at.port}'`;
  switch (e.code) {
    case 'EADDRINUSE': {
      const resolved =
        at.port === 53
          ? '; on most Linux desktops and servers it is systemd-resolved\'s stub (127.0.0.53): set DNSStubListener=no (README: "Port 53 and systemd-resolved"), or listen on this machine\'s LAN address only'
          : '';
      return new ListenError(`cannot listen on ${what}: another program already holds that port (is aifence already running?); see which with: ${ss}${resolved}`, e.code);
    }
    case 'EACCES':
      return new ListenError(
        `cannot listen on ${what}: permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE (deploy/systemd/aifence.service grants it), or listen on a port above 1023, e.g. 127.0.0.1:5300`,
        e.code,
      );
    case 'EAFNOSUPPORT':
      return new ListenError(`cannot listen on ${what}: this machine has IPv6 turned off; remove the IPv6 addresses from listen`, e.code);
    case 'EADDRNOTAVAIL':
      return new ListenError(`cannot listen on ${what}: no network interface of this machine has that address; use one it has (ip -brief address) or 0.0.0.0`, e.code);
    default:
      return err;
  }
}
