// How a DoH connection reaches the HTTP servers. In clear, the first bytes
// tell HTTP/2 with prior knowledge (h2c, from Caddy, Envoy, HAProxy) from
// HTTP/1.1 (nginx, Apache); over TLS, ALPN does (h2 when offered, else
// HTTP/1.1). Both HTTP servers read the client through a stream of ours
// (`relay`): http2 and the HTTP/1.1 parser would otherwise read the socket's
// handle directly, past bytes already read and out of our sight. Seeing the
// bytes is what lets an HTTP/1.1 request the parser refuses get its status:
// 414 for a request line over the limit, 431 for headers, not a bare close.

import { type Server, type Socket, createServer as createTcpServer } from 'node:net';
import { Duplex } from 'node:stream';

/** The HTTP/2 connection preface (RFC 9113 §3.4): a client that speaks h2c with prior knowledge starts with it. */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n');

/**
 * Plain HTTP for a reverse proxy: HTTP/1.1 (nginx, Apache) or HTTP/2 with
 * prior knowledge (Caddy, Envoy, HAProxy h2c), told apart by the first bytes.
 */
export function plainFront(h1: Server, h2c: Server, messageMs: number): Server {
  return createTcpServer((socket) => {
    socket.setTimeout(messageMs, () => socket.destroy()); // nothing sent at all: gone after messageTimeout
    socket.once('data', (chunk: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      const h2 = chunk.length >= 3 && chunk.subarray(0, Math.min(chunk.length, H2_PREFACE.length)).equals(H2_PREFACE.subarray(0, Math.min(chunk.length, H2_PREFACE.length)));
      (h2 ? h2c : h1).emit('connection', relay(socket, chunk));
    });
  });
}

/** The ALPN protocol for a DoH client: h2 when offered, else http/1.1 when offered, else none (served as HTTP/1.1). */
export function chooseProtocol({ protocols }: { protocols: string[] }): string | undefined {
  if (protocols.includes('h2')) return 'h2';
  return protocols.includes('http/1.1') ? 'http/1.1' : undefined;
}

/** A stream over a client socket (TCP, or TLS), and where the line being received began: to tell a long request line from a long header. */
export type Relay = Duplex & {
  /** The first bytes of the line being received before the latest chunk (up to 16), and that chunk. */
  lineBefore: string;
  latest: Buffer | null;
  setTimeout(ms: number, callback?: () => void): Relay;
};

const LINE_HEAD = 16;

/**
 * `socket` as a stream whose first bytes are `head` (already read from it,
 * or null), for a server that reads it through JavaScript: http2 and the
 * HTTP/1.1 parser read a socket's handle directly otherwise, past anything
 * unshifted and out of our sight.
 */
export function relay(socket: Socket, head: Buffer | null): Relay {
  let line = '';
  const stream = new Duplex({
    read: () => void socket.resume(),
    write: (data, encoding, done) => void socket.write(data, encoding, done),
    final: (done) => void socket.end(done),
    destroy: (err, done) => {
      socket.destroy();
      done(err);
    },
  }) as Relay;
  Object.defineProperties(stream, { remoteAddress: { value: socket.remoteAddress }, remotePort: { value: socket.remotePort } });
  // The HTTP servers' idle and keep-alive timers run on the socket underneath.
  stream.setTimeout = (ms: number, callback?: () => void) => {
    socket.setTimeout(ms);
    if (callback) stream.once('timeout', callback);
    return stream;
  };
  socket.on('timeout', () => stream.emit('timeout'));
  const take = (chunk: Buffer) => {
    stream.lineBefore = line;
    stream.latest = chunk;
    const lf = chunk.lastIndexOf(10);
    if (lf >= 0) line = chunk.toString('latin1', lf + 1, Math.min(chunk.length, lf + 1 + LINE_HEAD));
    else if (line.length < LINE_HEAD) line += chunk.toString('latin1', 0, Math.min(chunk.length, LINE_HEAD - line.length));
    if (!stream.push(chunk)) socket.pause();
  };
  stream.lineBefore = '';
  stream.latest = null;
  if (head !== null) take(head);
  socket.on('data', take);
  socket.on('end', () => stream.push(null));
  socket.on('close', () => stream.destroy());
  return stream;
}

export type HttpParseError = Error & { code?: string; bytesParsed?: number; rawPacket?: Buffer };

/**
 * An HTTP/1.1 request the parser refused: its status (414 for a request line
 * over the limit, 431 for headers, 408 for one too slow, 400 for the rest),
 * then the connection closes. Nothing is written if an answer is under way.
 */
export function refuseUnparsed(err: HttpParseError, socket: Relay, maxHeaderBytes: number, onRefused: () => void): void {
  const code = err.code ?? '';
  const status =
    code === 'HPE_HEADER_OVERFLOW' ? (inRequestLine(err, socket) ? 414 : 431) : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : code.startsWith('HPE_') ? 400 : 0;
  const busy = (socket as { _httpMessage?: { headersSent: boolean } })._httpMessage?.headersSent === true;
  if (status === 0 || busy || !socket.writable) return void socket.destroy();
  onRefused();
  const why =
    status === 414
      ? `request line over ${maxHeaderBytes} bytes: a GET ?dns= this long cannot be a DNS query; POST it`
      : status === 431
        ? `request headers over ${maxHeaderBytes} bytes`
        : status === 408
          ? 'request not complete in time'
          : 'not an HTTP/1.1 request';
  const body = `${why}\n`;
  socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  // A client that does not read its refusal does not keep the connection.
  setTimeout(() => socket.destroy(), 1000).unref();
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 414: 'URI Too Long', 431: 'Request Header Fields Too Large' };

/** Was the parser still in the request line (method, target, version) when its limit ran out? */
function inRequestLine(err: HttpParseError, socket: Relay): boolean {
  const chunk = err.rawPacket ?? socket.latest;
  let line = socket.lineBefore;
  if (chunk) {
    const end = Math.min(chunk.length, err.bytesParsed ?? chunk.length);
    const lf = chunk.lastIndexOf(10, end - 1);
    line = lf >= 0 ? chunk.toString('latin1', lf + 1, Math.min(end, lf + 1 + LINE_HEAD)) : (line + chunk.toString('latin1', 0, LINE_HEAD)).slice(0, LINE_HEAD);
  }
  // A request line starts with a method and a space; a header line has a colon before any space.
  return /^[A-Z]+ /.test(line);
}
