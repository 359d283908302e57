// DNS over HTTPS to an upstream (RFC 8484): one HTTP/2 connection per
// server, kept open and shared by every query (each its own stream, so
// answers come back in any order), POST with the query as body. The
// connection is bootstrapped by IP (TLS to the address, the certificate
// checked for '#NAME'); it closes after IDLE_MS with nothing to do.

import { type ClientHttp2Session, type ClientHttp2Stream, connect as h2connect, constants } from 'node:http2';
import { formatHostPort } from '../../../net/address.js';
import type { UpstreamServer } from './servers.js';
import type { TcpWaiter } from './tcp.js';
import { IDLE_MS, MAX_PENDING } from './tcp.js';
import type { TlsDialer } from './tls.js';

const MAX_ANSWER = 65535;
/** Streams one session may have open; beyond it a query waits for no one: the pool calls it overloaded. */
const MAX_STREAMS = MAX_PENDING * 4;

class DohSession {
  readonly streams = new Map<TcpWaiter, ClientHttp2Stream>();
  served = 0;
  open = true;

  constructor(readonly session: ClientHttp2Session) {}

  /** Stops waiting for `waiter`: its stream is cancelled. */
  forget(waiter: TcpWaiter): void {
    const stream = this.streams.get(waiter);
    if (stream === undefined) return;
    this.streams.delete(waiter);
    if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
  }

  /** The session is gone: every query on it is handed back. */
  lose(): void {
    this.open = false;
    const reused = this.served > 0;
    const waiters = [...this.streams.keys()];
    this.streams.clear();
    for (const w of waiters) w.settle(null, reused);
  }
}

export class DohSessions {
  private readonly byServer = new Map<number, DohSession>();
  opened = 0;

  /** Sends `waiter.sent` to `server` on its session (opening one if needed); null when the session is full. */
  send(server: UpstreamServer, dialer: TlsDialer, waiter: TcpWaiter, fresh: boolean): DohSession | null {
    let s = this.byServer.get(server.index);
    if (s !== undefined && (!s.open || fresh)) {
      if (fresh && s.open) s.session.close(); // a fresh one was asked for: the old one finishes what it has
      s = undefined;
    }
    if (s === undefined) s = this.connect(server, dialer);
    if (s.streams.size >= MAX_STREAMS) return null;
    const encrypted = server.address.encrypted!;
    const stream = s.session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: encrypted.path,
      [constants.HTTP2_HEADER_AUTHORITY]: encrypted.name ?? formatHostPort(server.address),
      'content-type': 'application/dns-message',
      accept: 'application/dns-message',
    });
    s.streams.set(waiter, stream);
    const session = s;
    let status = 0;
    let length = 0;
    const chunks: Buffer[] = [];
    const settle = (reply: Buffer | null) => {
      if (session.streams.get(waiter) !== stream) return;
      session.streams.delete(waiter);
      if (reply !== null) session.served++;
      // An HTTP error is this server failing the query; only a lost session is worth a resend.
      waiter.settle(reply, false);
    };
    stream.on('response', (headers) => {
      status = Number(headers[constants.HTTP2_HEADER_STATUS]);
      const type = String(headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (status !== 200 || type !== 'application/dns-message') {
        settle(null);
        stream.close(constants.NGHTTP2_CANCEL);
      }
    });
    stream.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > MAX_ANSWER) {
        settle(null);
        stream.close(constants.NGHTTP2_CANCEL);
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => settle(status === 200 ? Buffer.concat(chunks) : null));
    stream.on('error', () => undefined); // 'close' follows
    stream.on('close', () => {
      // Closed without an answer: a reset stream, or the session went (then lose() has settled it already).
      if (session.streams.get(waiter) === stream) settle(null);
    });
    stream.end(waiter.sent);
    return s;
  }

  get openConnections(): number {
    let n = 0;
    for (const s of this.byServer.values()) if (s.open) n++;
    return n;
  }

  close(): void {
    for (const s of this.byServer.values()) {
      s.session.destroy();
      s.lose();
    }
    this.byServer.clear();
  }

  private connect(server: UpstreamServer, dialer: TlsDialer): DohSession {
    this.opened++;
    const session = h2connect(`https://${formatHostPort(server.address)}`, {
      createConnection: () => dialer.connect(['h2']),
      settings: { enablePush: false },
    });
    const s = new DohSession(session);
    this.byServer.set(server.index, s);
    session.on('error', () => undefined); // the dialer reports TLS errors; 'close' hands the queries back
    session.on('goaway', () => {
      s.open = false;
    });
    session.on('close', () => {
      if (this.byServer.get(server.index) === s) this.byServer.delete(server.index);
      s.lose();
    });
    session.setTimeout(IDLE_MS, () => {
      if (s.streams.size === 0) session.close();
    });
    session.unref();
    return s;
  }
}
