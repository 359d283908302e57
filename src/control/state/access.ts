// The access-request desk: a request taken from the block page, and an
// admin's approval or denial of it. An approval is a runtime exception for
// that client and that service (the same machinery, caps, checks and Redis
// sharing as POST /exceptions), recorded on the request with who made it.
// Every request and decision leaves an audit event.

import { ConfigError, duration as readDuration } from '../config/check.js';
import { HttpError } from '../admin/http-error.js';
import type { AuditEvent } from '../observe/audit.js';
import type { ExceptionView, RuntimeExceptions } from './exceptions.js';
import { MAX_EXCEPTION_SECONDS } from './rules.js';
import { type AccessRequest, type AccessRequestStore, RequestRefused, type RequestStatus, durationText } from './requests.js';
import { StateUnavailable } from './runtime.js';
import { type ClientNames, NO_NAMES } from '../identity/who.js';

export interface RequestView {
  id: string;
  client: string;
  /** The client's name when it asked (identity), when one was known. */
  clientName?: string;
  name: string;
  service: string | null;
  select: string;
  group: string;
  reason: string;
  /** As asked: 1h, 8h, 1d, 7d or 30d. */
  duration: string;
  status: RequestStatus;
  created: string;
  instance: string;
  decided?: string;
  by?: string;
  until?: string;
  exception?: string;
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

export function requestView(r: AccessRequest): RequestView {
  const view: RequestView = {
    id: r.id,
    client: r.client,
    name: r.name,
    service: r.service,
    select: r.select,
    group: r.group,
    reason: r.reason,
    duration: durationText(r.duration),
    status: r.status,
    created: iso(r.created)!,
    instance: r.instance,
  };
  if (r.clientName !== undefined) view.clientName = r.clientName;
  if (r.decided !== undefined) Object.assign(view, { decided: iso(r.decided), by: r.by });
  if (r.until !== undefined) Object.assign(view, { until: iso(r.until), exception: r.exception });
  return view;
}

/** Counts for the metrics: requests taken and refused, decisions made. */
export interface AccessCounts {
  created: number;
  approved: number;
  denied: number;
  /** Not taken: the caps were reached, or the shared state did not answer. */
  refused: number;
  /** Not taken: the client sent too many (the page's rate limit). */
  limited: number;
}

const ID = /^[0-9a-f]{12}$/;

export class AccessDesk {
  readonly counts: AccessCounts = { created: 0, approved: 0, denied: 0, refused: 0, limited: 0 };

  constructor(
    readonly store: AccessRequestStore,
    private readonly exceptions: () => RuntimeExceptions,
    private readonly audit: (e: AuditEvent) => void,
    private readonly clock: () => number,
    /** Who the client is (identity): its name is kept with its request, for the admin deciding and the audit trail. */
    private readonly names: ClientNames = NO_NAMES,
  ) {}

  /** Takes a request from the page (fields checked there), with the client's name when one is known; an identical one still waiting is returned instead. */
  async request(fields: Omit<AccessRequest, 'id' | 'status' | 'created' | 'instance' | 'clientName'>): Promise<{ request: AccessRequest; existing: boolean }> {
    await this.store.refresh();
    try {
      const clientName = this.names(fields.client, this.clock());
      const taken = await this.store.create(clientName ? { ...fields, clientName } : fields);
      if (!taken.existing) {
        this.counts.created++;
        this.audit(this.event('access-request', taken.request));
      }
      return taken;
    } catch (err) {
      if (err instanceof RequestRefused || err instanceof StateUnavailable) this.counts.refused++;
      throw err;
    }
  }

  /** The latest request of `client` for what `select` stands for, if any. */
  latest(client: string, select: string): AccessRequest | undefined {
    return this.store.list().find((r) => r.client === client && r.select === select);
  }

  /** Every request kept, newest first, as Redis holds them now. */
  async list(): Promise<RequestView[]> {
    await this.store.refresh(true);
    return this.store.list().map(requestView);
  }

  get pending(): number {
    return this.store.list().filter((r) => r.status === 'pending').length;
  }

  /**
   * Approves a waiting request: an exception for that client and that
   * service, for the duration asked or `durationText` (a duration such as
   * 4h, up to 90 days). 404 for no such request, 409 when it was decided
   * already; the exception's own refusals (enforced names, the cap, Redis
   * unreachable) come through as they are.
   */
  async approve(id: string, who: string, durationGiven?: string): Promise<{ request: RequestView; exception: ExceptionView }> {
    const r = await this.waiting(id);
    let seconds = r.duration;
    if (durationGiven !== undefined) {
      try {
        seconds = Math.round(readDuration('duration', durationGiven, 60, MAX_EXCEPTION_SECONDS));
      } catch (err) {
        throw new HttpError(400, (err as ConfigError).message.replace(/^config error at /, ''));
      }
    }
    const exception = await this.exceptions().add({ client: r.client, group: r.group, select: r.select, until: `${seconds}s`, reason: `access request ${r.id}: ${r.reason}` }, who);
    const done = await this.store.decide(id, { status: 'approved', by: who, until: Date.parse(exception.until), exception: exception.id }).catch(async (err: unknown) => {
      await this.exceptions().revoke(exception.id).catch(() => undefined);
      throw err instanceof StateUnavailable ? new HttpError(503, err.message, { 'retry-after': '5' }) : err;
    });
    if (done === undefined || 'before' in done) {
      // Someone decided it meanwhile (another admin, another instance): theirs stands.
      await this.exceptions().revoke(exception.id).catch(() => undefined);
      throw this.decidedAlready(id, done?.before);
    }
    this.counts.approved++;
    this.audit({ ...this.event('access-approved', done.decided), duration: seconds });
    return { request: requestView(done.decided), exception };
  }

  async deny(id: string, who: string): Promise<{ request: RequestView }> {
    await this.waiting(id);
    let done;
    try {
      done = await this.store.decide(id, { status: 'denied', by: who });
    } catch (err) {
      throw err instanceof StateUnavailable ? new HttpError(503, err.message, { 'retry-after': '5' }) : err;
    }
    if (done === undefined || 'before' in done) throw this.decidedAlready(id, done?.before);
    this.counts.denied++;
    this.audit(this.event('access-denied', done.decided));
    return { request: requestView(done.decided) };
  }

  private async waiting(id: string): Promise<AccessRequest> {
    if (!ID.test(id)) throw new HttpError(404, `no access request '${id.slice(0, 40)}'; GET /requests lists them`);
    await this.store.refresh(true);
    const r = this.store.get(id);
    if (r === undefined) throw new HttpError(404, `no access request '${id}' (older than a week, or never made); GET /requests lists them`);
    if (r.status !== 'pending') throw this.decidedAlready(id, r);
    return r;
  }

  private decidedAlready(id: string, r: AccessRequest | undefined): HttpError {
    if (r === undefined) return new HttpError(404, `no access request '${id}'; GET /requests lists them`);
    return new HttpError(409, `access request ${id} was ${r.status} already, by ${r.by ?? 'someone'} at ${iso(r.decided) ?? 'an unknown time'}`);
  }

  private event(kind: AuditEvent['event'], r: AccessRequest): AuditEvent {
    const e: AuditEvent = { time: this.clock(), event: kind, request: r.id, client: r.client, name: r.name, select: r.select, service: r.service, group: r.group, reason: r.reason, duration: r.duration };
    if (r.clientName !== undefined) e.clientName = r.clientName;
    if (r.by !== undefined) e.by = r.by;
    if (r.until !== undefined) e.until = r.until;
    if (r.exception !== undefined) e.exception = r.exception;
    return e;
  }
}
