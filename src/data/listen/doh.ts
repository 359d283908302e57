// DNS over HTTPS (RFC 8484): /dns-query, GET (?dns=base64url) and POST
// (application/dns-message), over HTTP/2 and HTTP/1.1 with TLS, or plain
// HTTP/1.1 behind a reverse proxy. A request is one query; the resolver
// answers it exactly as it answers UDP and TCP (groups, access, lists).
// `/dns-query/ID` names the device asking (device.ts): its id travels with
// the query, and a group that lists it wins over the address.
// Everything a client controls is bounded: connections (in total and per
// client, together with TCP's), streams per connection (and the queries of
// cancelled streams still out: doh-streams.ts), requests in flight per
// client behind a trusted proxy, header and body size, how long a
// connection may idle and a request may take to arrive. A malformed request
// gets its 4xx (http-front.ts for what the HTTP/1.1 parser refuses) and
// costs nothing else.

import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
  type ServerHttp2Stream,
  type ServerOptions,
  createSecureServer,
  createServer as createH2cServer,
} from 'node:http2';
import { type AddressInfo, type Server, type Socket, isIP } from 'node:net';
import { Duplex } from 'node:stream';
import type { DohConfig } from '../../shared/serving-config.js';
import type { TcpConfig } from '../../shared/serving-config.js';
import { type Cidr, addressBytes, cidrContains } from '../../net/address.js';
import type { Resolver, Transport } from '../resolve/resolver.js';
import { HEADER_SIZE, readU16, readU32, skipName } from '../../wire/message.js';
import { ClientCounts, Counted } from './client-counts.js';
import { StreamBudget } from './doh-streams.js';
import { type HttpParseError, type Relay, chooseProtocol, plainFront, refuseUnparsed, relay } from './http-front.js';
import type { TlsFiles } from './tls-files.js';
import { type ListenAt, serverListenOptions } from './passed.js';
import { DOH_PATH, deviceOfPath } from './device.js';
import { DEVICE_ID_RULE } from '../../shared/device.js';

const CONTENT_TYPE = 'application/dns-message';
/** The largest DNS message (RFC 8484 §6: a DNS message over HTTP is at most 65535 bytes). */
const MAX_MESSAGE = 65535;
/** Base64url of the largest message, unpadded. */
const MAX_GET_PARAM = Math.ceil((MAX_MESSAGE * 4) / 3);
/** Request header bytes (HTTP/1.1 and HTTP/2 alike): a DoH request needs a few hundred. */
const MAX_HEADER_BYTES = 16 * 1024;
/** X-Forwarded-For hops looked at, from the right: a longer chain is not read further. */
const MAX_FORWARDED_HOPS = 16;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Why requests were turned away, for tests and operators. */
export interface DohStats {
  /** Connections refused: over tcp.maxPerClient (tcp.maxConnections is enforced by the server). */
  refused: number;
  /** Answered 4xx: not a DoH request, not a DNS message, or over a forwarded client's share. */
  rejected: number;
}

export interface DohListener {
  server: Server;
  readonly stats: Readonly<DohStats>;
  readonly connections: number;
  address(): AddressInfo;
  stopAccepting(): void;
  closeConnections(): void;
}

type Request = IncomingMessage | Http2ServerRequest;
/** Requests in flight for clients a trusted proxy names, and how many one may have. */
type Forwarded = { clients: ClientCounts; limit: number };
type Response = ServerResponse | Http2ServerResponse;

/** writeHead on either response type (their overloads do not unite into one callable type). */
const writeHead = (res: Response, status: number, headers: Record<string, string>): void => void (res as ServerResponse).writeHead(status, headers);

export interface DohOptions {
  tcp: TcpConfig;
  doh: DohConfig;
  /** The certificate for HTTPS; null: plain HTTP/1.1 for a reverse proxy in front. */
  tls: TlsFiles | null;
  /** Every worker thread binds the same address (SO_REUSEPORT). */
  reusePort?: boolean;
  /** Each client's connections over every listener and worker (tcp.maxPerClient); absent: this listener's own. */
  clients?: ClientCounts;
}

