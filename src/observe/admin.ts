// The admin HTTP API: health and readiness probes, Prometheus metrics,
// reload, pausing blocking, and the same check as the CLI. Off the hot
// path; plain node:http, one small router.

import { timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AdminConfig } from '../config/admin.js';
import type { CheckResult } from '../commands/check.js';
import type { CatalogueStatus } from '../catalogue/updates.js';

export interface Readiness {
  ready: boolean;
  listsCompiled: boolean;
  upstreamAnswering: boolean;
  paused: { group: string; until: string }[];
  /** The catalogue in use: origin, version, review date, and how its updates go. */
  catalogue?: CatalogueStatus;
}

export type ReloadResult = { ok: true; lists: number; entries: number; ms: number } | { ok: false; error: string };

/** What the API needs from the daemon. */
export interface AdminTarget {
  readiness(): Readiness;
  scrape(): Promise<{ contentType: string; body: string }>;
  reload(): Promise<ReloadResult>;
  /** Pauses blocking for `group` (every group when undefined) for `minutes`; 0 resumes. Throws on an unknown group. */
  pause(group: string | undefined, minutes: number): { group: string; until: string | null }[];
  check(name: string, client: string): Promise<CheckResult>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class AdminServer {
  private constructor(private readonly server: Server) {}

  static async start(config: AdminConfig, target: AdminTarget): Promise<AdminServer | null> {
    if (config.listen === null) return null;
    const server = createServer((req, res) => {
      handle(req, res, config.token, target).catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        send(res, status, { error: (err as Error).message });
      });
    });
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

function send(res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
  res.writeHead(status, { 'content-type': contentType });
  res.end(typeof body === 'string' ? body : JSON.stringify(body) + '\n');
}

function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return true;
  const given = Buffer.from(req.headers.authorization ?? '');
  const wanted = Buffer.from(`Bearer ${token}`);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

async function handle(req: IncomingMessage, res: ServerResponse, token: string | undefined, target: AdminTarget): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
  const route = `${req.method} ${url.pathname}`;
  // Probes stay open so that orchestrators need no secret; everything else needs the token when one is set.
  if (route === 'GET /healthz') return send(res, 200, 'ok\n', 'text/plain');
  if (route === 'GET /readyz') {
    const r = target.readiness();
    return send(res, r.ready ? 200 : 503, r);
  }
  if (!authorized(req, token)) return send(res, 401, { error: 'missing or wrong bearer token' });
  switch (route) {
    case 'GET /metrics': {
      const m = await target.scrape();
      return send(res, 200, m.body, m.contentType);
    }
    case 'POST /reload': {
      const r = await target.reload();
      return send(res, r.ok ? 200 : 422, r);
    }
    case 'POST /pause':
    case 'POST /resume': {
      const minutes = route === 'POST /resume' ? 0 : Number(url.searchParams.get('minutes') ?? '5');
      if (!Number.isFinite(minutes) || minutes < 0 || minutes > 7 * 24 * 60) {
        throw new HttpError(400, `minutes=${url.searchParams.get('minutes')} is not a number of minutes from 0 to 10080`);
      }
      return send(res, 200, { paused: target.pause(url.searchParams.get('group') ?? undefined, minutes) });
    }
    case 'GET /check': {
      const name = url.searchParams.get('name');
      if (!name) throw new HttpError(400, 'name= is required, e.g. /check?name=chat.deepseek.com&client=10.0.0.5');
      return send(res, 200, await target.check(name, url.searchParams.get('client') ?? '127.0.0.1'));
    }
    default:
      return send(res, 404, { error: `no route ${route}; try GET /healthz, /readyz, /metrics, /check?name=; POST /reload, /pause?minutes=N&group=G, /resume` });
  }
}

export { HttpError };
