// The admin HTTP API: health and readiness probes, Prometheus metrics,
// reload, pausing blocking, and the same check as the CLI. Off the hot
// path; plain node:http, one small router.
//
// Switching the ban off must take a secret and must not be reachable from a
// web page: mutating routes always need the token; every route but the two
// probes refuses a Host that is not this API's own (DNS rebinding) and a
// request a browser marks as cross-site; bodies and the time to send them
// are bounded.

import { createHash, timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type AddressInfo, isIPv4, isIPv6 } from 'node:net';
import type { AdminAuth } from './token.js';
import type { AdminConfig } from '../config/admin.js';
import type { CheckResult } from '../policy/explain.js';
import type { CatalogueStatus } from '../catalogue/updates.js';
import type { SharedStateStatus } from '../state/runtime.js';
import type { ExceptionView } from '../state/exceptions.js';
import type { RequestView } from '../state/access.js';
import { MAX_PAUSE_MINUTES } from '../state/rules.js';
import { CONSOLE_CSS, CONSOLE_JS, FAVICON } from './console/assets.js';
import { type ConsoleData, MAX_TERM, renderPage, renderView } from './console/render.js';
import { HttpError } from './http-error.js';
import { RANGES, type Range } from '../observe/history.js';

export interface Readiness {
  /** Listeners bound, filter loaded, not shutting down. Upstream health does not gate it: an upstream outage must not take the resolver out of a Service. */
  ready: boolean;
  listening: boolean;
  listsCompiled: boolean;
  draining: boolean;
  /** Reported, not gating. */
  upstreamAnswering: boolean;
  paused: { group: string; until: string }[];
  /** The catalogue in use: origin, version, review date, and how its updates go. */
  catalogue?: CatalogueStatus;
  /** Where pauses and runtime exceptions live and whether it answers; reported, not gating (the last state read is enforced). */
  sharedState?: SharedStateStatus;
}

export type ReloadResult = { ok: true; lists: number; entries: number; ms: number } | { ok: false; error: string };

/** What the API needs from the daemon. */
export interface AdminTarget {
  /** Brings the data planes' counters up to date first: worker threads report them by message. */
  refreshStats(): Promise<unknown>;
  readiness(): Readiness;
  scrape(): Promise<{ contentType: string; body: string }>;
  /** `by`: the admin who asked (named token) or where the shared token came from; logged. */
  reload(by?: string): Promise<ReloadResult>;
  /** Pauses blocking for `group` (every group when undefined) for `minutes`; 0 resumes. Throws on an unknown group. `by` is logged. */
  pause(group: string | undefined, minutes: number, by: string): Promise<{ group: string; until: string | null }[]>;
  /** Runtime exceptions (POST/DELETE /exceptions); `who` is the author (a named admin's name, which a body's author cannot replace). */
  readonly exceptions: {
    list(): ExceptionView[];
    add(body: unknown, who: string, named: boolean): Promise<ExceptionView>;
    revoke(id: string, who: string): Promise<ExceptionView>;
  };
  /** Access requests from the block page; `who` is recorded as the one who decided. */
  readonly requests: {
    list(): Promise<RequestView[]>;
    approve(id: string, who: string, duration?: string): Promise<{ request: RequestView; exception: ExceptionView }>;
    deny(id: string, who: string): Promise<{ request: RequestView }>;
  };
  /** Asks every instance sharing the runtime state to reload; false without shared state. */
  broadcastReload(by: string): Promise<boolean>;
  /** What the console at / shows. */
  consoleData(): ConsoleData;
  /** The console's history fragment for a range and a search. */
  consoleHistory(range: Range, q: { client?: string; name?: string; service?: string }): Promise<string>;
  /** The verdicts for `names` as the running filter decides them, runtime exceptions and pauses included. */
  check(names: string[], client: string): Promise<CheckResult[]>;
  /** The config file this daemon serves (for `aifence check`, to know it asked the daemon of its config). */
  readonly configFile?: string;
  /** Asked once, when the API starts listening. */
  adminAuth(): AdminAuth;
}

