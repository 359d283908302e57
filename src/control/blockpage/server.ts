// The block page's listeners: plain HTTP and HTTPS (a certificate per name,
// certs.ts), on the addresses blocked names resolve to. Every request is
// answered with the page for the name it asked for: HTML for a browser
// navigating (Accept: text/html), a small JSON error for anything else (an
// AI service's API client), both with status 451. POST /request takes an
// access request from the page's form: same-origin only (Origin or
// Sec-Fetch-Site, and a token bound to the client and the name), bounded in
// size and rate per client.
//
// Everything here is reached by whoever can reach the address: headers and
// bodies are bounded and slow senders cut off, the Host header is only ever
// used as a host name (facts.ts), and nothing it carries is echoed except
// through the page's escaping.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type HostPort, addressBytes, clientAddress, formatHostPort } from '../../net/address.js';
import type { Logger } from '../../shared/logger.js';
import { sameAuthority } from '../admin/server.js';
import type { BlockPageConfig } from '../config/blockpage.js';
import type { AccessDesk } from '../state/access.js';
import { REQUEST_DURATIONS, type RequestDuration, RequestRefused } from '../state/requests.js';
import { StateUnavailable } from '../state/runtime.js';
import type { Certificates } from './certs.js';
import { type PageFacts, hostName } from './facts.js';
import { chooseLanguage } from './messages.js';
import { PAGE_HEADERS, type PageView, renderHtml, renderJson } from './page.js';

/** What the page needs from the daemon, asked per request (a reload changes the config and the filter). */
export interface BlockPageTarget {
  config(): BlockPageConfig;
  /** The facts for a name (wire form, from hostName) and a client; null when the client may not use this resolver. */
  facts(wire: Buffer, client: string): PageFacts | null;
  readonly desk: AccessDesk;
  clock(): number;
}

/** Counters for the metrics. */
export interface PageStats {
  html: number;
  json: number;
  /** Requests refused before the page: cross-site posts, bad tokens, oversized bodies. */
  refused: number;
}

const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_MS = 5_000;
const MAX_HEADER_BYTES = 16 * 1024;
/** Connections per listener: what a flood of them can hold is bounded, the DNS listeners' descriptors are not eaten. */
const MAX_CONNECTIONS = 512;
/** The form is a token, a reason and a duration. */
const MAX_FORM = 4096;
const MAX_REASON = 300;
/** Access requests per client: a burst, then one every 12 s. */
const REQUEST_BURST = 5;
const REQUEST_EVERY_MS = 12_000;
/** Clients whose request rate is remembered; the oldest is forgotten first. */
const MAX_TRACKED = 10_000;
/** The form's token is good for the hour it was made in and the next. */
const TOKEN_WINDOW_MS = 3_600_000;
/** Page views logged per second (each with its reference); the rest are only counted. */
const LOG_PER_SECOND = 20;

export class BlockPageServer {
  readonly stats: PageStats = { html: 0, json: 0, refused: 0 };
  private readonly secret = randomBytes(32);
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private logWindow = 0;
  private loggedInWindow = 0;

  private constructor(
    private readonly target: BlockPageTarget,
    private readonly log: Logger,
    private readonly servers: { server: Server; tls: boolean }[] = [],
  ) {}

