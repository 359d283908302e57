// Listening sockets the service manager passed (systemd socket activation),
// as the control plane hands them to a data plane: plain data, so that it
// crosses to a worker thread. A descriptor number is valid in every thread
// of the process, so a worker adopts the socket by its number.

export type SocketKind = 'udp' | 'tcp';

/** One passed socket and what the plane that receives this table does with it. */
export interface PassedSocket {
  kind: SocketKind;
  host: string;
  port: number;
  family: 4 | 6;
  fd: number;
  /** LISTEN_FDNAMES' name for it (systemd: FileDescriptorName=, by default the socket unit's name). */
  name: string;
  /** This plane serves it (else another worker does, and this one must not bind the address). */
  adopt: boolean;
  /**
   * Other threads serve the same descriptor: this plane never closes it
   * (closing a number closes it for every thread), it only stops reading.
   */
  shared: boolean;
}

/** `udp 127.0.0.1:53 (fd 3, aifence.socket)`: how logs and errors name a passed socket. */
export function describeSocket(s: Pick<PassedSocket, 'kind' | 'host' | 'port' | 'fd' | 'name'>): string {
  const at = s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
  return `${s.kind} ${at} (fd ${s.fd}${s.name ? `, ${s.name}` : ''})`;
}

/** The passed sockets of `kind` for the address `at`: none means the plane binds it itself. */
export function passedFor(sockets: readonly PassedSocket[], kind: SocketKind, at: { host: string; port: number }): PassedSocket[] {
  return sockets.filter((s) => s.kind === kind && s.host === at.host && s.port === at.port);
}