/** Names one GET /check may ask about (its URL is bounded anyway). */
export const MAX_CHECK_NAMES = 500;
/** Request bodies beyond this are refused (only POST /exceptions takes one, a small JSON object). */
export const MAX_BODY = 64 * 1024;
/** Headers and body must arrive within these (slow senders hold a connection each). */
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** Connections beyond this are dropped on arrival, so the API cannot eat the DNS listeners' file descriptors. */
const MAX_CONNECTIONS = 128;

/** page: the console's shell and assets, same-origin checked but readable without the token (they hold no data without it). */
type Access = 'probe' | 'page' | 'read' | 'mutate';
type Answer = { status: number; body: unknown; contentType?: string; headers?: Record<string, string> };

/** The console runs only its own script and style, in no frame (clickjacking of its buttons), and sends nothing elsewhere. */
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};
const HTML = 'text/html; charset=utf-8';

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  access: Access;
  /** `body` is the request body parsed as JSON, for routes that take one. */
  run(url: URL, target: AdminTarget, request: { body?: unknown; who: string; named: boolean; canRead: boolean }): Promise<Answer>;
  takesBody?: true;
}

const ROUTES: Record<string, Route | Route[]> = {
  '/': {
    method: 'GET',
    access: 'page',
    // Without the token (when reads need one) the page is a shell asking for it; console.js then fetches the view.
    run: async (_, target, r) => {
      if (r.canRead) await target.refreshStats();
      return { status: 200, body: renderPage(r.canRead ? target.consoleData() : null), contentType: HTML, headers: PAGE_HEADERS };
    },
  },
  '/console/view': {
    method: 'GET',
    access: 'read',
    run: async (_, target) => {
      await target.refreshStats();
      return { status: 200, body: renderView(target.consoleData()), contentType: HTML, headers: PAGE_HEADERS };
    },
  },
  '/console/history': {
    method: 'GET',
    access: 'read',
    run: async (url, target) => {
      const range = url.searchParams.get('range') ?? '24h';
      if (!Object.hasOwn(RANGES, range)) throw new HttpError(400, `range=${range.slice(0, 20)} is not one of ${Object.keys(RANGES).join(', ')}`);
      const q: { client?: string; name?: string; service?: string } = {};
      for (const key of ['client', 'name', 'service'] as const) {
        const v = url.searchParams.get(key)?.trim();
        if (!v) continue;
        if (v.length > MAX_TERM) throw new HttpError(400, `${key}= is longer than ${MAX_TERM} characters`);
        q[key] = v;
      }
      return { status: 200, body: await target.consoleHistory(range as Range, q), contentType: HTML, headers: PAGE_HEADERS };
    },
  },
  '/console.js': { method: 'GET', access: 'page', run: async () => ({ status: 200, body: CONSOLE_JS, contentType: 'text/javascript; charset=utf-8', headers: PAGE_HEADERS }) },
  '/favicon.ico': { method: 'GET', access: 'page', run: async () => ({ status: 200, body: FAVICON, contentType: 'image/svg+xml', headers: PAGE_HEADERS }) },
  '/console.css': { method: 'GET', access: 'page', run: async () => ({ status: 200, body: CONSOLE_CSS, contentType: 'text/css; charset=utf-8', headers: PAGE_HEADERS }) },
  '/healthz': { method: 'GET', access: 'probe', run: async () => ({ status: 200, body: 'ok\n', contentType: 'text/plain' }) },
  '/readyz': {
    method: 'GET',
    access: 'probe',
    run: async (_, target) => {
      await target.refreshStats();
      const r = target.readiness();
      return { status: r.ready ? 200 : 503, body: r };
    },
  },
  '/metrics': {
    method: 'GET',
    access: 'read',
    run: async (_, target) => {
      const m = await target.scrape();
      return { status: 200, body: m.body, contentType: m.contentType };
    },
  },
  '/check': {
    method: 'GET',
    access: 'read',
    // One name= answers one object; several (at most MAX_CHECK_NAMES) answer { results: [...] } in their order.
    run: async (url, target) => {
      const names = url.searchParams.getAll('name');
      if (names.length === 0 || names.some((n) => n === '')) throw new HttpError(400, 'name= is required, e.g. /check?name=chat.deepseek.com&client=10.0.0.5');
      if (names.length > MAX_CHECK_NAMES) throw new HttpError(400, `at most ${MAX_CHECK_NAMES} name= in one request; send the rest in another`);
      const results = await target.check(names, url.searchParams.get('client') ?? '127.0.0.1');
      const headers: Record<string, string> = target.configFile ? { 'aifence-config': encodeURIComponent(target.configFile) } : {};
      return { status: 200, body: names.length === 1 ? results[0] : { results }, headers };
    },
  },
  '/reload': {
    method: 'POST',
    access: 'mutate',
    run: async (url, target, { who }) => {
      // ?all=1: every instance sharing the runtime state reloads too (they read the same config from their own files).
      const everywhere = url.searchParams.get('all') === '1' ? await target.broadcastReload(who) : false;
      const r = await target.reload(who);
      return { status: r.ok ? 200 : 422, body: url.searchParams.get('all') === '1' ? { ...r, broadcast: everywhere } : r };
    },
  },
  '/exceptions': [
    { method: 'GET', access: 'read', run: async (_, target) => ({ status: 200, body: { exceptions: target.exceptions.list() } }) },
    { method: 'POST', access: 'mutate', takesBody: true, run: async (_, target, r) => ({ status: 201, body: await target.exceptions.add(r.body, r.who, r.named) }) },
  ],
  '/exceptions/:id': {
    method: 'DELETE',
    access: 'mutate',
    run: async (url, target, r) => ({ status: 200, body: { revoked: await target.exceptions.revoke(decodeURIComponent(url.pathname.slice('/exceptions/'.length)), r.who) } }),
  },
  '/requests': { method: 'GET', access: 'read', run: async (_, target) => ({ status: 200, body: { requests: await target.requests.list() } }) },
  '/requests/:id/approve': {
    method: 'POST',
    access: 'mutate',
    // ?duration=4h: grant another time than the one asked for.
    run: async (url, target, r) => ({ status: 200, body: await target.requests.approve(requestId(url), r.who, url.searchParams.get('duration') ?? undefined) }),
  },
  '/requests/:id/deny': { method: 'POST', access: 'mutate', run: async (url, target, r) => ({ status: 200, body: await target.requests.deny(requestId(url), r.who) }) },
  '/pause': { method: 'POST', access: 'mutate', run: async (url, target, r) => pause(url, target, false, r.who) },
  '/resume': { method: 'POST', access: 'mutate', run: async (url, target, r) => pause(url, target, true, r.who) },
};