/** `at.fd`: a socket the service manager passed, adopted instead of bound. */
export async function listenDoh(at: ListenAt, resolver: Resolver, options: DohOptions): Promise<DohListener> {
  const { tcp, doh, tls } = options;
  const clients = options.clients ?? new ClientCounts(undefined, 0, tcp.maxConnections);
  const stats: DohStats = { refused: 0, rejected: 0 };
  const idleMs = tcp.idleTimeout * 1000;
  const messageMs = tcp.messageTimeout * 1000;
  // A client behind a trusted proxy may have in flight what it could holding its own connections.
  const forwarded = { clients, limit: tcp.maxPerClient * doh.maxStreams };
  const handler = (req: Request, res: Response) => serve(req, res, resolver, doh, stats, messageMs, forwarded);
  const h2options: ServerOptions = {
    maxSessionMemory: 1, // MB of unread answers and HPACK state per connection
    maxHeaderListPairs: 64,
    settings: { maxConcurrentStreams: doh.maxStreams, maxHeaderListSize: MAX_HEADER_BYTES, enablePush: false },
    // Node's own guards end a session with INTERNAL_ERROR, or no code: after 1,000 resets at once (then 33 a second), or
    // 100 streams it refused itself (a reset stream's slot is freed a turn of the loop later). Ours (doh-streams.ts)
    // come first and say ENHANCE_YOUR_CALM; these stay as a backstop.
    streamResetBurst: 100 * doh.maxStreams,
    streamResetRate: 100 * doh.maxStreams,
    maxSessionRejectedStreams: 100 * doh.maxStreams,
  };
  // HTTP/2: a session with no frames for idleTimeout is closed; its cancelled streams are budgeted.
  const onSession = (session: Http2Session) => {
    session.setTimeout(idleMs, () => session.destroy());
    StreamBudget.watch(session, doh.maxStreams);
  };
  // HTTP/1.1, in clear and over TLS alike: read through a stream that watches the bytes, so that a request line or
  // header over MAX_HEADER_BYTES is answered 414 or 431 (clientError below) and not just cut off.
  const h1 = createHttpServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: messageMs * 2, headersTimeout: messageMs }, handler);
  h1.keepAliveTimeout = idleMs;
  h1.setTimeout(idleMs, (s) => s.destroy());
  h1.on('clientError', (err: HttpParseError, socket: Duplex) => refuseUnparsed(err, socket as Relay, MAX_HEADER_BYTES, () => stats.rejected++));
  let server: Server;
  if (tls) {
    // ALPN h2 when the client offers it; http/1.1 (or no ALPN at all) reaches 'unknownProtocol', and the HTTP/1.1 server.
    const secure = createSecureServer({ ...h2options, ...tls.options, handshakeTimeout: messageMs, ALPNCallback: chooseProtocol }, handler);
    tls.onChange.push((o) => secure.setSecureContext(o));
    secure.on('session', onSession);
    secure.on('unknownProtocol', (socket: Socket) => h1.emit('connection', relay(socket, null)));
    server = secure;
  } else {
    const h2c = createH2cServer(h2options, handler);
    h2c.on('session', onSession);
    server = plainFront(h1, h2c, messageMs);
  }
  server.maxConnections = tcp.maxConnections;
  const open = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    socket.on('error', () => undefined);
    // A trusted reverse proxy speaks for many clients: its connections count against maxConnections only, and
    // each client it names is held to its share per request (serve()).
    const proxy = doh.trustedProxies.length > 0 && isTrusted(address, doh.trustedProxies);
    const slot = proxy ? null : clients.take(Counted.Connections, address, tcp.maxPerClient);
    if (!proxy && slot === null) {
      stats.refused++;
      socket.destroy();
      return;
    }
    open.add(socket);
    // An answer is one small frame, often followed by the one that ends the stream: no Nagle delay between them.
    socket.setNoDelay(true);
    socket.on('close', () => {
      open.delete(socket);
      clients.release(slot);
    });
  });
  // A client that never finishes its TLS handshake or sends bad frames concerns itself only.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(serverListenOptions(at, options.reusePort === true), () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    stats,
    get connections() {
      return open.size;
    },
    address: () => server.address() as AddressInfo,
    stopAccepting: () => server.close(),
    closeConnections: () => {
      for (const s of open) s.destroy();
    },
  };
}

