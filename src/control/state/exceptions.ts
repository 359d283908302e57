// Exceptions made at run time through the admin API: a request body checked
// like a config rule (group, selector, expiry, reason), then stored in the
// runtime state, which applies it here and on every instance sharing it.

import { ConfigError, duration, object, string } from '../config/check.js';
import { untilTime } from '../config/groups.js';
import type { Policy } from '../policy/policy.js';
import { HttpError } from '../admin/http-error.js';
import { EXCEPTION_ID, MAX_EXCEPTION_SECONDS, oneLine } from './rules.js';
import type { RuntimeException, RuntimeState } from './runtime.js';
import { clientAddress } from '../../net/address.js';

export interface ExceptionView {
  id: string;
  group: string;
  select: string;
  until: string;
  reason: string;
  author: string;
  instance: string;
  created: string;
  /** For this client only. */
  client?: string;
}

export const viewOf = (e: RuntimeException): ExceptionView => ({
  id: e.id,
  group: e.group,
  select: e.select,
  until: new Date(e.until).toISOString(),
  reason: e.reason,
  author: e.author,
  instance: e.instance,
  created: new Date(e.created).toISOString(),
  ...(e.client === undefined ? {} : { client: e.client }),
});

/** The group a client's queries are decided by, or null when it may not query at all. */
export type GroupOf = (client: string) => string | null;

export class RuntimeExceptions {
  constructor(
    private readonly state: RuntimeState,
    private readonly policy: Policy,
    private readonly clock: () => number,
    private readonly unavailable: (err: unknown) => never,
    /** The log line each change leaves (who made it, what). */
    private readonly audit?: (fields: object, message: string) => void,
    private readonly groupOf: GroupOf = () => null,
  ) {}

  list(): ExceptionView[] {
    return this.state.exceptions().map(viewOf);
  }

  /**
   * Checks `body` ({ group, select, until, reason, author?, client? }) and
   * adds the exception. `who` is the author; a body's author is kept beside a
   * named admin's name ("alice for bob"), never instead of it. With `client`
   * it holds for that one address (its group is the one it belongs to).
   */
  async add(body: unknown, who: string, named = false): Promise<ExceptionView & { note?: string }> {
    let request: { group: string; select: string; until: number; reason: string; author: string; client?: string };
    try {
      request = this.check(body, who, named);
    } catch (err) {
      if (err instanceof ConfigError) throw new HttpError(400, err.message.replace(/^config error at /, ''));
      throw new HttpError(400, (err as Error).message);
    }
    // An enforced ban is not the token holder's to lift: refused when the exception could open nothing else.
    const enforced = this.policy.enforcedOverlap(request.select);
    if (enforced.enforced > 0 && enforced.enforced === enforced.selected) {
      throw new HttpError(409, `${request.select} is enforced (enforce: [${enforced.by.join(', ')}] in the config): no group, exception or pause re-opens it; only a change to enforce in the config, reviewed and reloaded, can`);
    }
    try {
      const view = viewOf(await this.state.addException(request));
      this.audit?.({ admin: who, exception: view.id, group: view.group, select: view.select, until: view.until, reason: view.reason, author: view.author, ...(view.client ? { client: view.client } : {}) }, 'runtime exception added');
      return enforced.enforced === 0 ? view : { ...view, note: `names enforced by ${enforced.by.join(', ')} stay blocked whatever this exception selects` };
    } catch (err) {
      if (err instanceof RangeError) throw new HttpError(409, err.message);
      return this.unavailable(err);
    }
  }

  async revoke(id: string, who = 'unknown'): Promise<ExceptionView> {
    if (!EXCEPTION_ID.test(id)) throw new HttpError(404, `no exception '${id.slice(0, 40)}'; GET /exceptions lists them`);
    const e = await this.state.revokeException(id).catch(this.unavailable);
    if (!e) throw new HttpError(404, `no exception '${id}' (revoked or lapsed already?); GET /exceptions lists them`);
    this.audit?.({ admin: who, exception: id, group: e.group, select: e.select }, 'runtime exception revoked');
    return viewOf(e);
  }

  private check(body: unknown, who: string, named: boolean) {
    const b = object('', body, ['group', 'select', 'until', 'reason', 'author', 'client']);
    const client = b.client === undefined ? undefined : this.client(b.client);
    const group = b.group === undefined && client !== undefined ? client.group : string('group', b.group);
    const groups = this.policy.groups.map((g) => g.name);
    if (!groups.includes(group)) throw new ConfigError('group', group, `is not a group; groups: ${groups.join(', ')}`);
    if (client !== undefined && client.group !== group) throw new ConfigError('group', group, `is not the group of client ${client.address} (${client.group}); leave group out, or name ${client.group}`);
    const select = oneLine('select', b.select);
    this.policy.checkSelector(select);
    const now = this.clock();
    if (b.until === undefined) throw new ConfigError('until', undefined, 'is missing; give a duration (e.g. "4h", "3d") or a date (2027-03-31, or an ISO date-time with offset)');
    const until = typeof b.until === 'string' && /^\d+(\.\d+)?\s*[a-z]+$/.test(b.until.trim()) ? now + duration('until', b.until, 60, MAX_EXCEPTION_SECONDS) * 1000 : untilTime('until', b.until);
    if (until <= now) throw new ConfigError('until', b.until, 'is in the past; an exception must end in the future');
    if (until > now + MAX_EXCEPTION_SECONDS * 1000) throw new ConfigError('until', b.until, 'is more than 90 days ahead; write a longer exception in the config, where it is reviewed');
    const reason = oneLine('reason', b.reason);
    const given = b.author === undefined ? undefined : oneLine('author', b.author);
    const author = given === undefined ? who : named ? `${who} for ${given}` : given;
    return { group, select, until, reason, author, ...(client === undefined ? {} : { client: client.address }) };
  }

  private client(value: unknown): { address: string; group: string } {
    const address = typeof value === 'string' ? clientAddress(value.trim()) : null;
    if (address === null) throw new ConfigError('client', value, 'is not an IP address, e.g. 10.0.0.5 or 2001:db8::5');
    const group = this.groupOf(address);
    if (group === null) throw new ConfigError('client', value, 'may not query this resolver (outside access.clients and every group)');
    return { address, group };
  }
}