/** The id in /requests/ID/approve or /requests/ID/deny. */
const requestId = (url: URL): string => decodeURIComponent(url.pathname.split('/')[2] ?? '');

async function pause(url: URL, target: AdminTarget, resume: boolean, who: string): Promise<Answer> {
  const minutes = resume ? 0 : Number(url.searchParams.get('minutes') ?? '5');
  if (!Number.isFinite(minutes) || minutes < 0 || minutes > MAX_PAUSE_MINUTES) {
    throw new HttpError(400, `minutes=${url.searchParams.get('minutes')} is not a number of minutes from 0 to ${MAX_PAUSE_MINUTES}`);
  }
  return { status: 200, body: { paused: await target.pause(url.searchParams.get('group') ?? undefined, minutes, who) } };
}

const ROUTE_LIST = 'try GET / (the console), /healthz, /readyz, /metrics, /check?name=, /exceptions, /requests; POST /reload, /pause?minutes=N&group=G, /resume, /exceptions, /requests/ID/approve[?duration=], /requests/ID/deny; DELETE /exceptions/ID';

export class AdminServer {
  private constructor(private readonly server: Server) {}

  static async start(config: AdminConfig, target: AdminTarget): Promise<AdminServer | null> {
    if (config.listen === null) return null;
    const guard = new Guard(config, target.adminAuth());
    const server = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1000 }, (req, res) => {
      handle(req, res, guard, target).catch((err: unknown) => {
        const e = err instanceof HttpError ? err : new HttpError(500, (err as Error).message);
        send(res, e.status, { error: e.message }, 'application/json', e.headers);
      });
    });
    server.maxConnections = MAX_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.listen!.port, config.listen!.host, () => resolve());
    });
    return new AdminServer(server);
  }

  get address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function send(res: ServerResponse, status: number, body: unknown, contentType = 'application/json', headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body) + '\n');
}