function serve(req: Request, res: Response, resolver: Resolver, doh: DohConfig, stats: DohStats, messageMs: number, forwarded: Forwarded): void {
  // An HTTP/2 stream reset before its request event (HEADERS and RST_STREAM in one read): nothing to answer; its session's budget counted it.
  const stream = (req as Http2ServerRequest).stream as ServerHttp2Stream | undefined;
  if (stream !== undefined && (stream.closed || stream.destroyed)) return;
  const trusted = doh.trustedProxies;
  const reject = (status: number, why: string, headers: Record<string, string> = {}) => {
    stats.rejected++;
    // The request body, if any, is not read: the connection closes (HTTP/1.1) or the stream resets (HTTP/2).
    if (!res.headersSent && !res.writableEnded) {
      writeHead(res, status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
      res.end(`${why}\n`);
    }
  };
  const url = req.url ?? '';
  const mark = url.indexOf('?');
  const path = mark < 0 ? url : url.slice(0, mark);
  const device = deviceOfPath(path);
  if (device === null) return reject(404, `not found: DNS over HTTPS is served on ${DOH_PATH} and ${DOH_PATH}/DEVICE (DEVICE: ${DEVICE_ID_RULE})`);
  const client = clientAddress(req, trusted);
  if (client.proxied) {
    const slot = forwarded.clients.take(Counted.Forwarded, client.address, forwarded.limit);
    if (slot === null) return reject(429, `too many requests in flight for ${client.address} (tcp.maxPerClient × doh.maxStreams = ${forwarded.limit})`);
    res.once('close', () => forwarded.clients.release(slot));
  }
  if (req.method === 'GET' || req.method === 'HEAD') {
    const dns = new URLSearchParams(mark < 0 ? '' : url.slice(mark + 1)).get('dns');
    if (dns === null) return reject(400, 'missing ?dns= (the query, base64url)');
    if (dns.length > MAX_GET_PARAM || !BASE64URL.test(dns)) return reject(400, '?dns= is not base64url (RFC 4648 §5, no padding)');
    const msg = Buffer.from(dns, 'base64url');
    return answer(msg, client, device, req, res, resolver, reject);
  }
  if (req.method !== 'POST') return reject(405, 'method not allowed: use GET or POST', { allow: 'GET, POST' });
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== CONTENT_TYPE) return reject(415, `unsupported media type: POST needs content-type ${CONTENT_TYPE}`);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_MESSAGE) return reject(413, `body over ${MAX_MESSAGE} bytes`, req.httpVersionMajor === 1 ? { connection: 'close' } : {});
  const chunks: Buffer[] = [];
  let length = 0;
  let over = false;
  // A body trickled or never finished must not hold its stream (one of doh.maxStreams) for ever.
  const slow = setTimeout(() => {
    over = true;
    chunks.length = 0;
    reject(408, `body not complete within ${messageMs / 1000}s`);
    req.destroy();
  }, messageMs);
  req.on('close', () => clearTimeout(slow));
  req.on('data', (chunk: Buffer) => {
    if (over) return;
    length += chunk.length;
    if (length > MAX_MESSAGE) {
      over = true;
      chunks.length = 0;
      // HTTP/1.1 would otherwise read the rest of the body to keep the connection: close it instead.
      reject(413, `body over ${MAX_MESSAGE} bytes`, req.httpVersionMajor === 1 ? { connection: 'close' } : {});
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    clearTimeout(slow);
    if (!over) answer(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks), client, device, req, res, resolver, reject);
  });
  req.on('error', () => undefined);
}

