import { createSocket } from 'node:dgram';
import { closeSync, openSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { assignSockets, describeListenFds, procAddress, takeListenFds, type DescribedSocket } from './activation.js';

describe('takeListenFds (sd_listen_fds semantics)', () => {
  it('takes descriptors 3.. with their names when LISTEN_PID is this process, and removes the variables', () => {
    const env: Record<string, string | undefined> = { LISTEN_PID: '4242', LISTEN_FDS: '3', LISTEN_FDNAMES: 'a.socket:a.socket:doh', OTHER: 'x' };
    expect(takeListenFds(env, 4242)).toEqual({ fds: [{ fd: 3, name: 'a.socket' }, { fd: 4, name: 'a.socket' }, { fd: 5, name: 'doh' }] });
    expect(env).toEqual({ OTHER: 'x' });
  });

  it('ignores sockets meant for another process, still removing the variables', () => {
    const env: Record<string, string | undefined> = { LISTEN_PID: '1', LISTEN_FDS: '2' };
    const taken = takeListenFds(env, 4242);
    expect(taken.fds).toEqual([]);
    expect(taken.ignored).toContain('is for process 1, not this one (4242)');
    expect(env).toEqual({});
    expect(takeListenFds({ LISTEN_FDS: '2' }, 4242).fds).toEqual([]);
  });

  it('nothing passed: nothing taken; names of the wrong count are dropped, a bad count is an error', () => {
    expect(takeListenFds({}, 1)).toEqual({ fds: [] });
    expect(takeListenFds({ LISTEN_PID: '1', LISTEN_FDS: '2', LISTEN_FDNAMES: 'only-one' }, 1).fds).toEqual([{ fd: 3, name: '' }, { fd: 4, name: '' }]);
    expect(() => takeListenFds({ LISTEN_PID: '1', LISTEN_FDS: 'two' }, 1)).toThrow('LISTEN_FDS=two is not a count of passed sockets');
  });
});

describe('procAddress (/proc/net notation)', () => {
  it('reads IPv4 and IPv6 addresses in either byte order', () => {
    expect(procAddress('0100007F', 4, 'LE')).toBe('127.0.0.1');
    expect(procAddress('7F000001', 4, 'BE')).toBe('127.0.0.1');
    expect(procAddress('00000000000000000000000001000000', 6, 'LE')).toBe('::1');
    expect(procAddress('B80D0120000000000000000035000000', 6, 'LE')).toBe('2001:db8::35');
  });
});

describe('describeListenFds (what each passed descriptor is, from /proc)', () => {
  /** The descriptor behind a listening socket (internal, as a service manager would have it). */
  const serverFd = (s: Server) => (s as unknown as { _handle: { fd: number } })._handle.fd;

  it('tells a UDP socket and a listening TCP socket, with their addresses', async () => {
    const udp = createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    const tcp = createServer();
    await new Promise<void>((r) => tcp.listen(0, '::1', r));
    try {
      const state = Object.getOwnPropertySymbols(udp).find((s) => s.description === 'state symbol')!;
      const udpFd = (udp as unknown as Record<symbol, { handle: { fd: number } }>)[state].handle.fd;
      const found = describeListenFds([{ fd: udpFd, name: 'one' }, { fd: serverFd(tcp), name: 'two' }]);
      expect(found).toEqual([
        { kind: 'udp', host: '127.0.0.1', port: udp.address().port, family: 4, fd: udpFd, name: 'one' },
        { kind: 'tcp', host: '::1', port: (tcp.address() as { port: number }).port, family: 6, fd: serverFd(tcp), name: 'two' },
      ]);
    } finally {
      udp.close();
      tcp.close();
    }
  });

  it('refuses what is not a listening UDP or TCP socket, naming the descriptor', async () => {
    const file = openSync('/dev/null', 'r');
    try {
      expect(() => describeListenFds([{ fd: file, name: 'x.socket' }])).toThrow(`passed socket fd ${file} (x.socket) is not a socket`);
    } finally {
      closeSync(file);
    }
    expect(() => describeListenFds([{ fd: 999_999, name: '' }])).toThrow('passed socket fd 999999 is not open');
    // A connected TCP socket (what Accept=yes would pass): not one to listen on.
    const server = createServer((s) => s.on('error', () => undefined));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client: Socket = connect((server.address() as { port: number }).port, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    try {
      const fd = (client as unknown as { _handle: { fd: number } })._handle.fd;
      expect(() => describeListenFds([{ fd, name: '' }])).toThrow('is a connected TCP socket, not a listening one');
    } finally {
      client.destroy();
      server.close();
    }
  });
});

describe('assignSockets', () => {
  const sock = (kind: 'udp' | 'tcp', port: number, fd: number, host = '127.0.0.1'): DescribedSocket => ({ kind, host, port, family: host.includes(':') ? 6 : 4, fd, name: 'aifence.socket' });
  const at = (port: number, host = '127.0.0.1') => ({ host, port, family: (host.includes(':') ? 6 : 4) as 4 | 6 });
  const none = { listenTls: [], listenHttps: [], listenHttp: [] };

  it('one plane adopts every passed socket', () => {
    const [plane] = assignSockets([sock('udp', 53, 3), sock('tcp', 53, 4), sock('tcp', 443, 5)], { listen: [at(53)], listenTls: [], listenHttps: [at(443)], listenHttp: [] }, 1);
    expect(plane.map((s) => [s.fd, s.adopt, s.shared])).toEqual([[3, true, false], [4, true, false], [5, true, false]]);
  });

  it('a socket matching no listen address is an error naming it and the listen addresses', () => {
    expect(() => assignSockets([sock('udp', 53, 3), sock('udp', 5353, 4)], { listen: [at(53)], ...none }, 1)).toThrow(
      'matches no listen address: udp 127.0.0.1:5353 (fd 4, aifence.socket); aifence listens on listen 127.0.0.1:53',
    );
    // UDP never matches a DoT/DoH address (those are TCP), nor another family's wildcard.
    expect(() => assignSockets([sock('udp', 853, 3)], { listen: [], listenTls: [at(853)], listenHttps: [], listenHttp: [] }, 1)).toThrow('udp 127.0.0.1:853 (fd 3');
    expect(() => assignSockets([sock('udp', 53, 3, '::')], { listen: [at(53, '0.0.0.0')], ...none }, 1)).toThrow('udp [::]:53 (fd 3');
  });

  it('workers share one UDP socket; each TCP socket goes to one worker; repeated sockets are dealt out', () => {
    const planes = assignSockets([sock('udp', 53, 3), sock('tcp', 53, 4)], { listen: [at(53)], ...none }, 3);
    expect(planes.map((p) => p.find((s) => s.kind === 'udp')!)).toMatchObject([
      { adopt: true, shared: true },
      { adopt: true, shared: true },
      { adopt: true, shared: true },
    ]);
    expect(planes.map((p) => p.find((s) => s.kind === 'tcp')!.adopt)).toEqual([true, false, false]);
    // Two of each for two workers (the Listen lines repeated, ReusePort=yes): one each, nothing shared.
    const two = assignSockets([sock('udp', 53, 3), sock('udp', 53, 4), sock('tcp', 53, 5), sock('tcp', 53, 6)], { listen: [at(53)], ...none }, 2);
    expect(two.map((p) => p.filter((s) => s.adopt).map((s) => [s.fd, s.shared]))).toEqual([
      [[3, false], [5, false]],
      [[4, false], [6, false]],
    ]);
  });
});