  /** Listens on every configured address; a clash throws naming the listener, with nothing left open. */
  static async start(config: BlockPageConfig, certificates: Certificates, target: BlockPageTarget, log: Logger): Promise<BlockPageServer> {
    const page = new BlockPageServer(target, log);
    const options = { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_MS, maxHeaderSize: MAX_HEADER_BYTES, connectionsCheckingInterval: 1000 };
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      page.handle(req, res).catch((err: unknown) => {
        log.warn({ err: (err as Error).message }, 'block page: a request failed');
        send(res, 500, 'application/json', JSON.stringify({ error: 'internal error' }) + '\n');
      });
    };
    const open = async (at: HostPort, tls: boolean) => {
      const server = tls
        ? createHttpsServer({ ...options, ...certificates.defaultPem, SNICallback: certificates.sniCallback, minVersion: 'TLSv1.2' }, handler)
        : createHttpServer(options, handler);
      server.maxConnections = MAX_CONNECTIONS;
      // A TLS handshake that fails (an untrusted certificate, a scanner) is the client's business, not an error here.
      server.on('tlsClientError', () => undefined);
      server.on('clientError', (_err, socket) => socket.destroy());
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`blockPage.${tls ? 'https' : 'http'} ${formatHostPort(at)}: cannot listen (${err.code ?? err.message})`)));
        server.listen(at.port, at.host, () => resolve());
      });
      page.servers.push({ server, tls });
    };
    try {
      for (const at of config.http) await open(at, false);
      for (const at of config.https) await open(at, true);
    } catch (err) {
      await page.close();
      throw err;
    }
    return page;
  }

  get addresses(): { http: AddressInfo[]; https: AddressInfo[] } {
    const of = (tls: boolean) => this.servers.filter((s) => s.tls === tls).map((s) => s.server.address() as AddressInfo);
    return { http: of(false), https: of(true) };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.servers.map(
        ({ server }) =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      ),
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const client = clientAddress(req.socket.remoteAddress ?? '') ?? 'unknown';
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/request' && req.method === 'POST' && this.target.config().requests) return this.request(req, res, client);
    // Browsers ask for these of any site they show; the page names its own icon inline.
    if (path === '/favicon.ico' || path === '/robots.txt') return send(res, 404, 'text/plain', '');
    await this.target.desk.store.refresh();
    const view = this.view(req, client);
    this.respond(req, res, view, 451);
  }

  /** Everything the page shows for this request. */
  private view(req: IncomingMessage, client: string, notice?: NonNullable<PageView['request']>['notice']): PageView {
    const config = this.target.config();
    const now = this.target.clock();
    const wire = hostName(req.headers.host);
    const facts = wire === null ? null : this.target.facts(wire, client);
    const canAsk = config.requests && facts !== null && facts.select !== null && !facts.enforced;
    const latest = facts?.select ? this.target.desk.latest(client, facts.select) : undefined;
    return {
      lang: chooseLanguage(req.headers['accept-language']),
      facts,
      organisation: config.organisation,
      contact: config.contact,
      time: now,
      reference: reference(),
      request: canAsk || latest ? { token: this.token(client, facts!.name, now), latest, notice } : null,
    };
  }

  private respond(req: IncomingMessage, res: ServerResponse, view: PageView, status: number, headers: Record<string, string> = {}): void {
    const html = wantsHtml(req);
    if (html) this.stats.html++;
    else this.stats.json++;
    this.noteView(view, req, html);
    if (html) send(res, status, 'text/html; charset=utf-8', req.method === 'HEAD' ? '' : renderHtml(view), { ...PAGE_HEADERS, ...headers });
    else send(res, status, 'application/json', req.method === 'HEAD' ? '' : JSON.stringify(renderJson(view)) + '\n', { ...headers, 'cache-control': 'no-store' });
  }

  /** One log line per view, with its reference, so the helpdesk can find it; at most LOG_PER_SECOND a second. */
  private noteView(view: PageView, req: IncomingMessage, html: boolean): void {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.logWindow) {
      this.logWindow = second;
      this.loggedInWindow = 0;
    }
    if (++this.loggedInWindow > LOG_PER_SECOND) return;
    const f = view.facts;
    this.log.info(
      { reference: view.reference, client: clientAddress(req.socket.remoteAddress ?? ''), name: f?.name ?? null, blocked: f?.blocked ?? null, service: f?.service?.id ?? null, group: f?.group ?? null, format: html ? 'html' : 'json' },
      'block page shown',
    );
  }

  /** POST /request: an access request from the page's form. */
  private async request(req: IncomingMessage, res: ServerResponse, client: string): Promise<void> {
    const host = req.headers.host ?? '';
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    // A browser sends Origin with every POST and Sec-Fetch-Site with most: one of them must say "this page".
    const sameSite = (origin === undefined || sameAuthority(origin, host)) && (site === undefined || site === 'same-origin') && (origin !== undefined || site !== undefined);
    if (!sameSite) return this.refuse(res, 403, 'cross-site request refused: access requests are made from the block page itself');
    if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) return this.refuse(res, 415, 'send the block page\'s form (application/x-www-form-urlencoded)');
    if (Number(req.headers['content-length'] ?? 0) > MAX_FORM) return this.refuse(res, 413, `the form is larger than ${MAX_FORM} bytes`);
    const body = await readBody(req, MAX_FORM);
    if (body === null) return this.refuse(res, 413, `the form is larger than ${MAX_FORM} bytes`);
    if (!this.admit(client)) {
      this.target.desk.counts.limited++;
      return this.respond(req, res, this.view(req, client, 'limited'), 429, { 'retry-after': String(REQUEST_EVERY_MS / 1000) });
    }
    await this.target.desk.store.refresh();
    const form = new URLSearchParams(body);
    const view = this.view(req, client);
    const facts = view.facts;
    if (facts === null || !facts.blocked || facts.select === null || facts.enforced) return this.respond(req, res, view, 409);
    if (!this.validToken(form.get('token') ?? '', client, facts.name)) return this.respond(req, res, this.view(req, client, 'expired'), 403);
    const reason = (form.get('reason') ?? '').replace(/\s+/g, ' ').trim();
    const duration = form.get('duration') ?? '';
    if (reason.length === 0 || [...reason].length > MAX_REASON || /[\p{Cc}]/u.test(reason) || !Object.hasOwn(REQUEST_DURATIONS, duration)) {
      return this.respond(req, res, this.view(req, client, 'invalid'), 400);
    }
    try {
      await this.target.desk.request({
        client,
        name: facts.name,
        select: facts.select,
        service: facts.service?.id ?? null,
        group: facts.group,
        reason,
        duration: REQUEST_DURATIONS[duration as RequestDuration],
      });
    } catch (err) {
      if (!(err instanceof RequestRefused) && !(err instanceof StateUnavailable)) throw err;
      this.log.warn({ client, name: facts.name, err: err.message }, 'access request not taken');
      return this.respond(req, res, this.view(req, client, 'refused'), 503);
    }
    // Post, redirect, get: a reload shows the request's status and sends nothing again.
    res.shouldKeepAlive = false;
    res.writeHead(303, { location: '/', 'cache-control': 'no-store', 'content-length': '0', connection: 'close' });
    res.end();
  }

  private refuse(res: ServerResponse, status: number, error: string): void {
    this.stats.refused++;
    res.shouldKeepAlive = false;
    send(res, status, 'application/json', JSON.stringify({ error }) + '\n', { connection: 'close' });
  }

  /** A token bucket per client (IPv6 by /56: a host has a whole prefix to move around in). */
  private admit(client: string): boolean {
    const key = client.includes(':') ? Buffer.from(addressBytes(client)?.subarray(0, 7) ?? []).toString('hex') : client;
    const now = this.target.clock();
    const b = this.buckets.get(key) ?? { tokens: REQUEST_BURST, at: now };
    b.tokens = Math.min(REQUEST_BURST, b.tokens + (now - b.at) / REQUEST_EVERY_MS);
    b.at = now;
    this.buckets.delete(key);
    this.buckets.set(key, b);
    while (this.buckets.size > MAX_TRACKED) this.buckets.delete(this.buckets.keys().next().value!);
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }

  private token(client: string, name: string, now: number, window = Math.floor(now / TOKEN_WINDOW_MS)): string {
    return createHmac('sha256', this.secret).update(`${window}\n${client}\n${name}`).digest('base64url').slice(0, 32);
  }

  private validToken(given: string, client: string, name: string): boolean {
    const now = this.target.clock();
    const window = Math.floor(now / TOKEN_WINDOW_MS);
    const got = Buffer.from(given.slice(0, 64));
    return [window, window - 1].some((w) => {
      const want = Buffer.from(this.token(client, name, now, w));
      return got.length === want.length && timingSafeEqual(got, want);
    });
  }
}