async function handle(req: IncomingMessage, res: ServerResponse, guard: Guard, target: AdminTarget): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://admin');
  } catch {
    throw new HttpError(400, 'the request target is not a path');
  }
  const decision = /^\/requests\/[^/]+\/(approve|deny)$/.exec(url.pathname);
  const path = /^\/exceptions\/[^/]+$/.test(url.pathname) ? '/exceptions/:id' : decision ? `/requests/:id/${decision[1]}` : url.pathname;
  const found = Object.hasOwn(ROUTES, path) ? ROUTES[path] : undefined;
  const routes = found === undefined ? [] : Array.isArray(found) ? found : [found];
  const route = routes.find((r) => r.method === req.method);
  // Probes stay open, whatever the Host, so that orchestrators need no secret and no name.
  if (route?.access !== 'probe') guard.sameOrigin(req);
  if (routes.length === 0) throw new HttpError(404, `no route ${req.method} ${url.pathname}; ${ROUTE_LIST}`);
  const methods = routes.map((r) => r.method).join(', ');
  if (!route) throw new HttpError(405, `${url.pathname} takes ${methods}, not ${req.method}`, { allow: methods });
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY) throw tooLarge(res);
  const holder = guard.authorize(req, route.access);
  const text = await readBody(req, res);
  let body: unknown;
  if (route.takesBody) {
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new HttpError(415, `${url.pathname} takes a JSON body: send Content-Type: application/json`);
    try {
      body = JSON.parse(text);
    } catch {
      throw new HttpError(400, 'the body is not JSON; send e.g. {"group":"default","select":"service:claude","until":"4h","reason":"ticket 4711"}');
    }
  }
  // A named admin's token records that name on the change; the shared token, where it came from.
  const who = holder?.name ?? `token holder at ${req.socket.remoteAddress ?? 'unknown'}`;
  const answer = await route.run(url, target, { body, who, named: holder?.name !== undefined && holder.name !== null, canRead: guard.allows(req, 'read') });
  send(res, answer.status, answer.body, answer.contentType, answer.headers);
}

/** A token that was accepted: a named admin's (admin.tokens), or the shared one (name null). */
interface Holder {
  name: string | null;
}

/** Who may ask: the Host and Origin checks and the bearer tokens. */
class Guard {
  private readonly names: Set<string>;
  /** Every token accepted, as its SHA-256, with whose it is. */
  private readonly tokens: { digest: Buffer; holder: Holder }[];

  constructor(
    config: AdminConfig,
    private readonly auth: AdminAuth,
  ) {
    this.names = new Set(['localhost', ...config.hosts]);
    this.tokens = [...(auth.token === null ? [] : [{ digest: digest(auth.token), holder: { name: null } }]), ...auth.named.map((t) => ({ digest: t.sha256, holder: { name: t.name } }))];
  }