/** Hands the query to the resolver; over HTTP/2, counted in its session's budget (doh-streams.ts). */
function answer(
  msg: Buffer,
  client: { address: string; port: number },
  device: string,
  req: Request,
  res: Response,
  resolver: Resolver,
  reject: (status: number, why: string) => void,
): void {
  if (msg.length < HEADER_SIZE) return reject(400, 'not a DNS message');
  const stream = (req as Http2ServerRequest).stream as ServerHttp2Stream | undefined;
  const budget = stream === undefined ? null : StreamBudget.of(stream);
  if (budget !== null && !budget.ask(stream!)) return;
  const head = req.method === 'HEAD';
  const transport: Transport = {
    udp: false,
    kind: 'doh',
    device,
    send(reply) {
      if (budget !== null && !budget.answer(stream!)) return;
      // The client may have gone while upstream answered: nothing to do.
      if (res.headersSent || res.writableEnded || res.destroyed) return;
      writeHead(res, 200, { 'content-type': CONTENT_TYPE, 'content-length': String(reply.length), 'cache-control': `max-age=${freshness(reply)}` });
      if (head) res.end();
      else res.end(reply);
    },
  };
  if (!resolver.handle(msg, client.address, client.port, transport)) {
    budget?.answer(stream!);
    reject(400, 'not a DNS query');
  }
}

/**
 * The client's address: the TCP peer, unless the peer is a trusted proxy;
 * then X-Forwarded-For read from the right, skipping trusted proxies, names
 * it. A hop that is not an address stops the walk at the last one trusted.
 */
export function clientAddress(req: Request, trusted: readonly Cidr[]): { address: string; port: number; proxied: boolean } {
  const { address: peer, port } = peerOf(req.socket as Socket & { stream?: Socket });
  if (trusted.length === 0 || !isTrusted(peer, trusted)) return { address: peer, port, proxied: false };
  const header = req.headers['x-forwarded-for'];
  if (header === undefined) return { address: peer, port, proxied: true };
  const hops = (Array.isArray(header) ? header.join(',') : header).split(',');
  let client = peer;
  for (let i = hops.length - 1, n = 0; i >= 0 && n < MAX_FORWARDED_HOPS; i--, n++) {
    const hop = unbracket(hops[i].trim());
    if (isIP(hop) === 0) break;
    client = hop;
    if (!isTrusted(hop, trusted)) break;
  }
  return { address: client, port: client === peer ? port : 0, proxied: true };
}

/** The TCP peer; h2c connections reach http2 through a wrapper stream (JSStreamSocket) that keeps the socket as `stream`. */
function peerOf(socket: Socket & { stream?: Socket }): { address: string; port: number } {
  if (socket.remoteAddress !== undefined) return { address: socket.remoteAddress, port: socket.remotePort ?? 0 };
  return { address: socket.stream?.remoteAddress ?? '', port: socket.stream?.remotePort ?? 0 };
}

function isTrusted(address: string, trusted: readonly Cidr[]): boolean {
  const bytes = addressBytes(address);
  return bytes !== null && trusted.some((c) => cidrContains(c, bytes));
}

/** `[2001:db8::1]` or `[2001:db8::1]:1234` as some proxies write it; a bare IPv4 with a port too. */
function unbracket(hop: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed) return bracketed[1];
  const v4port = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(hop);
  return v4port ? v4port[1] : hop;
}

/**
 * RFC 8484 §5.1: an HTTP cache may keep the answer no longer than its
 * smallest TTL (answer and authority sections; the OPT record is not one).
 */
export function freshness(reply: Uint8Array): number {
  if (reply.length < HEADER_SIZE) return 0;
  const qd = readU16(reply, 4);
  const records = readU16(reply, 6) + readU16(reply, 8);
  let at = HEADER_SIZE;
  for (let i = 0; i < qd; i++) {
    at = skipName(reply, at);
    if (at < 0) return 0;
    at += 4;
  }
  let min = -1;
  for (let i = 0; i < records; i++) {
    at = skipName(reply, at);
    if (at < 0 || at + 10 > reply.length) return 0;
    const ttl = readU32(reply, at + 4);
    if (min < 0 || ttl < min) min = ttl;
    at += 10 + readU16(reply, at + 8);
  }
  return min < 0 ? 0 : min;
}