/** A browser navigating (or sending the page's form) asks for HTML; an API client, a script or curl by default gets JSON. */
function wantsHtml(req: IncomingMessage): boolean {
  const page = req.method === 'GET' || req.method === 'HEAD' || (req.method === 'POST' && (req.url ?? '').split('?')[0] === '/request');
  return page && (req.headers.accept ?? '').slice(0, 1024).toLowerCase().includes('text/html');
}

/** A reference for the helpdesk: 8 characters without look-alikes (no 0/O, 1/I/L). */
function reference(): string {
  const alphabet = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
  const bytes = randomBytes(8);
  let out = '';
  for (let i = 0; i < 8; i++) out += alphabet[bytes[i] % alphabet.length] + (i === 3 ? '-' : '');
  return out;
}

/**
 * Every answer closes its connection: a page is one response, and a browser
 * whose access was just approved must connect again (to the real site, once
 * its DNS has the new answer) rather than reuse this one.
 */
function send(res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.shouldKeepAlive = false;
  res.writeHead(status, { 'content-type': contentType, 'x-content-type-options': 'nosniff', 'content-length': String(Buffer.byteLength(body)), connection: 'close', ...headers });
  res.end(body);
}

/** The body, or null when it is larger than `max` (the rest is not read). */
function readBody(req: IncomingMessage, max: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > max) {
        req.off('data', onData);
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData).once('end', () => resolve(Buffer.concat(chunks).toString('utf8'))).once('error', reject);
  });
}