  /**
   * A page on another site can make a browser send requests here (a form
   * posting text/plain needs no preflight), and a name the attacker controls
   * can be rebound to this address. Browsers always send Host, and Origin or
   * Sec-Fetch-Site with such requests; scripts and curl send neither of the latter.
   */
  sameOrigin(req: IncomingMessage): void {
    const host = req.headers.host;
    if (!host || !this.hostAllowed(host)) {
      throw new HttpError(421, `Host ${JSON.stringify(host ?? '')} is not this admin API; use its IP address or localhost, or list the name in admin.hosts`);
    }
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      throw new HttpError(403, `cross-site request refused (Sec-Fetch-Site: ${site}): call the admin API from curl or a script, not from a web page`);
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !sameAuthority(origin, host)) {
      throw new HttpError(403, `cross-origin request refused (Origin: ${origin.slice(0, 100)}): call the admin API from curl or a script, not from a web page`);
    }
  }

  private hostAllowed(host: string): boolean {
    const v6 = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(host);
    if (v6) return isIPv6(v6[1]);
    const m = /^([^:]+)(?::\d{1,5})?$/.exec(host);
    if (!m) return false;
    const name = m[1].toLowerCase().replace(/\.$/, '');
    return isIPv4(name) || this.names.has(name);
  }

  /** Would authorize() let this request through? */
  allows(req: IncomingMessage, access: Access): boolean {
    try {
      this.authorize(req, access);
      return true;
    } catch {
      return false;
    }
  }

  /** Whose token the request carries (null when the route needs none); throws 401 or 403 when it needs one it lacks. */
  authorize(req: IncomingMessage, access: Access): Holder | null {
    if (access === 'probe' || access === 'page' || (access === 'read' && !this.auth.readsNeedToken)) return null;
    if (this.tokens.length === 0) {
      throw new HttpError(403, 'no admin token could be read or generated (see the log at start); set admin.token, admin.tokens or AIFENCE_ADMIN_TOKEN, or make dataDir writable');
    }
    const given = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
    // Digests have one length whatever was sent, and every token is compared, the first match or not:
    // the time taken says nothing about the token's length, its content or whose it is.
    const sent = digest(given ?? '');
    let found: Holder | null = null;
    for (const t of this.tokens) if (timingSafeEqual(sent, t.digest) && given !== undefined) found = t.holder;
    if (found === null) {
      const hint = this.auth.readsNeedToken ? 'admin.token, admin.tokens or AIFENCE_ADMIN_TOKEN' : 'the token file in dataDir (its path is in the log at start)';
      throw new HttpError(401, `missing or wrong bearer token: send "Authorization: Bearer TOKEN" with the token from ${hint}`, { 'www-authenticate': 'Bearer' });
    }
    return found;
  }
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Is `origin` (scheme://host[:port]) the origin a browser gives a page loaded from `host`? */
export function sameAuthority(origin: string, host: string): boolean {
  try {
    const o = new URL(origin);
    if (o.protocol !== 'http:' && o.protocol !== 'https:') return false;
    return o.host === new URL(`${o.protocol}//${host}`).host;
  } catch {
    return false; // "null" (sandboxed frames, file:) and garbage
  }
}

/** The connection closes after a 413: the rest of the body is not read. */
function tooLarge(res: ServerResponse): HttpError {
  res.shouldKeepAlive = false;
  return new HttpError(413, `the request body is larger than ${MAX_BODY} bytes`, { connection: 'close' });
}

/** Reads the body, refusing more than MAX_BODY bytes; the server's requestTimeout bounds the time. */
function readBody(req: IncomingMessage, res: ServerResponse): Promise<string> {
  if (req.readableEnded) return Promise.resolve('');
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const chunks: Buffer[] = [];
    const onEnd = () => resolve(Buffer.concat(chunks).toString('utf8'));
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= MAX_BODY) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData).off('end', onEnd).off('error', reject);
      req.pause();
      reject(tooLarge(res));
    };
    req.on('data', onData).once('end', onEnd).once('error', reject);
  });
}

